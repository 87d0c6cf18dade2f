"""What the GPU ops need from an execution backend, and the launch geometry they share.

The op code in :mod:`._ops` is written once against :class:`KernelBackend`. On a GPU the
backend is CuPy (:mod:`._runtime`: NVRTC-compiled ``cupy.RawModule``, one stream, device
buffers). Without a GPU, tests/unit/test_kernels_host.py supplies a backend that compiles the
very same ``.cu`` sources with the system C++ compiler (``host_shim.h``) and runs them over numpy
arrays, so the op glue (tap upload, pass order, clipping rectangles, launch geometry) is tested
too, not just the kernels' arithmetic.

Kernel arguments are arrays (passed as device pointers) and numpy scalars whose dtype fixes the
C type: ``np.int32`` -> int, ``np.float32`` -> float, ``np.float64`` -> double. (CuPy would pass
a bare Python int as a 64-bit integer, which does not match an ``int`` parameter.)
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

import numpy as np

from ._pool import BufferPool

#: Threads per block of the 2-D kernels: 32 columns (one warp reads one row segment) x 8 rows.
BLOCK: tuple[int, int, int] = (32, 8, 1)


def grid_for(width: int, height: int) -> tuple[int, int, int]:
    """Blocks covering ``width`` x ``height`` threads with :data:`BLOCK`."""
    return ((int(width) + BLOCK[0] - 1) // BLOCK[0], (int(height) + BLOCK[1] - 1) // BLOCK[1], 1)


def i32(value: int) -> np.int32:
    return np.int32(value)


def f32(value: float) -> np.float32:
    return np.float32(value)


def f64(value: float) -> np.float64:
    return np.float64(value)


def pitch_of(array: Any) -> np.int32:
    """Row pitch in elements of a 2-D array whose rows are contiguous (``strides[1]`` == itemsize)."""
    if array.ndim != 2 or array.strides[1] != array.itemsize:
        raise ValueError(f"expected a 2-D array with contiguous rows, got shape {array.shape} strides {array.strides}")
    return np.int32(array.strides[0] // array.itemsize)


class KernelBackend(Protocol):
    """Executes the reelgpu kernels on some device; see the module docstring."""

    #: Output/intermediate buffers for the ops (reused once nothing references them).
    pool: BufferPool

    def launch(self, module: str, kernel: str, grid: tuple[int, int, int], block: tuple[int, int, int],
               args: tuple[Any, ...]) -> None:
        """Run ``kernel`` of ``kernels/<module>.cu`` asynchronously, in stream order."""
        ...

    def upload(self, host: np.ndarray) -> Any:
        """A device copy of a (small, read-only) host array, in stream order."""
        ...

    def using(self) -> AbstractContextManager[Any]:
        """Context in which allocations and launches go to this backend's stream."""
        ...

    def is_device_array(self, array: Any) -> bool:
        """Whether ``array`` already lives where the kernels can read it."""
        ...
