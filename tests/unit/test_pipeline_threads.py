"""The pipeline's worker threads: a decoder is never closed under the thread reading through it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reelgpu import pipeline
from reelgpu.media.decode_cpu import DecodedFrame
from reelgpu.timeline import OutputFrame, Pick


def test_cleanup_waits_for_a_thread_stuck_in_a_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """A decode thread inside a read that outlasts the join (a remote input waiting on the
    network) closes its decoder itself when the read returns; closing it from outside then
    crashed the process (the container freed under av_read_frame)."""
    monkeypatch.setattr(pipeline, "JOIN_TIMEOUT_S", 0.1)
    inside, release = threading.Event(), threading.Event()
    state = {"in_read": False, "closed_in_read": None, "cleanups": 0}

    def frames() -> Iterator[int]:
        yield 0
        state["in_read"] = True
        inside.set()
        release.wait(10)
        state["in_read"] = False
        yield 1

    def cleanup() -> None:
        state["closed_in_read"] = state["in_read"]
        state["cleanups"] += 1

    stop = threading.Event()
    feed = pipeline._Prefetch(frames, depth=1, stop=stop)  # noqa: SLF001
    assert feed.get() == 0
    assert inside.wait(10)
    stop.set()
    feed.finish(cleanup)  # the thread is still inside the read: cleanup is left to it
    assert state["cleanups"] == 0
    release.set()
    deadline = time.monotonic() + 10
    while state["cleanups"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert state == {"in_read": False, "closed_in_read": False, "cleanups": 1}


def test_cleanup_runs_at_once_when_the_thread_has_ended() -> None:
    stop = threading.Event()
    feed = pipeline._Prefetch(lambda: iter([1]), depth=2, stop=stop)  # noqa: SLF001
    assert feed.get() == 1
    calls: list[str] = []
    feed.finish(lambda: calls.append("closed"))
    assert calls == ["closed"]


class _FakeSource:
    """A clip of ``n`` frames at 10 fps; records whether it was closed."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[DecodedFrame]:
        for k in range(self.n):
            yield DecodedFrame(pts_s=k / 10, planes=None)  # type: ignore[arg-type]

    def close(self) -> None:
        self.closed.set()


class _FailingSink:
    """Fails its ``fail_at``-th write, once ``ready`` is set."""

    backend = "cpu"

    def __init__(self, fail_at: int, ready: threading.Event) -> None:
        self.fail_at, self.written, self.ready = fail_at, 0, ready

    def write(self, planes: object) -> None:
        if self.written == self.fail_at:
            assert self.ready.wait(10)
            raise OSError("disk full")
        self.written += 1


def test_a_clip_still_opening_when_the_run_ends_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The render thread can be inside ``open_source`` (probing a remote input) when the run
    ends on an error; the clip it opens after that must be closed, not left decoding on a
    thread of its own for the life of the process."""
    monkeypatch.setattr(pipeline, "JOIN_TIMEOUT_S", 0.1)
    opening, release = threading.Event(), threading.Event()
    sources = {0: _FakeSource(3), 1: _FakeSource(50)}

    def open_source(clip: pipeline.ClipSource) -> _FakeSource:
        if clip.path.name == "b.mp4":
            opening.set()
            release.wait(10)
        return sources[0 if clip.path.name == "a.mp4" else 1]

    clips = [pipeline.ClipSource(Path("a.mp4")), pipeline.ClipSource(Path("b.mp4"))]
    frames = [OutputFrame(i, i / 10, (Pick(0 if i < 3 else 1, (i % 3) / 10),)) for i in range(6)]
    threads_before = set(threading.enumerate())
    with pytest.raises(OSError, match="disk full"):
        pipeline.run(frames=frames, clips=clips, open_source=open_source,
                     render=lambda of, chosen: chosen, sink=_FailingSink(fail_at=1, ready=opening))
    release.set()  # the slow open returns after the run has ended
    assert sources[1].closed.wait(10), "the clip opened after the run ended was never closed"
    assert sources[0].closed.is_set()

    def new_threads() -> set[threading.Thread]:
        # (but the process's one BLAS-limits thread, started on the first run: blas_threads.py)
        return {t for t in set(threading.enumerate()) - threads_before if not t.name.startswith("reelgpu-blas")}

    deadline = time.monotonic() + 10
    while new_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not new_threads(), "a pipeline thread outlived the run"
