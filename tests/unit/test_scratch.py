"""Scratch folders left by a worker killed mid-job (SIGKILL, OOM) are removed at the next sweep;
a running job's folder never is, whatever the deadlines of the workers sharing the folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from handler.scratch import LOCK_NAME, SCRATCH_PREFIX, job_folder, sweep_stale


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_running_jobs_folder_survives_any_sweep(tmp_path: Path) -> None:
    """Another worker sharing the folder with a much shorter deadline: the folder's age says
    "stale", its lock says "running" - the lock wins (an age rule alone deleted it)."""
    with job_folder(str(tmp_path)) as work:
        (work / "in.mp4").write_bytes(b"x" * 1024)
        age(work, 10 * 3600)
        assert sweep_stale(str(tmp_path), job_timeout_s=1) == 0
        assert (work / "in.mp4").is_file()
    assert not work.exists()  # and the job's own exit removes it


def test_a_killed_workers_folder_goes_at_the_next_sweep(tmp_path: Path) -> None:
    code = ("import sys, time\n"
            "from handler.scratch import job_folder\n"
            "with job_folder(sys.argv[1]) as work:\n"
            "    (work / 'partial.mp4').write_bytes(b'x')\n"
            "    print(work, flush=True)\n"
            "    time.sleep(60)\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env)
    left = Path(proc.stdout.readline().strip())
    assert sweep_stale(str(tmp_path), job_timeout_s=1800) == 0  # alive: its lock is held
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert left.is_dir()  # what the OOM killer leaves behind
    assert sweep_stale(str(tmp_path), job_timeout_s=1800) == 0  # unlocked, but written just now
    age(left, 61)
    assert sweep_stale(str(tmp_path), job_timeout_s=1800) == 1 and not left.exists()  # far under the deadline


def test_sweeps_never_take_a_folder_being_set_up(tmp_path: Path) -> None:
    """Jobs starting while other jobs sweep (a worker running several at once): the sweep may
    not find a new folder between its creation and its lock (it did, and the job lost its
    folder: INTERNAL)."""
    import threading

    lost: list[str] = []
    stop = threading.Event()

    def sweeper() -> None:
        while not stop.is_set():
            sweep_stale(str(tmp_path), job_timeout_s=1800)

    def job() -> None:
        for _ in range(200):
            with job_folder(str(tmp_path)) as work:
                if not work.is_dir():
                    lost.append(work.name)

    threads = [threading.Thread(target=sweeper) for _ in range(2)] + [threading.Thread(target=job) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads[2:]:
        t.join()
    stop.set()
    for t in threads[:2]:
        t.join()
    assert lost == []


def test_a_folder_without_a_lock_goes_by_age(tmp_path: Path) -> None:
    """Being created (no lock file yet) or left by a worker that predates the lock."""
    old, new = tmp_path / f"{SCRATCH_PREFIX}old", tmp_path / f"{SCRATCH_PREFIX}new"
    other = tmp_path / "someone-elses"
    for path in (old, new, other):
        path.mkdir()
    age(old, 2 * 1800 + 60)
    age(other, 10 * 1800)
    assert not (old / LOCK_NAME).exists()
    assert sweep_stale(str(tmp_path), job_timeout_s=1800) == 1
    assert not old.exists() and new.exists() and other.exists()


def test_a_missing_scratch_folder_is_not_an_error(tmp_path: Path) -> None:
    assert sweep_stale(str(tmp_path / "none"), job_timeout_s=10) == 0
