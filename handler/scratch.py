"""Per-job scratch folders (``reelgpu-job-*``), and those a killed worker left behind.

A job's folder is removed whatever happens to the job, but not when the process itself dies
(SIGKILL, the OOM killer): with multi-GB game inputs, a few such deaths on a container that
restarts on the same disk would fill it, and every later job would fail with "not enough
scratch space". So each job holds an exclusive lock (``flock``) on a file in its folder while
it runs; the kernel releases it when the process dies, however it dies. Before each job makes
its own, folders whose lock can be taken and that were last written a minute ago are removed
(a new folder exists for a moment before its lock is taken: the minute covers another
process's; in this process folder set-up and sweeps take turns). That holds for any mix of
workers and deadlines sharing the scratch folder (an age rule alone removed a live job's folder
when a worker with a shorter deadline shared it). A folder without a lock file (from a worker
that predates the lock) goes only once it is older than twice the deadline.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # not POSIX: only the age rule applies
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("handler.job")

#: Prefix of every per-job temp dir (under ``REELGPU_SCRATCH_DIR`` or the system temp dir).
SCRATCH_PREFIX = "reelgpu-job-"
LOCK_NAME = ".reelgpu-job.lock"
UNLOCKED_MIN_AGE_S = 60.0  # an unlocked folder younger than this may be a job's, being set up
_setting_up = threading.Lock()  # this process's folder set-ups and sweeps take turns


@contextlib.contextmanager
def job_folder(scratch_dir: str | None) -> Iterator[Path]:
    """A new scratch folder for one job, locked while the job runs and removed after it."""
    if scratch_dir:
        Path(scratch_dir).mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        with _setting_up:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX, dir=scratch_dir,
                                                                  ignore_cleanup_errors=True))
            lock = stack.enter_context(open(Path(tmp) / LOCK_NAME, "wb"))
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
        yield Path(tmp)


def _held(lock_path: Path) -> bool | None:
    """Whether a live process holds the folder's lock; None when that cannot be told."""
    if fcntl is None:
        return None
    try:
        lock: IO[bytes] = open(lock_path, "rb")  # noqa: SIM115 - closed below, after the test
    except OSError:
        return None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return None
        fcntl.flock(lock, fcntl.LOCK_UN)
        return False


def sweep_stale(scratch_dir: str | None, job_timeout_s: float) -> int:
    """Remove scratch folders no live job holds; returns how many. Never raises: a folder that
    cannot be removed is left for the next sweep."""
    root = Path(scratch_dir or tempfile.gettempdir())
    now = time.time()
    removed = 0
    with _setting_up:
        try:
            candidates = [p for p in root.glob(SCRATCH_PREFIX + "*") if p.is_dir()]
        except OSError:
            return 0
        for path in candidates:
            held = _held(path / LOCK_NAME)
            try:
                age = now - path.stat().st_mtime
            except OSError:
                continue  # removed meanwhile (its job ended)
            if (held is False and age > UNLOCKED_MIN_AGE_S) or (held is None and age > 2 * job_timeout_s):
                shutil.rmtree(path, ignore_errors=True)
                removed += not path.exists()
    if removed:
        log.warning("removed %d scratch folder(s) left by a worker that was killed mid-job", removed)
    return removed
