"""The one frame loop: decode -> ops -> encode, for every export and every backend.

Exports describe *what* each output frame shows (a schedule of picks plus a render function);
this module decides *how* frames move. Three kinds of threads overlap the work so the 2-core
CPU path stays busy: one prefetching decoder per open clip, one render thread, and the caller's
thread encoding and muxing. Queues are bounded, so memory stays flat however long the input.
"""

from __future__ import annotations

import contextlib
import contextvars
import queue
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from .blas_threads import one_blas_thread
from .errors import Cancelled
from .frames import Planes
from .media.decode_cpu import DecodedFrame
from .result import CancelCheck, ProgressCallback
from .timeline import OutputFrame, Pick

_END = object()
# A frame is "on screen" from its pts until the next one; allow for float noise in pts math.
_PTS_EPS = 1e-4


@dataclass(frozen=True)
class ClipSource:
    """One decoding stream: ``path`` from source time ``start_s`` (clip time 0 = start_s)."""

    path: Path
    start_s: float = 0.0
    rotation: int = 0


class FrameSource(Protocol):
    def __iter__(self) -> Iterator[DecodedFrame]: ...
    def close(self) -> None: ...


OpenSource = Callable[[ClipSource], FrameSource]
Render = Callable[[OutputFrame, list[tuple[Pick, DecodedFrame]]], Planes]


class FrameSink(Protocol):
    backend: str

    def write(self, planes: Planes) -> None: ...


@dataclass
class StageClock:
    """Busy seconds per stage (summed over threads), for the result's ``timings_s``."""

    busy: dict[str, float] = field(default_factory=lambda: {"decode": 0.0, "process": 0.0, "encode": 0.0})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, stage: str, seconds: float) -> None:
        with self.lock:
            self.busy[stage] += seconds


# How long closing a stage waits for its thread before leaving the thread to finish on its own.
JOIN_TIMEOUT_S = 5.0


class _Prefetch:
    """Runs an iterator on a thread into a bounded queue; errors re-raise in the consumer."""

    def __init__(self, make: Callable[[], Iterator[Any]], depth: int, stop: threading.Event,
                 clock: StageClock | None = None, stage: str = "decode") -> None:
        self._q: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = stop
        self._lock = threading.Lock()
        self._ended = False
        self._cleanup: Callable[[], None] | None = None  # run by the thread as it ends (finish())
        # In a copy of the caller's context: the export's cancel reaches this thread's reads of a
        # remote input (media/lazy_input.py, cancelled_by).
        self._thread = threading.Thread(target=contextvars.copy_context().run, args=(self._run, make, clock, stage),
                                        daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, make: Callable[[], Iterator[Any]], clock: StageClock | None, stage: str) -> None:
        try:
            it = make()
            while True:
                t0 = time.perf_counter()
                item = next(it, _END)
                if clock is not None:
                    clock.add(stage, time.perf_counter() - t0)
                if not self._put(item) or item is _END:
                    return
        except BaseException as exc:  # handed to the consumer, never lost on a thread
            self._put(exc)
        finally:
            with self._lock:
                self._ended = True
                cleanup = self._cleanup
            if cleanup is not None:
                with contextlib.suppress(Exception):
                    cleanup()

    def get(self) -> Any:
        while True:
            try:
                item = self._q.get(timeout=0.1)
            except queue.Empty:
                if self._stop.is_set():
                    raise Cancelled("stopped") from None
                continue
            if isinstance(item, BaseException):
                raise item
            return item

    def join(self) -> None:
        self._thread.join(timeout=JOIN_TIMEOUT_S)

    def finish(self, cleanup: Callable[[], None]) -> None:
        """Run ``cleanup`` once the thread has ended: here, or by the thread itself if it is still
        inside a call after ``JOIN_TIMEOUT_S`` (a read of a remote input waiting on the network). Closing a
        decoder under a thread that is reading through it crashes the process."""
        self.join()
        with self._lock:
            if not self._ended:
                self._cleanup = cleanup
                return
        cleanup()


