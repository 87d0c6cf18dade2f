"""The pipeline's worker threads: a decoder is never closed under the thread reading through it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from reelgpu import pipeline


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
