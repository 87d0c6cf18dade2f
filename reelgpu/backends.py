"""Backends: which implementation runs each stage, behind one small interface.

An export asks :func:`select_backend` once, before any work, and then only talks to the
returned :class:`Backend`: its ``ops`` (numpy reference or CuPy kernels, same signatures), its
frame source (PyAV or NVDEC) and its writer (libx264 or NVENC). The result reports
``backend.stages``, so the choice is never silent.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .device import Device, backends_for
from .frames import Planes

if TYPE_CHECKING:
    from .media.probe import MediaInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ops:
    """Frame operations with one signature per op for every backend."""

    crop_scale: Callable[..., Planes]
    draw_highlight: Callable[..., None]
    blend_sprite: Callable[..., None]
    dissolve: Callable[..., Planes]
    fade_to_black: Callable[..., Planes]
    copy_planes: Callable[[Planes], Planes]  # a private, writable copy of decoded planes
    prepare_sprite: Callable[[Any], Any]  # once per sprite: identity on CPU, upload on GPU


@dataclass(frozen=True)
class Backend:
    stages: dict[str, str]  # {"decode", "process", "encode"}
    ops: Ops
    open_source: Callable[..., Any]  # (pipeline.ClipSource) -> FrameSource
    make_writer: Callable[..., Any]  # Mp4Writer-compatible: write(planes), close(), abort(), frames


def _numpy_ops() -> Ops:
    from .ops.crop_scale import crop_scale
    from .ops.highlight import draw_highlight
    from .ops.mix import dissolve, fade_to_black
    from .ops.sprite import blend_sprite

    return Ops(crop_scale=crop_scale, draw_highlight=draw_highlight, blend_sprite=blend_sprite,
               dissolve=dissolve, fade_to_black=fade_to_black,
               copy_planes=lambda p: Planes(*(plane.copy() for plane in p)),
               prepare_sprite=lambda sprite: sprite)


def cpu_backend() -> Backend:
    from .media.decode_cpu import PyAVVideoSource
    from .media.writer import Mp4Writer

    def open_source(clip: Any) -> PyAVVideoSource:
        return PyAVVideoSource(clip.path, rotation=clip.rotation, start_s=clip.start_s)

    return Backend(stages={"decode": "pyav", "process": "numpy", "encode": "libx264"}, ops=_numpy_ops(),
                   open_source=open_source, make_writer=Mp4Writer)


def select_backend(device: Device) -> Backend:
    """The backend for ``device`` ("auto" picks per stage). Raises BackendUnavailable early."""
    stages = backends_for(device)
    if stages["process"] == "numpy":
        return cpu_backend()
    from .gpu_backend import gpu_backend  # only reached when the probe found a usable GPU

    return gpu_backend(stages)


def fit_to_inputs(backend: Backend, device: Device, inputs: Iterable[MediaInfo]) -> Backend:
    """Once the inputs are probed: NVDEC gets only streams it can decode on this GPU (codec,
    4:2:0 bit depth, size limits, a container with timestamps; :func:`device.nvdec_refusal`).
    ``auto`` falls back to the CPU for all of them (the result's ``backend`` says so, the log
    says why); ``cuda`` refuses, naming the input and the reason."""
    if backend.stages["decode"] != "nvdec":
        return backend
    from .device import capabilities, nvdec_refusal
    from .errors import BackendUnavailable

    caps = capabilities()
    for info in inputs:
        why = nvdec_refusal(caps, codec=info.video_codec, pix_fmt=info.pix_fmt, coded_width=info.coded_width,
                            coded_height=info.coded_height, container=info.container, interlaced=info.interlaced)
        if why is None:
            continue
        if device == "cuda":
            raise BackendUnavailable(f"device='cuda': {Path(info.path).name}: {why}")
        log.info("running this export on the CPU (decode, ops and encode): %s: %s", Path(info.path).name, why)
        return cpu_backend()
    return backend


Export = TypeVar("Export", bound=Callable[..., Any])


def retry_on_cpu(export: Export) -> Export:
    """With ``device="auto"``, an export whose stream NVDEC refuses while decoding (its
    capabilities passed, a profile or level did not: :class:`~reelgpu.errors.NvdecRefused`) is
    rendered again on the CPU. The first attempt leaves nothing under the output name, progress
    never goes backwards (it pauses until the CPU run passes where the GPU run stopped), and the
    result's ``backend["fallback"]`` says why. ``device="cuda"`` raises the error as it is."""
    from .errors import NvdecRefused

    @functools.wraps(export)
    def run(src: Any, dst: Any, spec: Any, *, device: Device = "auto", progress: Any = None, **kwargs: Any) -> Any:
        reached = [0]

        def forward(done: int, total: int) -> None:
            if done > reached[0]:
                reached[0] = done
                progress(done, total)

        reporting = forward if progress is not None else None
        try:
            return export(src, dst, spec, device=device, progress=reporting, **kwargs)
        except NvdecRefused as exc:
            if device != "auto":
                raise
            log.warning("rendering again on the CPU: %s", exc)
            result = export(src, dst, spec, device="cpu", progress=reporting, **kwargs)
            result.backend["fallback"] = str(exc)
            return result

    return run  # type: ignore[return-value]
