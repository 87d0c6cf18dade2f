"""Per-job scratch folders (``reelgpu-job-*``) that a killed worker left behind.

A job's folder is removed whatever happens to the job, but not when the process itself dies
(SIGKILL, the OOM killer): with multi-GB game inputs, a few such deaths on a container that
restarts on the same disk would fill it, and every later job would fail with "not enough
scratch space". Folders older than twice the job deadline cannot belong to a running job (a job
stops at its deadline, or its worker is replaced), so they are removed at start-up and before
each job.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from pathlib import Path

log = logging.getLogger("handler.job")

#: Prefix of every per-job temp dir (under ``REELGPU_SCRATCH_DIR`` or the system temp dir).
SCRATCH_PREFIX = "reelgpu-job-"


def sweep_stale(scratch_dir: str | None, job_timeout_s: float) -> int:
    """Remove this worker's kind of scratch folders older than ``2 * job_timeout_s``; returns
    how many. Never raises: a folder that cannot be removed is someone else's problem."""
    root = Path(scratch_dir or tempfile.gettempdir())
    cutoff = time.time() - 2 * job_timeout_s
    removed = 0
    try:
        stale = [p for p in root.glob(SCRATCH_PREFIX + "*") if p.is_dir() and p.stat().st_mtime < cutoff]
    except OSError:
        return 0
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed += 1
    if removed:
        log.warning("removed %d scratch folder(s) left by a worker that was killed mid-job", removed)
    return removed
