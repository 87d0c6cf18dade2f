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
  the same timestamps (a packet without one: its frame is dropped, as on the CPU path);
* the packets NVDEC gets are the ones PyNvVideoCodec's demuxer would hand it, plus the
  parameter sets repeated before each key frame: H.264/HEVC rewritten to Annex B by FFmpeg's
  ``*_mp4toannexb`` filters (a pass-through for streams that already are, like MPEG-TS), AV1 as
  stored. tests/pynvvc compares the NVDEC parser calls of both feeds (flags, timestamps,
  payloads) on whole MP4, Matroska and MPEG-TS files, against PyNvVideoCodec 2.2.4.

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
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.bitstream import BitStreamFilterContext

from ..errors import BackendUnavailable, CorruptMedia, NvdecRefused
from ..frames import Planes
from .decode_cpu import DecodedFrame
from .frame_rate import GridSnapper
from .probe import ACCEPTED, open_media, sniff_container, video_rate
from .seek import packets_from, stream_origin

__all__ = ["NVDEC_CODECS", "NvdecVideoSource", "annexb_packets", "open_nvdec", "packet_data"]

#: The timestamp of a packet that has none (FFmpeg's AV_NOPTS_VALUE): its frame is dropped, as
#: the CPU path drops frames without one.
NO_PTS = -(2**63)
_END = object()

#: PyAV codec name -> (PyNvVideoCodec ``cudaVideoCodec`` member, bitstream filter to Annex B or None).
#: ``dump_extra`` repeats the parameter sets before every key frame: ``*_mp4toannexb`` adds them
#: only before IDR pictures, so after a seek to an open-GOP key frame (a non-IDR I picture, as
#: x264's open-gop writes) NVDEC would get no SPS and decode nothing. Repeats are harmless.
NVDEC_CODECS: dict[str, tuple[str, str | None]] = {
    "h264": ("H264", "h264_mp4toannexb,dump_extra=freq=keyframe"),
    "hevc": ("HEVC", "hevc_mp4toannexb,dump_extra=freq=keyframe"),
    "av1": ("AV1", None),
}


def annexb_packets(stream: av.video.stream.VideoStream, packets: Iterable[av.Packet]) -> Iterator[av.Packet]:
    """``packets`` of ``stream`` (demuxed, in file order) as NVDEC's parser takes them (see the
    module docstring), ending with whatever the filter still held. Packets without data are dropped."""
    name = stream.codec_context.codec.canonical_name  # "av1", not the decoder's "libdav1d"
    if name not in NVDEC_CODECS:
        raise NvdecRefused(f"NVDEC is not used for {name} (decodes {', '.join(NVDEC_CODECS)})")
    bsf_name = NVDEC_CODECS[name][1]
    bsf = BitStreamFilterContext(bsf_name, stream) if bsf_name else None
    for packet in packets:
        if bsf is None:
            if packet.size:
                yield packet
            continue
        for out in bsf.filter(packet if packet.size else None):  # the demuxer's last packet is empty: flush
            if out.size:
                yield out


def open_nvdec(nvc: Any, codec: str, *, gpu_id: int) -> Any:
    """PyNvVideoCodec's core decoder for ``codec`` (a key of :data:`NVDEC_CODECS`), decoding into
    device memory in CuPy's (primary) context.

    On the default stream (``cudastream=0``), not reelgpu's: given a stream, PyNvVideoCodec 2.2.4
    queues the copy out of NVDEC's mapped surface on it and unmaps the surface at once, without
    waiting (tests/pynvvc logs this), so the copy, queued behind the kernels of earlier frames,
    could read a surface NVDEC is already reusing. On stream 0 it synchronizes before unmapping,
    as NVIDIA's SDK samples and DALI do. The decode thread is the one that waits; the frames'
    DLPack hand-over then orders reelgpu's stream after the copy (``from_dlpack`` passes our
    stream and the producer makes it wait on its event)."""
    return nvc.CreateDecoder(gpuid=int(gpu_id), codec=getattr(nvc.cudaVideoCodec, NVDEC_CODECS[codec][0]),
                             cudacontext=0, cudastream=0, usedevicememory=True)


