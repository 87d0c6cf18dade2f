"""MP4 output through NVENC: device I420 planes -> NV12 -> PyNvVideoCodec encoder -> PyAV mux.

Same interface as :class:`reelgpu.media.writer.Mp4Writer` (``write(planes)``, ``close()``,
``abort()``, ``frames``, ``backend``), so the pipeline treats both alike; ``planes`` here are
CuPy arrays that never leave the GPU.

How a frame travels:

1. ``rg_i420_to_nv12`` interleaves the planes into one NV12 buffer with pitch == width (what
   PyNvVideoCodec's device-input path assumes: luma immediately followed by chroma), on the
   reelgpu stream.
2. PyNvVideoCodec's ``Encode`` decides device vs host input by ``hasattr(frame, "cuda")`` and
   then reads ``frame.cuda()``: a list of ``__cuda_array_interface__`` planes. CuPy arrays have
   no ``.cuda()``, so :class:`_Nv12Input` provides one, laid out exactly like PyNvVideoCodec's own
   ``AppFrame`` sample (Y as (h, w, 1), UV as (h/2, w/2, 2), both with row stride w).
3. The encoder returns packets (Annex-B bytes + our input timestamp); :class:`AnnexBMuxer`
   muxes them with PyAV's ``add_mux_stream`` (PyNvVideoCodec's own muxer cannot interleave our
   audio feed), PTS = DTS = frame index (B-frames are off, see below), key frames from the
   NAL unit types, BT.709 limited-range VUI written by the ``h264_metadata``/``hevc_metadata``
   bitstream filter whatever the encoder's defaults, ``+faststart``.

Rate control is NVENC's constant-quality VBR (``rc=vbr``, ``cq`` = EncodeSettings.cq, no
bitrate target), preset p1..p7 (default p4), 2-second GOPs with every I frame an IDR, and no
B-frames: PyNvVideoCodec hands back packets in decode order with only the input timestamp, so
without B-frames decode order is presentation order and DTS needs no reconstruction.

Nothing here imports CuPy or PyNvVideoCodec at module import time; the encoder part needs an
NVENC GPU (L4, L40S, RTX 4090, A5000...; not A100/H100/H200) and can only be tested there
(tests/gpu). The muxing half runs anywhere and is tested with libx264/libx265 packets.
"""

from __future__ import annotations

import contextlib
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from av.bitstream import BitStreamFilterContext

from ..errors import BackendUnavailable
from ..frames import Planes
from ..specs import EncodeSettings
from .atomic import discard, partial_path, publish
from .audio_feed import AudioFeed
from .writer import H26X_BT709, H26X_LIMITED, write_labels

__all__ = ["AnnexBMuxer", "NvencWriter", "is_keyframe", "nal_types", "nvenc_options", "open_nvenc"]

# VUI rewrite: BT.709 primaries/transfer/matrix, limited range (what Mp4Writer tags).
_BT709_VUI = f"{H26X_BT709}:{H26X_LIMITED}"
_H264_IDR = 5
_HEVC_IRAP = range(16, 22)  # BLA_W_LP .. CRA_NUT
# NV12 buffers the writer cycles through. Everything that reads or writes them (the interleave
# kernel, PyNvVideoCodec's input copy) is ordered on the reelgpu stream, so one would do; three
# keep consecutive frames off one buffer should a later PyNvVideoCodec copy on another stream.
_NV12_RING = 3


def nal_types(data: bytes, codec: str) -> list[int]:
    """NAL unit types of an Annex-B access unit (start codes 00 00 01 / 00 00 00 01)."""
    types = []
    i, n = 0, len(data)
    while True:
        i = data.find(b"\x00\x00\x01", i)
        if i < 0 or i + 3 >= n:
            return types
        header = data[i + 3]
        types.append(header & 0x1F if codec == "h264" else (header >> 1) & 0x3F)
        i += 3


def is_keyframe(data: bytes, codec: str) -> bool:
    """Whether an Annex-B access unit is a random-access point (H.264 IDR, HEVC IRAP)."""
    kinds = nal_types(data, codec)
    if codec == "h264":
        return _H264_IDR in kinds
    return any(k in _HEVC_IRAP for k in kinds)


