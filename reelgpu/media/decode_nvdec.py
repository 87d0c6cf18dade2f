"""GPU video source: PyAV demuxes, NVDEC (PyNvVideoCodec) decodes -> upright I420 planes on the device.

Same protocol as :class:`reelgpu.media.decode_cpu.PyAVVideoSource`: iterating yields
:class:`~reelgpu.media.decode_cpu.DecodedFrame` (``pts_s`` relative to the stream's first frame,
``planes`` of CuPy arrays), frames in presentation order from the key frame at or before
``start_s``, and ``close()``. Frames before ``start_s`` are yielded too: the caller picks frames
by timestamp, which keeps trims frame-accurate.

Why PyAV demuxes and PyNvVideoCodec only decodes (its core ``CreateDecoder``/``Decode`` API):

* errors stay catchable. PyNvVideoCodec's ``ThreadedDecoder`` decodes on a C++ thread, where a
  decode error, an unsupported profile or a failed seek (MPEG-TS) ends the whole process with
  SIGABRT; ``Decode`` runs on the calling thread and raises;
* the file is opened once, by the same demuxer as the CPU path, with the same format/protocol
  whitelists (PyNvVideoCodec's own libavformat takes no options), the same keyframe seek and
  the same timestamps, so both paths pick the same frames;
* the packets NVDEC gets are the ones PyNvVideoCodec's demuxer would hand it: H.264/HEVC
  rewritten to Annex B by FFmpeg's ``*_mp4toannexb`` filters (a pass-through for streams that
  already are, like MPEG-TS), AV1 as stored. Checked byte for byte, with the same timestamps
  and key flags, against PyNvVideoCodec 2.2.4's demuxer for MP4, Matroska and MPEG-TS.

Per frame: ``Decode`` returns the surfaces of the pictures the packet completed, in
presentation order; each is wrapped zero-copy with ``cupy.from_dlpack`` (whose stream
handshake orders the reelgpu stream after the decoder) and one pair of kernels deinterleaves it
into pooled I420 planes, applying the display rotation (90/180/270, like ``numpy.rot90`` on the
CPU path). The decoder recycles its surfaces on the next ``Decode``, so before that call the
source waits, on its own thread, for the event recorded after those kernels.

Which streams may come here is decided before any decoding (:func:`reelgpu.device.nvdec_refusal`:
codec, 4:2:0 bit depth, NVDEC's size limits, containers without timestamps).

CuPy and PyNvVideoCodec are imported when a source is opened, never at module import: the
module stays importable on machines without a GPU.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.bitstream import BitStreamFilterContext

from ..errors import BackendUnavailable, CorruptMedia, UnsupportedMedia
from ..frames import Planes
from .decode_cpu import DecodedFrame
from .probe import ACCEPTED, open_media, sniff_container

__all__ = ["NVDEC_CODECS", "NvdecVideoSource", "annexb_packets", "open_nvdec", "packet_data"]

#: PyAV codec name -> (PyNvVideoCodec ``cudaVideoCodec`` member, bitstream filter to Annex B or None).
NVDEC_CODECS: dict[str, tuple[str, str | None]] = {
    "h264": ("H264", "h264_mp4toannexb"),
    "hevc": ("HEVC", "hevc_mp4toannexb"),
    "av1": ("AV1", None),
}


def annexb_packets(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> Iterator[av.Packet]:
    """The stream's packets as NVDEC's parser takes them (see the module docstring), in file
    order, ending with whatever the filter still held. Packets without data are dropped."""
    name = stream.codec_context.codec.canonical_name  # "av1", not the decoder's "libdav1d"
    if name not in NVDEC_CODECS:
        raise UnsupportedMedia(f"NVDEC is not used for {name} (decodes {', '.join(NVDEC_CODECS)})")
    bsf_name = NVDEC_CODECS[name][1]
    bsf = BitStreamFilterContext(bsf_name, stream) if bsf_name else None
    for packet in container.demux(stream):
        if bsf is None:
            if packet.size:
                yield packet
            continue
        for out in bsf.filter(packet if packet.size else None):  # the demuxer's last packet is empty: flush
            if out.size:
                yield out


def open_nvdec(nvc: Any, codec: str, *, gpu_id: int, stream_ptr: int) -> Any:
    """PyNvVideoCodec's core decoder for ``codec`` (a key of :data:`NVDEC_CODECS`), decoding into
    device memory on the CUDA stream ``stream_ptr`` of CuPy's (primary) context."""
    return nvc.CreateDecoder(gpuid=int(gpu_id), codec=getattr(nvc.cudaVideoCodec, NVDEC_CODECS[codec][0]),
                             cudacontext=0, cudastream=int(stream_ptr), usedevicememory=True)