def split_nv12(surface: Any, luma_rows: int, display_width: int) -> tuple[Any, Any, int, int]:
    """Luma and interleaved-chroma views of a decoded NV12 (uint8) or P016 (uint16) surface of
    ``luma_rows`` luma rows, cut to the even picture the CPU path decodes (4:2:0 planes).

    PyNvVideoCodec exports the surface as ``int(1.5 h)`` rows by the width rounded up to even:
    for 320x181 (AV1 allows odd sizes) 271 rows, of which 181 are luma, so the chroma starts at
    row 181, not at ``271 * 2 // 3 = 180``; a 319-wide picture comes out 320 wide. Both are cut
    to 318x180 here, as the CPU path does (``MediaInfo.picture_size``)."""
    height = luma_rows - luma_rows % 2
    width = min(int(surface.shape[1]), int(display_width))
    width -= width % 2
    return surface[:height, :width], surface[luma_rows:luma_rows + height // 2, :width], width, height


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
    pd.pts = int(packet.pts) if packet.pts is not None else NO_PTS
    pd.dts = int(packet.dts) if packet.dts is not None else pd.pts
    pd.key = int(packet.is_keyframe)
    return pd, data


class NvdecVideoSource:
    """Decodes one video file on the GPU from ``start_s``, in presentation order (see module doc).

    ``close()`` may come from another thread while a decoding step runs (the pipeline stops a
    decoder thread that way): each step holds a lock, so the decoder and the file are released
    between steps, never under one.
    """

    backend = "nvdec"

    def __init__(self, path: str | Path, *, rotation: int = 0, start_s: float = 0.0, gpu_id: int = 0) -> None:
        self.path = Path(path)
        self.rotation = int(rotation)
        if self.rotation % 90:
            raise ValueError(f"rotation must be a multiple of 90 degrees, got {rotation}")
        self.start_s = float(start_s)
        self.gpu_id = int(gpu_id)
        self._quarter = (self.rotation // 90) % 4
        self._lock = threading.Lock()
        self._closed = False
        self._pending: Any = None  # the event after the kernels reading the last Decode's output
        self._decoder: Any = None
        self._surface_shape: tuple[int, ...] = ()  # the last surface's, and its luma rows
        self._luma_rows = 0
        try:
            if sniff_container(self.path) is None:
                raise CorruptMedia(f"{self.path.name}: not a video file ({ACCEPTED} expected)")
            self._rate = video_rate(self.path)  # the probe's rate: the grid frame times snap to
            self._container = open_media(self.path)
        except (av.error.FFmpegError, OSError, UnicodeDecodeError):
            raise CorruptMedia(f"{self.path.name}: cannot be opened for decoding") from None
        if not self._container.streams.video:
            self._container.close()
            raise CorruptMedia(f"{self.path.name}: has no video stream")
        self._stream = self._container.streams.video[0]
        try:
            self._open(self._stream.codec_context.codec.canonical_name)
        except BaseException:
            self.close()
            raise

    def _open(self, codec: str) -> None:
        self._time_base = self._stream.time_base
        self._origin = stream_origin(self._stream)
        # Rounded (millisecond) or jittered times back on the frame grid.
        self._snap = GridSnapper(self._stream, self._rate)
        if codec not in NVDEC_CODECS:
            raise NvdecRefused(f"{self.path.name}: NVDEC is not used for {codec}; use device='cpu'")
        self._attach_gpu()
        try:
            self._decoder = open_nvdec(self._nvc, codec, gpu_id=self.gpu_id)
        except Exception as exc:  # a session the GPU cannot give (memory, sessions): not the file's fault
            raise BackendUnavailable(f"cannot open an NVDEC {codec} session on GPU {self.gpu_id} "
                                     f"({exc.__class__.__name__}: {exc})") from None

    def _attach_gpu(self) -> None:
        """CuPy, PyNvVideoCodec and the reelgpu stream (tests/pynvvc replaces this, and
        :meth:`_planes`, to run the decoding loop against stub drivers without a GPU)."""
        try:
            import cupy
            import PyNvVideoCodec as nvc  # noqa: N813 - the package's own name

            from ..ops import cuda as gpu
        except Exception as exc:  # PyNvVideoCodec raises RuntimeError without the driver
            raise BackendUnavailable(f"NVDEC decoder unavailable: {exc.__class__.__name__}: {exc}") from None
        self._cp, self._nvc = cupy, nvc
        self._b = gpu.backend(self.gpu_id)
        self._from_nv12 = gpu._ops.planes_from_nv12

    # ------------------------------------------------------------------ decoding
    def _planes(self, frame: Any) -> Planes:
        """Zero-copy view of the decoded surface -> pooled, upright I420 planes (async)."""
        cp = self._cp
        with self._b.using():
            surface = cp.from_dlpack(frame)
            if surface.ndim == 3:  # (rows, width, 1) in some versions
                surface = surface.reshape(surface.shape[0], -1)
            if surface.shape != self._surface_shape:  # once per stream (and per size change)
                self._surface_shape = surface.shape
                self._luma_rows = int(frame.cuda()[0].shape[0])  # the luma plane's own view: exact for odd heights
            y, uv, width, height = split_nv12(surface, self._luma_rows, self._stream.codec_context.width)
            return self._from_nv12(self._b, y, uv, width, height, quarter=self._quarter, pool=self._b.decode_pool)

    def _decode(self, packet: av.Packet | None) -> list[DecodedFrame]:
        pd, keep_alive = packet_data(self._nvc, packet)
        frames = self._decoder.Decode(pd)
        del keep_alive  # NVDEC's parser has consumed the bytes
        return [DecodedFrame(self._snap(float(pts * self._time_base) - self._origin), self._planes(f))
                for f in frames if (pts := int(f.getPTS())) != NO_PTS]  # the CPU path skips those too

    def _step(self, packets: Iterator[av.Packet | None]) -> list[DecodedFrame] | None:
        """Decode the next packet; None once the stream (or the source) has ended."""
        with self._lock:
            if self._closed:
                return None
            packet = next(packets, _END)
            if packet is _END:
                return None
            if self._pending is not None:
                self._pending.synchronize()  # Decode reuses the output those kernels are reading
                self._pending = None
            batch = self._decode(packet)  # type: ignore[arg-type]
            if batch:
                self._pending = self._b.record()
            return batch

    def __iter__(self) -> Iterator[DecodedFrame]:
        try:
            # the CPU source's packets: from the key frame at or before start_s (media/seek.py)
            packets = _with_flush(annexb_packets(self._stream, packets_from(self._container, self._stream,
                                                                             self.start_s)))
            while (batch := self._step(packets)) is not None:
                yield from batch
        except self._nvc.PyNvVCExceptionUnsupported as exc:  # the probe's caps passed, this stream did not
            raise NvdecRefused(f"{self.path.name}: NVDEC cannot decode it ({exc}); use device='cpu'") from None
        except av.error.FFmpegError as exc:  # the demuxer or the Annex B filter: the file
            raise CorruptMedia(f"{self.path.name}: decoding failed ({exc.__class__.__name__}: {exc})") from None
        # Anything else (PyNvVCException, CUDA errors) is the GPU's or the driver's, not the file's:
        # it goes up as it is, and the worker asks for a fresh process (handler.errors).
        finally:
            with contextlib.suppress(Exception):  # every conversion kernel, a batch cut short included
                self._b.record().synchronize()
            self.close()

    def close(self) -> None:
        """Release the decoder and the file (idempotent). Waits for a decoding step in progress
        and for the kernels still reading the decoder's output, which goes with the decoder."""
        with self._lock:
            self._closed = True
            if self._pending is not None:
                with contextlib.suppress(Exception):
                    self._pending.synchronize()
                self._pending = None
            self._decoder = None  # PyNvVideoCodec frees the session when the last reference goes
            with contextlib.suppress(Exception):
                self._container.close()


def _with_flush(packets: Iterator[av.Packet]) -> Iterator[av.Packet | None]:
    """``packets``, then None: the end-of-stream flush that returns the pictures NVDEC still holds."""
    yield from packets
    yield None
