"""The no-NVENC encode path: device frames -> pinned host memory -> a CPU encoder.

On GPUs without NVENC (A100, H100, H200) decoding and the ops still run on the GPU and only
the encode runs on the CPU (libx264 via :class:`reelgpu.media.writer.Mp4Writer`). Each frame
crosses the bus exactly once, and the copy is hidden behind other work:

* the copy runs on its own CUDA stream, after an event that marks the frame's kernels on the
  reelgpu stream, into page-locked (pinned) host buffers, so it is a true asynchronous DMA;
* writes are double-buffered: ``write(frame n)`` queues frame n's copy and then hands frame
  n-1 (whose copy has had a whole frame's time to finish) to the CPU encoder, so the copy of
  n overlaps the encode of n-1 and the kernels of the frames the renderer is already working on;
* the device planes of a frame are referenced until its copy has completed, so the op pool
  cannot hand them out (and a kernel overwrite them) while the DMA still reads them.

CuPy is imported when a :class:`HostTransferWriter` is created, never at module import.
"""

from __future__ import annotations

import contextlib
from collections import deque
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..frames import Planes

__all__ = ["CpuFrameSink", "HostTransferWriter"]


class CpuFrameSink(Protocol):
    """What the wrapped writer must offer (Mp4Writer does)."""

    backend: str
    frames: int

    def write(self, planes: Planes) -> None: ...
    def close(self) -> Path: ...
    def abort(self) -> None: ...


class HostTransferWriter:
    """Wraps a CPU writer so the pipeline can hand it device planes (see the module docstring).

    ``depth`` frames may be in flight on the copy stream (2 = double buffering). Numpy planes
    (a frame that never went to the GPU) are passed through, in order.
    """

    def __init__(self, writer: CpuFrameSink, *, depth: int = 2, gpu_id: int = 0) -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        import cupy
        import cupyx

        from ..ops import cuda as gpu

        self._cp = cupy
        self._empty_pinned = cupyx.empty_pinned
        self._writer = writer
        self._depth = int(depth)
        self._b = gpu.backend(gpu_id)
        with self._b.device:
            self._copy_stream = cupy.cuda.Stream(non_blocking=True)
        # In flight: (copy-done event or None, host planes, device planes kept alive).
        self._pending: deque[tuple[Any, Planes, Planes | None]] = deque()
        self._spare: dict[tuple[tuple[int, int], ...], list[Planes]] = {}

    @property
    def backend(self) -> str:
        return self._writer.backend

    @property
    def frames(self) -> int:
        return self._writer.frames

    def _host_planes(self, planes: Planes) -> Planes:
        key = tuple((int(p.shape[0]), int(p.shape[1])) for p in planes)
        spare = self._spare.get(key)
        if spare:
            return spare.pop()
        return Planes(*(self._empty_pinned(shape, dtype=np.uint8) for shape in key))

    def write(self, planes: Planes) -> None:
        """Queue ``planes`` for copy and encode; returns once the previous frame is encoded."""
        if isinstance(planes.y, np.ndarray):
            self._pending.append((None, planes, None))
        else:
            host = self._host_planes(planes)
            ready = self._b.record()  # after every kernel queued so far, this frame's included
            with self._b.device:
                self._copy_stream.wait_event(ready)
                for dev, dst in zip(planes, host):
                    if not dev.flags.c_contiguous:
                        raise ValueError("device planes must be C-contiguous for the host copy")
                    dev.get(stream=self._copy_stream, out=dst, blocking=False)
                done = self._copy_stream.record(self._b.event())
            self._pending.append((done, host, planes))
        while len(self._pending) >= self._depth:
            self._encode_oldest()

    def _encode_oldest(self) -> None:
        done, host, _device = self._pending.popleft()
        if done is not None:
            done.synchronize()  # the host copy is complete; the device planes may be reused
        self._writer.write(host)  # Mp4Writer copies into its own frame before returning
        if done is not None:
            key = tuple((int(p.shape[0]), int(p.shape[1])) for p in host)
            self._spare.setdefault(key, []).append(host)

    def close(self) -> Path:
        """Encode what is still in flight, then close (publish) the wrapped writer."""
        try:
            while self._pending:
                self._encode_oldest()
        except Exception:
            self.abort()
            raise
        return self._writer.close()

    def abort(self) -> None:
        """Drop what is in flight, once its copies have finished: a pinned buffer or device plane
        released mid-DMA would go back to CuPy's pools and could be handed to the next upload or
        kernel (of a later export in this process) while the copy still writes or reads it."""
        with contextlib.suppress(Exception):  # a failed context has nothing left in flight
            self._copy_stream.synchronize()
        self._pending.clear()
        self._writer.abort()
