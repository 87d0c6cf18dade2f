"""reelgpu: render sports-highlight video exports on the GPU (NVDEC -> CuPy -> NVENC) or the CPU.

Public API (all keyword options are keyword-only)::

    reelgpu.framing(src, dst, spec, *, device="auto", progress=None, cancel=None, sources=None, limits=None)
    reelgpu.overlay(src, dst, spec, *, device="auto", progress=None, cancel=None, sources=None, limits=None)
    reelgpu.annotate(src, dst, spec, *, device="auto", progress=None, cancel=None, sources=None, limits=None)
    reelgpu.probe(path) -> MediaInfo
    reelgpu.capabilities() -> Capabilities

``spec`` is a dict (validated against :mod:`reelgpu.specs`) or a spec model. ``sources`` maps
every extra key the spec names (clip ``source_key``, ``png_key``, annotate ``input_keys``) to
a local file. Each export returns an :class:`ExportResult`.

Heavy modules (PyAV, CuPy, PyNvVideoCodec) are imported lazily, on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from . import specs
from .errors import (
    BackendUnavailable,
    Cancelled,
    CorruptMedia,
    InvalidSpec,
    LimitExceeded,
    NvdecRefused,
    ReelGpuError,
    UnsupportedMedia,
)
from .limits import Limits
from .result import ExportResult

__version__ = "0.1.0"

_LAZY = {
    "framing": ("reelgpu.exports.framing", "framing"),
    "overlay": ("reelgpu.exports.overlay", "overlay"),
    "annotate": ("reelgpu.exports.annotate", "annotate"),
    "probe": ("reelgpu.media.probe", "probe"),
    "MediaInfo": ("reelgpu.media.probe", "MediaInfo"),
    "capabilities": ("reelgpu.device", "capabilities"),
}

__all__ = [
    "BackendUnavailable", "Cancelled", "CorruptMedia", "ExportResult", "InvalidSpec", "LimitExceeded",
    "Limits", "NvdecRefused", "ReelGpuError", "UnsupportedMedia", "specs", *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(import_module(module), attr)
    raise AttributeError(f"module 'reelgpu' has no attribute {name!r}")
