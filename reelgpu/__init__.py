"""reelgpu: render sports-highlight video exports on the GPU (NVDEC -> CuPy -> NVENC) or the CPU.

Public API (all keyword options are keyword-only)::

    reelgpu.framing(src, dst, spec, *, device="auto", progress=None, cancel=None, sources=None, limits=None,
                    upscaler=None)
    reelgpu.overlay(src, dst, spec, *, device="auto", progress=None, cancel=None, sources=None, limits=None)
    reelgpu.annotate(src, dst, spec, *, device="auto", progress=None, cancel=None, sources=None, limits=None)
    reelgpu.probe(path) -> MediaInfo
    reelgpu.capabilities() -> Capabilities
    reelgpu.LazyInput(path, size, fetch)  # a remote input, read by byte range (context manager)

``spec`` is a dict (validated against :mod:`reelgpu.specs`) or a spec model. ``sources`` maps
every extra key the spec names (clip ``source_key``, ``png_key``, annotate ``input_keys``) to
a local file. Each export returns an :class:`ExportResult`.

Heavy modules (PyAV, CuPy, PyNvVideoCodec) are imported lazily, on first use.
"""

from __future__ import annotations

from importlib import import_module
from importlib import metadata as _metadata
from typing import TYPE_CHECKING, Any

from . import specs
from .errors import (
    BackendUnavailable,
    Cancelled,
    CorruptMedia,
    InputNotFound,
    InputReadError,
    InvalidSpec,
    LimitExceeded,
    NvdecRefused,
    ReelGpuError,
    UnsupportedMedia,
)
from .limits import Limits
from .result import ExportResult

if TYPE_CHECKING:  # what the lazy names below are, for type checkers and IDEs
    from .device import capabilities
    from .exports.annotate import annotate
    from .exports.framing import Upscaler, framing
    from .exports.overlay import overlay
    from .frames import Planes
    from .media.lazy_input import LazyInput
    from .media.probe import MediaInfo, probe
    from .result import CancelCheck, ProgressCallback

try:  # one version, pyproject.toml's, as installed
    __version__ = _metadata.version("reelgpu")
except _metadata.PackageNotFoundError:  # a source tree used without installing it
    __version__ = "0+unknown"

_LAZY = {
    "framing": ("reelgpu.exports.framing", "framing"),
    "overlay": ("reelgpu.exports.overlay", "overlay"),
    "annotate": ("reelgpu.exports.annotate", "annotate"),
    "probe": ("reelgpu.media.probe", "probe"),
    "MediaInfo": ("reelgpu.media.probe", "MediaInfo"),
    "capabilities": ("reelgpu.device", "capabilities"),
    "LazyInput": ("reelgpu.media.lazy_input", "LazyInput"),
    "Upscaler": ("reelgpu.exports.framing", "Upscaler"),
    "Planes": ("reelgpu.frames", "Planes"),
    "ProgressCallback": ("reelgpu.result", "ProgressCallback"),
    "CancelCheck": ("reelgpu.result", "CancelCheck"),
}

__all__ = [  # written out (not built from _LAZY) so that linters and type checkers can read it
    "BackendUnavailable", "CancelCheck", "Cancelled", "CorruptMedia", "ExportResult", "InputNotFound", "InputReadError",
    "InvalidSpec", "LazyInput", "LimitExceeded", "Limits", "MediaInfo", "NvdecRefused", "Planes", "ProgressCallback",
    "ReelGpuError", "UnsupportedMedia", "Upscaler", "annotate", "capabilities", "framing", "overlay", "probe",
    "specs",
]


if not TYPE_CHECKING:  # hidden from type checkers, which would otherwise accept any name

    def __getattr__(name: str) -> Any:
        if name in _LAZY:
            module, attr = _LAZY[name]
            return getattr(import_module(module), attr)
        raise AttributeError(f"module 'reelgpu' has no attribute {name!r}")


def __dir__() -> list[str]:  # tab completion lists the lazy names too
    return sorted({*__all__, "__version__"})