class AnnexBMuxer:
    """Muxes Annex-B access units (in-band parameter sets, no B-frames) into an open container.

    ``mux(data, index)`` stamps PTS = DTS = ``index`` frames at ``fps``. The MP4 muxer builds
    avcC/hvcC from the in-band parameter sets of the first key frame.
    """

    def __init__(self, out: av.container.OutputContainer, *, codec: str, width: int, height: int,
                 fps: Fraction) -> None:
        if codec not in ("h264", "hevc"):
            raise ValueError(f"codec must be 'h264' or 'hevc', got {codec!r}")
        self._out = out
        self._codec = codec
        self._time_base = Fraction(1, 1) / Fraction(fps)
        self.stream = out.add_mux_stream(codec, rate=Fraction(fps), width=int(width), height=int(height))
        self.stream.time_base = self._time_base
        self._bsf = BitStreamFilterContext(f"{codec}_metadata={_BT709_VUI}", self.stream)
        self.packets = 0

    def mux(self, data: bytes, index: int) -> None:
        if not data:
            return
        packet = av.Packet(data)
        packet.pts = packet.dts = int(index)
        packet.time_base = self._time_base
        packet.is_keyframe = is_keyframe(data, self._codec)
        self._emit(self._bsf.filter(packet))

    def flush(self) -> None:
        self._emit(self._bsf.filter(None))

    def _emit(self, packets: list[av.Packet]) -> None:
        for p in packets:
            p.stream = self.stream
            self._out.mux(p)
            self.packets += 1


class _CudaArrayInterface:
    """A bare ``__cuda_array_interface__`` (v3) over device memory that someone else owns."""

    def __init__(self, ptr: int, shape: tuple[int, ...], strides: tuple[int, ...]) -> None:
        self.__cuda_array_interface__ = {"shape": shape, "strides": strides, "data": (int(ptr), False),
                                         "typestr": "|u1", "version": 3}


