"""Scratch folders left by a worker killed mid-job (SIGKILL, OOM) are removed once they are
older than any running job's can be; a running job's folder never is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from handler.scratch import SCRATCH_PREFIX, sweep_stale


def aged(path: Path, seconds: float) -> Path:
    path.mkdir(parents=True)
    (path / "in").mkdir()
    (path / "in" / "00.mp4").write_bytes(b"x" * 1024)
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_only_folders_older_than_twice_the_deadline_go(tmp_path: Path) -> None:
    stale = aged(tmp_path / f"{SCRATCH_PREFIX}dead", 2 * 1800 + 60)
    running = aged(tmp_path / f"{SCRATCH_PREFIX}live", 1800 + 60)  # a job at its deadline, still stopping
    other = aged(tmp_path / "someone-elses", 10 * 1800)
    assert sweep_stale(str(tmp_path), job_timeout_s=1800) == 1
    assert not stale.exists() and running.exists() and other.exists()


def test_a_killed_workers_folder_is_swept(tmp_path: Path) -> None:
    """A real process dies with SIGKILL inside its TemporaryDirectory: nothing removes the
    folder then; the sweep does, once it is old enough."""
    code = ("import tempfile, time, sys\n"
            f"d = tempfile.TemporaryDirectory(prefix={SCRATCH_PREFIX!r}, dir=sys.argv[1])\n"
            "open(d.name + '/partial.mp4', 'wb').write(b'x')\n"
            "print(d.name, flush=True)\n"
            "time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    left = Path(proc.stdout.readline().strip())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert left.is_dir()  # what the OOM killer leaves behind
    assert sweep_stale(str(tmp_path), job_timeout_s=1800) == 0  # too young to be sure
    old = time.time() - 3601
    os.utime(left, (old, old))
    assert sweep_stale(str(tmp_path), job_timeout_s=1800) == 1 and not left.exists()


def test_a_missing_scratch_folder_is_not_an_error(tmp_path: Path) -> None:
    assert sweep_stale(str(tmp_path / "none"), job_timeout_s=10) == 0
