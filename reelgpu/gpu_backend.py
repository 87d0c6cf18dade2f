"""The GPU backend: NVDEC frames through CuPy kernels into NVENC, or into libx264 through one
overlapped host copy per frame on GPUs without NVENC (A100, H100, H200).

Only imported by :func:`reelgpu.backends.select_backend` after the subprocess probe found a
usable GPU, so CuPy and PyNvVideoCodec never load in a process that cannot use them.
"""

from __future__ import annotations

from typing import Any

from .backends import Backend, Ops


def _cuda_ops() -> Ops:
    from .ops import cuda

    return Ops(crop_scale=cuda.crop_scale, draw_highlight=cuda.draw_highlight, blend_sprite=cuda.blend_sprite,
               dissolve=cuda.dissolve, fade_to_black=cuda.fade_to_black, copy_planes=cuda.copy_planes,
               prepare_sprite=cuda.upload_sprite)


def gpu_backend(stages: dict[str, str]) -> Backend:
    from .media.decode_nvdec import NvdecVideoSource
    from .media.encode_nvenc import NvencWriter
    from .media.host_transfer import HostTransferWriter
    from .media.writer import Mp4Writer
    from .ops import cuda

    cuda.warm_up()  # compile every kernel now: an NVRTC problem fails before any decoding

    def open_source(clip: Any) -> NvdecVideoSource:
        return NvdecVideoSource(clip.path, rotation=clip.rotation, start_s=clip.start_s)

    def make_writer(dst: Any, **kwargs: Any) -> Any:
        if stages["encode"] == "nvenc":
            return NvencWriter(dst, **kwargs)
        return HostTransferWriter(Mp4Writer(dst, **kwargs))

    return Backend(stages=dict(stages), ops=_cuda_ops(), open_source=open_source, make_writer=make_writer)
