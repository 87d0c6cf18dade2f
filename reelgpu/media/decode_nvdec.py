"""GPU video source: NVDEC (PyNvVideoCodec) -> upright I420 planes on the device, with PTS.

Same protocol as :class:`reelgpu.media.decode_cpu.PyAVVideoSource`: iterating yields
:class:`~reelgpu.media.decode_cpu.DecodedFrame` (``pts_s`` relative to the stream's first frame,
``planes`` of CuPy arrays), frames in presentation order from the key frame at or before
``start_s``, and ``close()``. Frames before ``start_s`` are yielded too: the caller picks frames
by timestamp, which keeps trims frame-accurate whatever the decoder's seek precision.

Decoder choice: PyNvVideoCodec's ``ThreadedDecoder``, the API its documentation gives for
sequential decoding with prefetch (a background thread keeps a buffer of decoded frames, GIL
released). Its ``start_frame`` seek is by frame index (time -> index is CFR arithmetic in
PyNvVideoCodec), so the source starts a second early and steps further back if the first frame
still comes after ``start_s`` (a VFR source); the PTS it reports are the container's, converted
with the time base and origin PyAV reads from the same file.

Per frame: the decoded NV12 (8-bit) or P016 (10-bit) surface is wrapped zero-copy with
``cupy.from_dlpack`` (whose stream handshake makes the reelgpu stream wait for the decoder),
and one pair of kernels deinterleaves it into pooled I420 planes and applies the display
rotation (90/180/270, like ``numpy.rot90`` on the CPU path). PyNvVideoCodec reuses a batch's
surfaces once the next batch is requested, so the source waits (on its own thread) for those
kernels before asking for more.

CuPy and PyNvVideoCodec are imported when a source is opened, never at module import: the
module stays importable on machines without a GPU.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av

from ..errors import BackendUnavailable, CorruptMedia, UnsupportedMedia
from ..frames import Planes
from .decode_cpu import DecodedFrame
from .probe import ACCEPTED, open_media, sniff_container

__all__ = ["NvdecVideoSource"]

# Frames fetched per ThreadedDecoder call, and how many it decodes ahead.
_BATCH = 4
_BUFFER = 12
# Start this many seconds before start_s (index seek is CFR arithmetic), more on retries.
_LEAD_S = 1.0
_PTS_EPS = 1e-4


class NvdecVideoSource:
    """Decodes one video file on the GPU from ``start_s``, in presentation order (see module doc)."""

    backend = "nvdec"

    def __init__(self, path: str | Path, *, rotation: int = 0, start_s: float = 0.0, gpu_id: int = 0) -> None:
        self.path = Path(path)
        self.rotation = int(rotation)
        if self.rotation % 90:
            raise ValueError(f"rotation must be a multiple of 90 degrees, got {rotation}")
        self.start_s = float(start_s)
        self.gpu_id = int(gpu_id)
        self._quarter = (self.rotation // 90) % 4
        # PyNvVideoCodec's demuxer (its own libavformat, opened in ThreadedDecoder) takes no
        # AVOptions, so FFmpeg's format/protocol whitelists cannot be passed to it. The exports only
        # open a source after probe() accepted it; the same two gates are applied here again, on
        # the same path, right before the decoder opens it: the content must start like an
        # accepted container (so a playlist cannot reach the HLS/concat demuxers), and PyAV must
        # open it through the whitelists.
        try:
            if sniff_container(self.path) is None:
                raise CorruptMedia(f"{self.path.name}: not a video file ({ACCEPTED} expected)")
            with open_media(self.path) as c:
                s = c.streams.video[0]
                self._time_base = s.time_base
                self._origin = float(s.start_time * s.time_base) if s.start_time is not None else 0.0
                rate = s.average_rate or s.guessed_rate
                self._fps = float(rate) if rate else 30.0
        except (av.error.FFmpegError, OSError, IndexError, UnicodeDecodeError):
            raise CorruptMedia(f"{self.path.name}: cannot be opened for decoding") from None
        try:
            import cupy
            import PyNvVideoCodec as nvc  # noqa: N813 - the package's own name

            from ..ops import cuda as gpu
        except Exception as exc:  # PyNvVideoCodec raises RuntimeError without the driver
            raise BackendUnavailable(f"NVDEC decoder unavailable: {exc.__class__.__name__}: {exc}") from None
        self._cp = cupy
        self._nvc = nvc
        self._b = gpu.backend(self.gpu_id)
        self._from_nv12 = gpu._ops.planes_from_nv12
        self._decoder: Any = None
        self._start_frame = 0
        if self.start_s > 0.5:
            self._start_frame = max(0, int(math.floor((self.start_s - _LEAD_S) * self._fps)))

    # ------------------------------------------------------------------ decoder
    def _open(self, start_frame: int) -> Any:
        try:
            return self._nvc.ThreadedDecoder(
                str(self.path), _BUFFER, gpu_id=self.gpu_id, cuda_context=0,
                cuda_stream=int(self._b.stream.ptr), use_device_memory=True, start_frame=int(start_frame))
        except Exception as exc:
            raise CorruptMedia(f"{self.path.name}: NVDEC cannot decode it ({exc.__class__.__name__}: {exc})") from None

    def _pts_s(self, frame: Any) -> float:
        get = getattr(frame, "getPTS", None)
        pts = get() if callable(get) else frame.timestamp
        return float(int(pts) * self._time_base) - self._origin

    def _planes(self, frame: Any) -> Planes:
        """Zero-copy view of the decoded surface -> pooled, upright I420 planes (async)."""
        cp = self._cp
        kind = str(getattr(frame, "format", "")).upper()
        if any(tag in kind for tag in ("444", "NV16", "P216", "422")):
            raise UnsupportedMedia(f"{self.path.name}: NVDEC output {kind} is not 4:2:0; use device='cpu'")
        with self._b.using():
            try:
                surface = cp.from_dlpack(frame)
                if surface.ndim == 3:  # (rows, width, 1)
                    surface = surface.reshape(surface.shape[0], -1)
                rows, width = int(surface.shape[0]), int(surface.shape[1])
                height = rows * 2 // 3
                y, uv = surface[:height], surface[height:height + height // 2]
            except Exception:  # no DLPack for this format: the CUDA array interface planes
                luma, chroma = (cp.asarray(p) for p in frame.cuda()[:2])
                y = luma.reshape(luma.shape[0], -1)
                uv = chroma.reshape(chroma.shape[0], -1)
                height, width = int(y.shape[0]), int(y.shape[1])
            if y.dtype == cp.uint8 and "16" in kind:
                # a 16-bit surface exported as bytes: view it as 16-bit samples
                y, uv = y.view(cp.uint16), uv.view(cp.uint16)
                width //= 2
            return self._from_nv12(self._b, y, uv, width, height, quarter=self._quarter, pool=self._b.decode_pool)

    def __iter__(self) -> Iterator[DecodedFrame]:
        start_frame = self._start_frame
        while True:
            self._decoder = self._open(start_frame)
            first = True
            try:
                while True:
                    batch = self._decoder.get_batch_frames(_BATCH)
                    if not batch:
                        return
                    converted = []
                    for frame in batch:
                        pts = self._pts_s(frame)
                        if first and start_frame > 0 and pts > self.start_s + _PTS_EPS:
                            break  # the index seek landed after start_s (VFR): step back further
                        first = False
                        converted.append(DecodedFrame(pts, self._planes(frame)))
                    else:
                        # The next get_batch_frames recycles these surfaces: our kernels must be done.
                        self._b.record().synchronize()
                        yield from converted
                        continue
                    break
            except (RuntimeError, ValueError) as exc:
                raise CorruptMedia(f"{self.path.name}: decoding failed ({exc.__class__.__name__}: {exc})") from None
            finally:
                self.close()
            start_frame = max(0, start_frame - int(math.ceil(2 * _LEAD_S * self._fps)))

    def close(self) -> None:
        """Stop the decoder's thread and release its surfaces (idempotent)."""
        decoder, self._decoder = self._decoder, None
        if decoder is not None:
            # Already ended, or the context is gone: nothing is left to free either way.
            with contextlib.suppress(Exception):
                decoder.end()
