"""MP4 output: libx264/libx265 encode of I420 planes, audio interleaved, ``+faststart``, BT.709
tags, written under a temporary name and published with an atomic rename only when complete."""

from __future__ import annotations

import contextlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..frames import Planes
from ..specs import EncodeSettings
from .atomic import discard, partial_path, publish
from .audio_feed import AudioFeed

__all__ = ["Mp4Writer", "write_labels"]

# AVCOL_* values (libavutil/pixfmt.h): BT.709 primaries/transfer/matrix, limited ("tv") range.
BT709 = 1
RANGE_TV = 1
# The same, as FFmpeg's h264_metadata/hevc_metadata filters write them into a stream's VUI
# (the NVENC writer's output; a stream copy's parameter sets).
H26X_BT709 = "colour_primaries=1:transfer_characteristics=1:matrix_coefficients=1"
H26X_LIMITED = "video_full_range_flag=0"


def write_labels(out: av.container.OutputContainer, metadata: dict[str, str] | None,
                 chapters: list[dict] | None) -> None:
    """The file's metadata and chapters, as both MP4 writers set them. FFmpeg keeps them as C
    strings, so a NUL in a clip's name ended its chapter title there ("Great\0Goal" became
    "Great"); it becomes a space, as the banner draws it."""
    for key, value in (metadata or {}).items():
        out.metadata[key] = value.replace("\0", " ")
    if chapters:
        out.set_chapters([{**c, "metadata": {k: v.replace("\0", " ") for k, v in c.get("metadata", {}).items()}}
                          for c in chapters])


class Mp4Writer:
    """Encodes frames 0, 1, 2... at a constant ``fps`` (pts = index) and muxes audio alongside."""

    backend = "libx264"

    def __init__(self, dst: str | Path, *, width: int, height: int, fps: Fraction, encode: EncodeSettings,
                 audio: AudioFeed | None = None, metadata: dict[str, str] | None = None,
                 chapters: list[dict] | None = None) -> None:
        self.dst = Path(dst)
        self.tmp = partial_path(self.dst)
        self.fps = fps
        self.frames = 0
        self._audio = audio
        codec = "libx264" if encode.codec == "h264" else "libx265"
        self.backend = codec
        self._out = av.open(str(self.tmp), "w", format="mp4", options={"movflags": "+faststart"})
        try:
            stream = self._out.add_stream(codec, rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.time_base = Fraction(1, 1) / fps
            preset = encode.preset if encode.preset and not encode.preset.startswith("p") else "fast"
            stream.options = {"crf": str(encode.crf), "preset": preset}
            if codec == "libx265":
                stream.codec_tag = "hvc1"  # plays in Safari/QuickTime
                stream.options["x265-params"] = "log-level=error"
            cc = stream.codec_context
            # Frame threads, as the ffmpeg CLI runs libx264 (PyAV's default is sliced threads),
            # so x264 gets exactly the CLI's settings: ~9 % less wall time for the same frames on
            # 2 cores (1.12x -> 1.02x the CLI), for ~70 MB more peak RSS at 1080x1920 (x264 keeps
            # pictures in flight per thread). Thread count stays x264's auto (1.5 x cores).
            # docs/benchmarks.md, "Fixes, measured".
            cc.thread_type = "FRAME"
            cc.color_primaries = cc.color_trc = cc.colorspace = BT709
            cc.color_range = RANGE_TV
            self._stream = stream
            write_labels(self._out, metadata, chapters)
            if audio is not None:
                audio.attach(self._out)
            self._frame = av.VideoFrame(width, height, "yuv420p")
        except Exception:
            self.abort()
            raise

    def write(self, planes: Planes) -> None:
        # libx264 copies the picture on send, so one reusable AVFrame is enough... unless the
        # encoder still references it; make_writable() reallocates only in that case.
        self._frame.make_writable()
        for dst_plane, plane in zip(self._frame.planes, planes):
            view = np.frombuffer(dst_plane, np.uint8).reshape(-1, dst_plane.line_size)
            view[: plane.shape[0], : plane.shape[1]] = plane
        self._frame.pts = self.frames
        for packet in self._stream.encode(self._frame):
            self._out.mux(packet)
        self.frames += 1
        if self._audio is not None:
            self._audio.mux_until(self._out, self.frames / float(self.fps))

    def close(self) -> Path:
        """Flush everything and publish under ``dst`` (atomic rename)."""
        try:
            for packet in self._stream.encode(None):
                self._out.mux(packet)
            if self._audio is not None:
                self._audio.finish(self._out)
            self._out.close()
            return publish(self.tmp, self.dst)
        except Exception:
            self.abort()
            raise

    def abort(self) -> None:
        """Drop the partial file; nothing is ever left under the output name."""
        with contextlib.suppress(Exception):
            self._out.close()
        discard(self.tmp)
