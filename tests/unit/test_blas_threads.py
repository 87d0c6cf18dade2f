"""BLAS thread limits are process-wide: exports running at once share one cap, and the earlier
limits come back when the last one ends (not when the first does, nor never). With the compiled
resampler nothing is touched."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy  # noqa: F401 - loads the BLAS library whose threads are counted
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from reelgpu.blas_threads import one_blas_thread


def blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


@pytest.fixture
def default_threads() -> int:
    threads = blas_threads()
    if len(threads) != 1 or threads[0] < 2:
        pytest.skip(f"needs one BLAS library with 2 or more threads to tell a cap of 1 apart ({threads})")
    return threads[0]


def in_thread(work: object) -> threading.Thread:
    thread = threading.Thread(target=work)  # type: ignore[arg-type]
    thread.start()
    return thread


def test_overlapping_loops_on_different_threads(default_threads: int) -> None:
    """The export that started first ends first; the other still runs capped, and the
    limits come back when it ends - as the export threads of a service would interleave."""
    first_in, second_in, both_seen, first_out = (threading.Event() for _ in range(4))
    seen: dict[str, list[int]] = {}

    def first() -> None:
        with one_blas_thread(needed=True):
            first_in.set()
            both_seen.wait()
        first_out.set()

    def second() -> None:
        first_in.wait()
        with one_blas_thread(needed=True):
            second_in.set()
            first_out.wait()
            seen["second alone"] = blas_threads()

    threads = [in_thread(first), in_thread(second)]
    second_in.wait()
    seen["both"] = blas_threads()
    both_seen.set()
    for t in threads:
        t.join()
    assert seen == {"both": [1], "second alone": [1]}
    assert blas_threads() == [default_threads]
    with threadpool_limits(limits=1, user_api="blas"):  # the host can still set its own
        assert blas_threads() == [1]
    assert blas_threads() == [default_threads]


def test_many_loops_at_once(default_threads: int) -> None:
    inside, together = [], threading.Barrier(3)

    def loop() -> None:
        with one_blas_thread(needed=True):
            together.wait()
            inside.append(blas_threads())
            together.wait()

    for t in [in_thread(loop) for _ in range(3)]:
        t.join()
    assert inside == [[1]] * 3
    assert blas_threads() == [default_threads]


def test_the_compiled_resampler_leaves_blas_alone(default_threads: int) -> None:
    with one_blas_thread(needed=False):
        assert blas_threads() == [default_threads]


def test_the_host_environment_is_left_alone() -> None:
    """threadpoolctl sets KMP_DUPLICATE_LIB_OK when imported; the first loop must not leave it."""
    code = ("import os, numpy; from reelgpu.blas_threads import one_blas_thread\n"
            "with one_blas_thread(needed=True): pass\n"
            "print(os.environ.get('KMP_DUPLICATE_LIB_OK'))")
    env = {k: v for k, v in os.environ.items() if k != "KMP_DUPLICATE_LIB_OK"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None"


def test_numpy_resampler_switch_takes_the_cap(default_threads: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """REELGPU_RESAMPLER=numpy runs the numpy passes (BLAS) even where the compiled ones exist."""
    monkeypatch.setenv("REELGPU_RESAMPLER", "numpy")
    with one_blas_thread():
        assert blas_threads() == [1]
    assert blas_threads() == [default_threads]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")
def test_a_forked_child_can_cap_blas(default_threads: int) -> None:
    """The limits thread is not inherited by a forked child; the child must not wait on it."""
    code = ("import os, sys, numpy\n"
            "from reelgpu.blas_threads import one_blas_thread\n"
            "with one_blas_thread(needed=True): pass\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    with one_blas_thread(needed=True): pass\n"
            "    os._exit(0)\n"
            "_, status = os.waitpid(pid, 0)\n"
            "sys.exit(os.waitstatus_to_exitcode(status))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
