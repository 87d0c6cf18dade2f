"""Reusable output buffers keyed by shape and dtype, so the GPU ops allocate nothing per frame.

A buffer is handed out again only when nothing but the pool refers to it any more (its
reference count says so; a view of it counts, since a view keeps its ``base``). That is what
makes reuse safe inside reelgpu's pipeline, where finished frames wait in queues and the
framing export caches the last output of each clip for slow motion: a fixed ring of N buffers
would silently overwrite a frame still waiting to be encoded once more than N were in flight.

GPU-side ordering is the caller's part: every kernel that writes or reads a pooled buffer runs
on the one reelgpu stream, so a buffer reused by a later launch is only written after every
earlier launch that read it. Work on any other stream (the host copy stream, the encoder) must
keep a reference to the buffer until that work has completed.

Pure Python: no CuPy import, so the host tests exercise it with numpy arrays.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

Alloc = Callable[[tuple[int, ...], np.dtype], Any]

# sys.getrefcount(buffers[i]) of a buffer only the pool holds: the list slot and the call's
# own argument.
_IDLE_REFS = 2


class BufferPool:
    """Hands out arrays of a given shape/dtype, reusing ones that nobody else references.

    ``max_per_key`` bounds what the pool keeps per shape; past it, buffers are allocated
    afresh and left to the array library's own allocator (CuPy's memory pool) when dropped.
    Thread-safe: the decoder, render and encoder threads share one process.
    """

    def __init__(self, alloc: Alloc, *, max_per_key: int = 32) -> None:
        self._alloc = alloc
        self._max = max_per_key
        self._buffers: dict[tuple[tuple[int, ...], str], list[Any]] = {}
        self._lock = threading.Lock()

    def take(self, shape: tuple[int, ...], dtype: Any = np.uint8) -> Any:
        """An array of ``shape``/``dtype`` with undefined contents, not referenced elsewhere."""
        dt = np.dtype(dtype)
        key = (tuple(int(s) for s in shape), dt.str)
        with self._lock:
            buffers = self._buffers.setdefault(key, [])
            for i in range(len(buffers)):
                if sys.getrefcount(buffers[i]) <= _IDLE_REFS:
                    return buffers[i]
            buf = self._alloc(key[0], dt)
            if len(buffers) < self._max:
                buffers.append(buf)
            return buf

    def held(self) -> int:
        """How many buffers the pool keeps (all shapes): for tests and diagnostics."""
        with self._lock:
            return sum(len(b) for b in self._buffers.values())

    def clear(self) -> None:
        """Forget every buffer (they are freed once their last user lets go)."""
        with self._lock:
            self._buffers.clear()
