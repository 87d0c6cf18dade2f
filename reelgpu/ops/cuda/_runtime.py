"""The CuPy backend: NVRTC-compiled kernels, one stream, pooled device buffers.

Imported only when a GPU op is first used, and it imports CuPy itself lazily, so ``import
reelgpu`` never touches CUDA (the capability probe runs in a subprocess; see device.py).

Streams: every reelgpu kernel, on every thread (decoder, renderer, encoder), is launched on one
non-blocking stream per device. CUDA streams may be fed from several threads, and the order in
which work is queued follows the pipeline's data flow (a frame is decoded before it is rendered,
rendered before it is encoded), so one stream orders everything without host synchronisation,
and CuPy's stream-ordered memory pool can recycle a dropped buffer safely. Work that must run
elsewhere (the device->host copy of host_transfer, NVENC's own copy) waits on events recorded on
this stream.
"""

from __future__ import annotations

import re
import threading
from contextlib import AbstractContextManager
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from ._pool import BufferPool

#: NVRTC options: standard C++ and IEEE-exact float division/square root (the defaults, spelt
#: out so nobody adds --use_fast_math: the kernels must match the numpy reference).
#: No ``--ftz``: CuPy appends ``-ftz=true`` after the caller's options whatever they say
#: (cupy/_core compiler.py; cupy/cupy#9576), so float32 subnormals flush to zero on the GPU.
#: The kernels never produce any (weights, alphas and coverages are 0 or >= ~1e-15), which is
#: why parity with the numpy reference still holds; tests/unit/test_kernels_nvcc.py compiles
#: with CuPy's full option set, -ftz=true included.
NVRTC_OPTIONS: tuple[str, ...] = ("--std=c++14", "--prec-div=true", "--prec-sqrt=true")

KERNEL_MODULES: tuple[str, ...] = ("crop_scale", "highlight", "sprite", "mix", "nv12")

# The kernels' own headers (rg_*.h, shipped as package data beside the .cu files).
_INCLUDE = re.compile(r'^\s*#include\s+"(rg_[A-Za-z0-9_]+\.h)"\s*$', re.MULTILINE)


def kernel_source(module: str) -> str:
    """The source of ``kernels/<module>.cu`` with its local ``#include "rg_*.h"`` lines inlined.

    Inlining (rather than passing an include path to NVRTC) makes the header part of the text
    CuPy hashes for its kernel cache, so editing a header can never reuse a stale binary.
    """
    if module not in KERNEL_MODULES:
        raise ValueError(f"unknown kernel module {module!r}; known: {', '.join(KERNEL_MODULES)}")
    root = resources.files("reelgpu.ops").joinpath("kernels")
    text = root.joinpath(f"{module}.cu").read_text(encoding="utf-8")
    seen: set[str] = set()

    def inline(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in seen:
            return ""
        seen.add(name)
        return _INCLUDE.sub(inline, root.joinpath(name).read_text(encoding="utf-8"))

    return _INCLUDE.sub(inline, text)


class CupyBackend:
    """Runs the kernels with CuPy on one device and one stream (see the module docstring).

    Implements :class:`~._launch.KernelBackend` (structurally).
    """

    def __init__(self, device_id: int = 0) -> None:
        import cupy

        self._cp = cupy
        self.device_id = int(device_id)
        self.device = cupy.cuda.Device(self.device_id)
        with self.device:
            self.stream = cupy.cuda.Stream(non_blocking=True)
        self.pool = BufferPool(self._alloc)
        #: Separate buffers for decoded frames: the decoder thread takes them, the renderer drops them.
        self.decode_pool = BufferPool(self._alloc)
        self._modules: dict[str, Any] = {}
        self._functions: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- KernelBackend protocol
    def _alloc(self, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        with self.device, self.stream:
            return self._cp.empty(shape, dtype=dtype)

    def function(self, module: str, kernel: str) -> Any:
        """The compiled kernel (compiled once per process; CuPy also caches binaries on disk)."""
        key = (module, kernel)
        fn = self._functions.get(key)
        if fn is None:
            with self._lock:
                mod = self._modules.get(module)
                # get_function loads the module on the current device: keep ours current.
                with self.device:
                    if mod is None:
                        mod = self._modules[module] = self._cp.RawModule(code=kernel_source(module),
                                                                          options=NVRTC_OPTIONS)
                    fn = self._functions[key] = mod.get_function(kernel)
        return fn

    def launch(self, module: str, kernel: str, grid: tuple[int, int, int], block: tuple[int, int, int],
               args: tuple[Any, ...]) -> None:
        fn = self.function(module, kernel)
        with self.device, self.stream:
            fn(grid, block, args)

    def upload(self, host: np.ndarray) -> Any:
        with self.device, self.stream:
            return self._cp.asarray(host)

    def using(self) -> AbstractContextManager[Any]:
        return _Using(self)

    def is_device_array(self, array: Any) -> bool:
        return isinstance(array, self._cp.ndarray)

    # ---------------------------------------------------------------- helpers for media/
    def record(self) -> Any:
        """An event marking everything queued on the reelgpu stream so far."""
        with self.device:
            return self.stream.record(self.event())

    def event(self) -> Any:
        """An event for ordering and waiting, not timing: a host thread that waits on it sleeps
        (CUDA's default event spins a core, which libx264 needs on GPUs without NVENC)."""
        with self.device:
            return self._cp.cuda.Event(block=True, disable_timing=True)

    def compile_all(self) -> None:
        """Compile every kernel now (a GPU test or ``doctor`` wants NVRTC errors up front)."""
        for module in KERNEL_MODULES:
            with self.device:
                mod = self._cp.RawModule(code=kernel_source(module), options=NVRTC_OPTIONS)
                mod.compile()
            self._modules.setdefault(module, mod)


class _Using:
    """``with backend.using():`` = the backend's device and stream are current."""

    def __init__(self, backend: CupyBackend) -> None:
        self._b = backend

    def __enter__(self) -> Any:
        self._b.device.__enter__()
        self._b.stream.__enter__()
        return self._b.stream

    def __exit__(self, *exc: object) -> None:
        self._b.stream.__exit__(*exc)
        self._b.device.__exit__(*exc)


@cache
def backend(device_id: int = 0) -> CupyBackend:
    """The process-wide CuPy backend of one GPU (created, and CuPy imported, on first use)."""
    return CupyBackend(device_id)