class _Nv12Input:
    """Device-input adapter for ``PyNvEncoder.Encode``: ``.cuda()`` -> [Y, UV] planes of one
    contiguous NV12 buffer (keeps the CuPy buffer alive while the encoder may read it)."""

    def __init__(self, buf: Any, width: int, height: int) -> None:
        self._buf = buf
        ptr = int(buf.data.ptr)
        self._planes = [
            _CudaArrayInterface(ptr, (height, width, 1), (width, 1, 1)),
            _CudaArrayInterface(ptr + width * height, (height // 2, width // 2, 2), (width, 2, 1)),
        ]

    def cuda(self) -> list[_CudaArrayInterface]:
        return self._planes


def nvenc_options(encode: EncodeSettings, *, fps: Fraction, gpu_id: int, stream_ptr: int) -> dict[str, Any]:
    """The PyNvVideoCodec ``CreateEncoder`` options for ``encode`` (see the module docstring)."""
    preset = encode.preset if encode.preset and encode.preset.startswith("p") else "p4"
    gop = max(1, round(2 * float(fps)))
    rate = Fraction(fps).limit_denominator(1001 * 1000)
    return {
        "codec": encode.codec,
        "preset": preset.upper(),
        "tuning_info": "high_quality",
        "rc": "vbr",
        "cq": str(encode.cq),
        "bitrate": "0",
        # PyNvVideoCodec parses at most 2 decimals: "29.97", not a rounded "30" (rate control)
        "fps": str(rate.numerator) if rate.denominator == 1 else f"{float(rate):.2f}",
        "gop": str(gop),
        "idrperiod": str(gop),
        "bf": "0",
        "repeatspspps": "1",
        # No "colorspace": PyNvVideoCodec 2.2.4 then writes BT.709 with the *full*-range flag;
        # AnnexBMuxer's h264_metadata/hevc_metadata filter sets the tags (limited range) instead.
        "gpu_id": str(gpu_id),
        "cudastream": stream_ptr,
    }


def open_nvenc(nvc: Any, width: int, height: int, options: dict[str, Any]) -> Any:
    """A PyNvVideoCodec encoder of NV12 frames in device memory (``usecpuinputbuffer`` False)."""
    return nvc.CreateEncoder(int(width), int(height), "NV12", False, **options)


class NvencWriter:
    """Encodes device frames 0, 1, 2... at a constant ``fps`` with NVENC and muxes audio alongside.

    Written under a temporary name and published with an atomic rename by :meth:`close`;
    :meth:`abort` removes the partial file. Raises :class:`BackendUnavailable` when CuPy,
    PyNvVideoCodec or an NVENC session cannot be had.
    """

    backend = "h264_nvenc"

    def __init__(self, dst: str | Path, *, width: int, height: int, fps: Fraction, encode: EncodeSettings,
                 audio: AudioFeed | None = None, metadata: dict[str, str] | None = None,
                 chapters: list[dict] | None = None, gpu_id: int = 0) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"NVENC needs an even frame size, got {width}x{height}")
        self.dst = Path(dst)
        self.tmp = partial_path(self.dst)
        self.fps = Fraction(fps)
        self.width, self.height = int(width), int(height)
        self.frames = 0
        self.backend = f"{encode.codec}_nvenc"
        self._codec = encode.codec
        self._audio = audio
        self._out: av.container.OutputContainer | None = None
        self._encoder: Any = None
        try:
            import PyNvVideoCodec as nvc  # noqa: N813 - the package's own name

            from ..ops import cuda as gpu
        except Exception as exc:  # PyNvVideoCodec raises RuntimeError without the driver
            raise BackendUnavailable(f"NVENC encoder unavailable: {exc.__class__.__name__}: {exc}") from None
        self._nvc = nvc
        self._b = gpu.backend(gpu_id)
        self._planes_to_nv12 = gpu._ops.planes_to_nv12
        try:
            opts = nvenc_options(encode, fps=self.fps, gpu_id=gpu_id, stream_ptr=int(self._b.stream.ptr))
            self._encoder = open_nvenc(nvc, self.width, self.height, opts)
        except Exception as exc:
            raise BackendUnavailable(
                f"cannot open an NVENC {encode.codec} session on GPU {gpu_id} "
                f"({exc.__class__.__name__}: {exc}); A100/H100/H200 have no NVENC") from None
        try:
            self._ring = [self._b.pool.take((self.height * 3 // 2, self.width)) for _ in range(_NV12_RING)]
            # The pool must not hand these out again: keep them referenced for the writer's life.
            self._out = av.open(str(self.tmp), "w", format="mp4", options={"movflags": "+faststart"})
            self._mux = AnnexBMuxer(self._out, codec=self._codec, width=self.width, height=self.height,
                                    fps=self.fps)
            write_labels(self._out, metadata, chapters)
            if audio is not None:
                audio.attach(self._out)
        except Exception:
            self.abort()
            raise

    def write(self, planes: Planes) -> None:
        """Encode one frame of device planes (CuPy arrays of this writer's size)."""
        if (planes.width, planes.height) != (self.width, self.height):
            raise ValueError(f"frame is {planes.width}x{planes.height}, the writer encodes {self.width}x{self.height}")
        buf = self._ring[self.frames % len(self._ring)]
        self._planes_to_nv12(self._b, planes, buf)
        # No host wait: PyNvVideoCodec 2.2.4 copies the input with cuMemcpy2DAsync on the stream
        # given to CreateEncoder (the reelgpu stream; seen against the real binary with stub
        # driver libraries), so the copy runs after the interleave, and the ring slot is only
        # rewritten, three frames later, by a kernel on that same stream.
        pic = self._nvc.NV_ENC_PIC_PARAMS()
        pic.inputTimeStamp = self.frames
        self._mux_packets(self._encoder.Encode(_Nv12Input(buf, self.width, self.height), pic))
        self.frames += 1
        if self._audio is not None and self._out is not None:
            self._audio.mux_until(self._out, self.frames / float(self.fps))

    def _mux_packets(self, packets: Any) -> None:
        for packet in packets or ():
            data = packet["data"] if isinstance(packet, dict) else packet.data
            stamp = packet["timestamp"] if isinstance(packet, dict) else packet.timestamp
            self._mux.mux(bytes(data), int(stamp))

    def close(self) -> Path:
        """Flush the encoder, the muxer and the audio; publish under ``dst`` (atomic rename)."""
        try:
            self._mux_packets(self._encoder.EndEncode())
            self._mux.flush()
            if self._audio is not None and self._out is not None:
                self._audio.finish(self._out)
            assert self._out is not None
            self._out.close()
            self._encoder = None
            return publish(self.tmp, self.dst)
        except Exception:
            self.abort()
            raise

    def abort(self) -> None:
        """Drop the encoder session and the partial file; nothing is left under ``dst``."""
        self._encoder = None
        if self._out is not None:
            with contextlib.suppress(Exception):
                self._out.close()
        discard(self.tmp)