class _Picker:
    """Hands out the frame on screen at a source time; times must not go backwards."""

    def __init__(self, source: FrameSource, feed: _Prefetch, stop: threading.Event) -> None:
        self.source = source
        self._feed = feed
        self._stop = stop
        self._current: DecodedFrame | None = None
        self._next: DecodedFrame | None | object = None

    def _peek(self) -> DecodedFrame | None:
        if self._next is None:
            self._next = self._feed.get()
        return None if self._next is _END else self._next  # type: ignore[return-value]

    def at(self, t: float) -> DecodedFrame:
        while True:
            nxt = self._peek()
            if nxt is None or (self._current is not None and nxt.pts_s > t + _PTS_EPS):
                break
            self._current, self._next = nxt, None
        if self._current is None:
            raise_empty(self.source)
        return self._current  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the decoding thread before closing the decoder it uses."""
        self._stop.set()
        self._feed.finish(self.source.close)


def raise_empty(source: FrameSource) -> None:
    from .errors import CorruptMedia

    raise CorruptMedia(f"{getattr(source, 'path', 'input')}: no decodable video frames")


def run(*, frames: Sequence[OutputFrame], clips: Sequence[ClipSource], open_source: OpenSource,
        render: Render, sink: FrameSink, progress: ProgressCallback | None = None,
        cancel: CancelCheck | None = None, prefetch: int = 2) -> dict[str, float]:
    """Render every frame of ``frames`` into ``sink``. Returns busy seconds per stage.

    ``prefetch`` frames wait in each queue (per decoder, and rendered). Two are enough to keep
    the encoder fed (it is the slowest stage on a CPU); every extra one holds ~3 MB per queue
    at 1080p, which counts against the peak-RSS budget on long inputs.
    """
    clock = StageClock()
    stop = threading.Event()
    last_use, first_t = {}, {}
    for of in frames:
        for p in of.picks:
            last_use[p.clip] = of.index
            first_t.setdefault(p.clip, p.clip_t)
    open_pickers: dict[int, _Picker] = {}
    # The render thread opens clips while this thread may be closing them at the end of the run.
    pickers_lock = threading.Lock()

    def picker(i: int) -> _Picker:
        opened = open_pickers.get(i)
        if opened is None:
            if stop.is_set():  # the run is over: no probe of a slow remote input for nothing
                raise Cancelled("stopped")
            # Decode from the first time this clip is shown (a trim start, say), not from its
            # start: the source begins at the key frame at or before it (media/seek.py).
            source = open_source(replace(clips[i], start_s=clips[i].start_s + max(0.0, first_t[i])))
            with pickers_lock:
                if stop.is_set():
                    # The run ended while this clip was opening (probing a slow remote input
                    # outlasts the join below): nobody else will close it.
                    source.close()
                    raise Cancelled("stopped")
                own_stop = threading.Event()
                feed = _Prefetch(lambda: iter(source), prefetch, own_stop, clock, "decode")
                opened = open_pickers[i] = _Picker(source, feed, own_stop)
        return opened

    def close_pickers(done: Collection[int]) -> None:
        with pickers_lock:
            closing = [open_pickers.pop(i) for i in done if i in open_pickers]
        for p in closing:
            p.close()

    def rendered() -> Iterator[Planes]:
        for of in frames:
            chosen = [(p, picker(p.clip).at(clips[p.clip].start_s + p.clip_t)) for p in of.picks]
            t0 = time.perf_counter()
            out = render(of, chosen)
            clock.add("process", time.perf_counter() - t0)
            close_pickers([i for i, last in last_use.items() if last == of.index])  # free finished clips' decoders
            yield out

    # One BLAS thread for the duration: the loop's own threads keep every core busy.
    with one_blas_thread():
        renderer = _Prefetch(rendered, prefetch, stop)
        try:
            for n in range(len(frames)):
                if cancel is not None and cancel():
                    raise Cancelled(f"cancelled at frame {n} of {len(frames)}")
                planes = renderer.get()
                t0 = time.perf_counter()
                sink.write(planes)
                clock.add("encode", time.perf_counter() - t0)
                if progress is not None:
                    progress(n + 1, len(frames))
        finally:
            stop.set()
            renderer.join()
            close_pickers(range(len(clips)))
    return dict(clock.busy)
