"""The compiled resampler passes (``reelgpu/ops/_resample.c``), when the build produced them.

``AVAILABLE`` says whether they are there; :func:`crop_scale <reelgpu.ops.crop_scale>` uses them
when they are and falls back to numpy otherwise. Both compute the function the tests hold to
Pillow (the compiled one with Pillow's own fixed-point arithmetic, so byte for byte).
``REELGPU_RESAMPLER=numpy`` forces the fallback (tests compare the two; also a way out should
the compiled module misbehave on some machine).
"""

from __future__ import annotations

import os
import threading

import numpy as np

from .resample import AxisTaps

try:  # built by setup.py; optional, so a machine without a C compiler still installs reelgpu
    from . import _resample
except ImportError:  # pragma: no cover - depends on the build
    _resample = None

__all__ = ["AVAILABLE", "enabled", "horizontal", "vertical"]

AVAILABLE = _resample is not None


def enabled() -> bool:
    """Whether crop_scale should use the compiled passes (built, and not switched off)."""
    return AVAILABLE and os.environ.get("REELGPU_RESAMPLER", "auto").strip().lower() != "numpy"


def vertical(src: np.ndarray, taps: AxisTaps) -> np.ndarray:
    """Rows ``[taps.lo, taps.hi)`` of the plane (``src``) resampled to ``taps.out_size`` rows (uint8)."""
    src = _contiguous_u8(src)
    _check_span(src.shape[0], taps, "rows")
    rows, cols = src.shape
    out = np.empty((taps.out_size, cols), dtype=np.uint8)
    scratch = _scratch(4 * cols)
    _resample.vertical(src, rows, cols, out, taps.index, taps.weight_q22, taps.taps, taps.lo, scratch)
    return out


def horizontal(src: np.ndarray, taps: AxisTaps) -> np.ndarray:
    """Columns ``[taps.lo, taps.hi)`` of the plane (``src``) resampled to ``taps.out_size`` columns (uint8)."""
    src = _contiguous_u8(src)
    _check_span(src.shape[1], taps, "columns")
    rows, cols = src.shape
    out = np.empty((rows, taps.out_size), dtype=np.uint8)
    scratch = _scratch(4 * rows + (cols + taps.out_size) * rows)
    _resample.horizontal(src, rows, cols, out, taps.index, taps.weight_q22, taps.taps, taps.lo, scratch)
    return out


# One scratch buffer per thread, grown to the largest pass seen (~2.4 MB for 1080p -> 1080x1920)
# and reused: fresh buffers of that size cost a page fault per 4 KiB on every call.
_local = threading.local()


def _scratch(nbytes: int) -> np.ndarray:
    buf = getattr(_local, "scratch", None)
    if buf is None or buf.nbytes < nbytes:
        buf = np.empty(nbytes, dtype=np.uint8)  # numpy aligns data to at least 16 bytes
        _local.scratch = buf
    return buf


def _contiguous_u8(src: np.ndarray) -> np.ndarray:
    if src.ndim != 2 or src.dtype != np.uint8:
        raise ValueError(f"a plane must be a 2-D uint8 array, got {src.ndim}-D {src.dtype}")
    return np.ascontiguousarray(src)


def _check_span(length: int, taps: AxisTaps, what: str) -> None:
    if length != taps.hi - taps.lo:
        raise ValueError(f"the window has {length} {what}, the taps read {taps.hi - taps.lo} ({taps.lo}..{taps.hi})")
