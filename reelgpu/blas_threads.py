"""One BLAS thread while frame loops run the numpy resampler, restored when the last one ends.

Only the numpy fallback of crop_scale calls BLAS (``np.matmul``); the frame loop already keeps
every core busy with its own threads, and OpenBLAS's pool fighting them made that resampler
~10x slower on 2 cores. With the compiled resampler (the normal install) nothing here runs and
the host's BLAS settings are never touched.

BLAS thread limits are process-wide, so the cap is shared: each loop saving and restoring the
limits itself would let the loop that ends last restore the cap another loop set, leaving BLAS
at one thread for the rest of the process. And threadpoolctl lets only one thread at a time
change OpenBLAS's pool (the first to set it, until its ``with`` block ends), so the cap is set
and restored on one thread of ours, whichever export threads come and go. If the host itself
holds a limit, threadpoolctl keeps ours from overriding it. (An OpenBLAS built on OpenMP, as
some distributions ship it, limits per thread: there the cap set on our thread does not reach
the export's threads. PyPI's numpy wheels use OpenBLAS's own pthreads pool, which is global.)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loops = 0
_cap: Any = None  # threadpoolctl's limiter, entered, while any loop runs
_limits_thread: ThreadPoolExecutor | None = None


def _threadpool_limits() -> Any:
    # threadpoolctl sets KMP_DUPLICATE_LIB_OK in os.environ when imported (for its own
    # loading of OpenMP runtimes); a library should not change its host's environment.
    before = os.environ.get("KMP_DUPLICATE_LIB_OK")
    from threadpoolctl import threadpool_limits

    if before is None:
        os.environ.pop("KMP_DUPLICATE_LIB_OK", None)
    return threadpool_limits


def _on_limits_thread(work: Callable[[], T]) -> T:
    global _limits_thread
    if _limits_thread is None:
        _limits_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reelgpu-blas-limits")
    return _limits_thread.submit(work).result()


def _cap_at_one() -> Any:
    limiter = _threadpool_limits()(limits=1, user_api="blas")
    limiter.__enter__()  # as a `with` block: threadpoolctl hands control back on __exit__
    return limiter


def _numpy_resampler_in_use() -> bool:
    from .ops import resample_native

    return not resample_native.enabled()  # not built, or REELGPU_RESAMPLER=numpy


def _forget_in_child() -> None:
    """A forked child has none of its parent's threads: a limits thread inherited by name only
    would never run the child's work (submit().result() waited forever)."""
    global _lock, _loops, _cap, _limits_thread
    _lock, _loops, _cap, _limits_thread = threading.Lock(), 0, None, None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


@contextmanager
def one_blas_thread(needed: bool | None = None) -> Iterator[None]:
    """BLAS at one thread inside; the earlier limits back once the last concurrent user has
    left. ``needed=None``: only where the numpy resampler is in use."""
    global _loops, _cap
    if not (_numpy_resampler_in_use() if needed is None else needed):
        yield
        return
    with _lock:
        if _loops == 0:
            _cap = _on_limits_thread(_cap_at_one)
        _loops += 1
    try:
        yield
    finally:
        with _lock:
            _loops -= 1
            if _loops == 0 and _cap is not None:
                cap, _cap = _cap, None
                _on_limits_thread(lambda: cap.__exit__(None, None, None))