def packet_data(nvc: Any, packet: av.Packet | None) -> tuple[Any, np.ndarray | None]:
    """A PyNvVideoCodec ``PacketData`` for ``Decode`` (``None``: the end-of-stream flush), and
    the bytes it points into, which must stay alive until ``Decode`` returns.

    Filled like PyNvVideoCodec's own demuxer fills it (data, size, pts, dts, key; the decoder
    adds the timestamp flag), so NVDEC's parser gets the same calls either way.
    """
    pd = nvc.PacketData()
    if packet is None:
        return pd, None  # bsl = 0: the parser flushes (CUVID_PKT_ENDOFSTREAM)
    data = np.frombuffer(packet, np.uint8)
    pd.bsl, pd.bsl_data = int(data.size), int(data.ctypes.data)
    pd.pts = int(packet.pts) if packet.pts is not None else 0
    pd.dts = int(packet.dts) if packet.dts is not None else pd.pts
    pd.key = int(packet.is_keyframe)
    return pd, data


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
        if sniff_container(self.path) is None:
            raise CorruptMedia(f"{self.path.name}: not a video file ({ACCEPTED} expected)")
        try:
            self._container = open_media(self.path)
            self._stream = self._container.streams.video[0]
        except (av.error.FFmpegError, OSError, IndexError, UnicodeDecodeError):
            raise CorruptMedia(f"{self.path.name}: cannot be opened for decoding") from None
        tb = self._stream.time_base
        self._time_base = tb
        self._origin = float(self._stream.start_time * tb) if self._stream.start_time is not None else 0.0
        codec = self._stream.codec_context.codec.canonical_name
        if codec not in NVDEC_CODECS:
            self._container.close()
            raise UnsupportedMedia(f"{self.path.name}: NVDEC is not used for {codec}; use device='cpu'")
        try:
            import cupy
            import PyNvVideoCodec as nvc  # noqa: N813 - the package's own name

            from ..ops import cuda as gpu
        except Exception as exc:  # PyNvVideoCodec raises RuntimeError without the driver
            self._container.close()
            raise BackendUnavailable(f"NVDEC decoder unavailable: {exc.__class__.__name__}: {exc}") from None
        self._cp = cupy
        self._nvc = nvc
        self._b = gpu.backend(self.gpu_id)
        self._from_nv12 = gpu._ops.planes_from_nv12
        try:
            self._decoder: Any = open_nvdec(nvc, codec, gpu_id=self.gpu_id, stream_ptr=int(self._b.stream.ptr))
        except Exception as exc:
            self._container.close()
            raise UnsupportedMedia(f"{self.path.name}: NVDEC cannot decode it ({exc.__class__.__name__}: {exc})") from None
        if self.start_s > 0.5:  # the CPU path's seek: the keyframe at or before start_s
            target = int((self.start_s + self._origin) / tb)
            self._container.seek(target, stream=self._stream, backward=True, any_frame=False)

    # ------------------------------------------------------------------ decoding
    def _pts_s(self, frame: Any) -> float:
        return float(int(frame.getPTS()) * self._time_base) - self._origin

    def _planes(self, frame: Any) -> Planes:
        """Zero-copy view of the decoded surface -> pooled, upright I420 planes (async)."""
        cp = self._cp
        with self._b.using():
            # NV12: (1.5 h, w) uint8; P016: (1.5 h, w) uint16, luma rows then interleaved chroma
            surface = cp.from_dlpack(frame)
            if surface.ndim == 3:  # (rows, width, 1) in some versions
                surface = surface.reshape(surface.shape[0], -1)
            rows, width = int(surface.shape[0]), int(surface.shape[1])
            height = rows * 2 // 3
            y, uv = surface[:height], surface[height:height + height // 2]
            return self._from_nv12(self._b, y, uv, width, height, quarter=self._quarter, pool=self._b.decode_pool)

    def _decode(self, packet: av.Packet | None) -> list[DecodedFrame]:
        pd, keep_alive = packet_data(self._nvc, packet)
        frames = self._decoder.Decode(pd)
        del keep_alive  # NVDEC's parser has consumed the bytes
        return [DecodedFrame(self._pts_s(f), self._planes(f)) for f in frames]

    def __iter__(self) -> Iterator[DecodedFrame]:
        ready = None  # the event after the kernels that read the last batch's surfaces
        try:
            for packet in _with_flush(annexb_packets(self._container, self._stream)):
                if ready is not None:
                    ready.synchronize()  # Decode recycles the surfaces those kernels read
                batch = self._decode(packet)
                ready = self._b.record() if batch else None
                yield from batch
        except self._nvc.PyNvVCExceptionUnsupported as exc:  # checked first: caps passed, the stream did not
            raise UnsupportedMedia(f"{self.path.name}: NVDEC cannot decode it ({exc}); use device='cpu'") from None
        except (av.error.FFmpegError, RuntimeError, self._nvc.PyNvVCException) as exc:
            if type(exc).__module__.startswith(("cupy", "cupy_backends")):
                raise  # a CUDA failure is the GPU's, not the file's (the handler retires the worker)
            raise CorruptMedia(f"{self.path.name}: decoding failed ({exc.__class__.__name__}: {exc})") from None
        finally:
            if ready is not None:
                with contextlib.suppress(Exception):
                    ready.synchronize()
            self.close()

    def close(self) -> None:
        """Release the decoder and the file (idempotent)."""
        self._decoder = None  # PyNvVideoCodec frees the session when the last reference goes
        with contextlib.suppress(Exception):
            self._container.close()


def _with_flush(packets: Iterator[av.Packet]) -> Iterator[av.Packet | None]:
    """``packets``, then None: the end-of-stream flush that returns the pictures NVDEC still holds."""
    yield from packets
    yield None
