"""CPU video source: PyAV (libavcodec, threaded) -> upright I420 planes with presentation times.

No RGB round trip: planes are numpy views of the decoded frame's buffers (one copy only when
the rotation metadata needs the picture turned, or the source is not 8-bit 4:2:0).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from ..errors import CorruptMedia
from ..frames import Planes
from .avi_times import AviClock, avi_timing
from .frame_rate import GridSnapper
from .probe import open_media, video_rate
from .seek import packets_from, stream_origin


@dataclass
class DecodedFrame:
    pts_s: float  # presentation time in seconds, relative to the stream's first frame
    planes: Planes


def _plane_view(plane: av.video.plane.VideoPlane, width: int, height: int) -> np.ndarray:
    buf = np.frombuffer(plane, dtype=np.uint8)
    return buf.reshape(-1, plane.line_size)[:height, :width]


def frame_to_planes(frame: av.VideoFrame, rotation: int = 0) -> Planes:
    """Upright I420 planes of a decoded frame.

    ``rotation`` is the display-matrix angle (counter-clockwise); np.rot90 turns the picture
    the same way players do, so coordinates in specs refer to what the editor showed.
    """
    if frame.format.name not in ("yuv420p", "yuvj420p"):
        # 10-bit, 4:2:2, 4:4:4 ...: one swscale conversion to 8-bit 4:2:0.
        frame = frame.reformat(format="yuv420p")
    w, h = frame.width, frame.height
    cw, ch = (w + 1) // 2, (h + 1) // 2
    y = _plane_view(frame.planes[0], w, h)
    u = _plane_view(frame.planes[1], cw, ch)
    v = _plane_view(frame.planes[2], cw, ch)
    if w % 2 or h % 2:
        # Odd sizes: drop the last luma row/column so the 4:2:0 geometry stays exact.
        y = y[: h - h % 2, : w - w % 2]
        u, v = u[: (h - h % 2) // 2, : (w - w % 2) // 2], v[: (h - h % 2) // 2, : (w - w % 2) // 2]
    if rotation:
        k = rotation // 90
        y, u, v = (np.ascontiguousarray(np.rot90(p, k)) for p in (y, u, v))
    return Planes(y, u, v)


def decoder_threads(cores: int | None = None) -> int:
    """libavcodec threads for one decoding stream: a quarter of the usable cores, at least one.

    Decoding is ~4 % of an export's CPU time (3.7 ms of ~95 ms per 1080p frame on 2 cores; the
    x264 encode is most of the rest), so the encoder should get the cores. Each frame thread
    also holds its own decoded pictures: on 2 cores, one thread instead of FFmpeg's auto (3)
    saved 8-12 MB of peak RSS and 0.1-0.4 CPU s per 300 frames, and was not slower
    (docs/benchmarks.md, "Fixes").
    """
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // 4)


class PyAVVideoSource:
    """Decodes one video file from ``start_s`` (from the key frame at or before it:
    :func:`~reelgpu.media.seek.packets_from`), in presentation order. Frames before ``start_s`` are still yielded: the caller picks frames
    by timestamp, which is what makes trims frame-accurate. ``threads`` = 0: :func:`decoder_threads`."""

    backend = "cpu"

    def __init__(self, path: str | Path, *, rotation: int = 0, start_s: float = 0.0, threads: int = 0) -> None:
        self.path = Path(path)
        self.rotation = rotation
        self.start_s = start_s
        try:
            rate = video_rate(self.path)  # the probe's rate: the grid frame times snap to
            self._container = open_media(self.path)
        except (av.error.FFmpegError, OSError, UnicodeDecodeError):
            raise CorruptMedia(f"{self.path.name}: cannot be opened for decoding") from None
        self._stream = self._container.streams.video[0]
        self._frame_indexed = self._container.format.name == "avi"
        # AVI on one thread: its pictures are timed from the chunks queued (media/avi_times.py).
        count = 1 if self._frame_indexed else threads or decoder_threads()
        self._stream.thread_count = count
        if count > 1:
            self._stream.thread_type = "AUTO"  # frame threads where the codec has them
        self._origin = stream_origin(self._stream)
        # Rounded (millisecond) or jittered times back on the frame grid.
        self._snap = GridSnapper(self._stream, rate)
        # AVI stores no presentation times, and FFmpeg's guesses shuffle B-frame pictures and
        # put H.264 a frame late: media/avi_times.py times them instead.
        self._avi = avi_timing(self.path) if self._frame_indexed else None

    def __iter__(self) -> Iterator[DecodedFrame]:
        tb = self._stream.time_base
        try:
            for frame, pts in self._frame_times():
                if frame.is_corrupt:
                    # The decoder concealed damaged data (flipped or missing bytes): rendering
                    # on would publish smeared frames as if nothing happened.
                    raise CorruptMedia(f"{self.path.name}: the video is damaged at "
                                       f"{float(pts * tb) - self._origin:.3f} s (undecodable data)")
                yield DecodedFrame(self._snap(float(pts * tb) - self._origin), frame_to_planes(frame, self.rotation))
        except av.error.FFmpegError as exc:
            raise CorruptMedia(f"{self.path.name}: decoding failed ({exc.__class__.__name__})") from None

    def _frame_times(self) -> Iterator[tuple[av.VideoFrame, int]]:
        """Decoded pictures with their presentation time in stream ticks; pictures without one
        are dropped. AVI has none: :class:`~reelgpu.media.avi_times.AviClock` gives them."""
        clock = AviClock(self._avi) if self._avi is not None else None
        # The demuxer's last packet is empty: decoding it flushes the frames the threads hold.
        lead, start_s = 0, self.start_s
        if self._avi is not None:
            # A key frame's guessed time is its display time only up to the reorder delay when
            # frames were skipped near it: look for one that many frames earlier.
            lead = self._avi.pts_lead
            start_s = max(0.0, start_s - (self._avi.delay + 1) * float(self._stream.time_base))
        for packet in packets_from(self._container, self._stream, start_s, lead):
            if clock is not None:
                clock.fed(packet)
            for frame in packet.decode():
                pts = frame.pts if clock is None else clock.time_of(frame)
                if pts is not None:
                    yield frame, pts

    def close(self) -> None:
        self._container.close()
