"""Throttled, monotonic progress updates (``{"progress", "phase", "message"}``)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger("handler.job")

ProgressSender = Callable[[dict[str, Any]], None]

# Share of the 0-100 bar per phase. "complete" is carried by the final result itself:
# a separate progress POST can arrive after the result and leave the job shown IN_PROGRESS
# (runpod-python#250).
PHASE_SPANS = {"download": (0, 10), "processing": (10, 90), "encoding": (90, 92), "upload": (92, 99)}


class Progress:
    """Throttled, monotonic progress: at most one update per ``min_interval`` seconds.

    ``runpod.serverless.progress_update`` starts a thread, an event loop and an HTTP session
    per call; the export reports every frame, so the throttle is what keeps that affordable.
    Called from the export's worker thread and from s3transfer threads, hence the lock.
    """

    def __init__(self, send: ProgressSender, min_interval: float = 0.5) -> None:
        self._send = send
        self._min_interval = min_interval
        self._lock = threading.Lock()
        self._last_time: float | None = None
        self._last: tuple[str, int] | None = None
        self._pct = 0

    def report(self, phase: str, fraction: float = 0.0, message: str = "") -> None:
        lo, hi = PHASE_SPANS[phase]
        pct = int(lo + (hi - lo) * min(1.0, max(0.0, fraction)))
        with self._lock:
            pct = max(pct, self._pct)
            now = time.monotonic()
            if self._last == (phase, pct):
                return
            if self._last_time is not None and now - self._last_time < self._min_interval:
                return
            self._last_time, self._last, self._pct = now, (phase, pct), pct
        try:
            self._send({"progress": pct, "phase": phase, "message": message})
        except Exception:  # progress is best effort; it must never fail a job
            log.debug("progress update failed", exc_info=True)

    def frames(self, done: int, total: int) -> None:
        """The export's ``progress(done_frames, total_frames)`` callback."""
        if total and done >= total:
            self.report("encoding", 0.0, "finishing the file")
        else:
            self.report("processing", done / total if total else 0.0, f"frame {done} of {total}")


def default_sender(job: Mapping[str, Any]) -> ProgressSender:
    """On RunPod: ``progress_update`` (visible in ``/status``). Elsewhere (``--test_input``,
    ``--rp_serve_api``) the SDK would POST to a placeholder URL and log an error per update,
    so progress goes to the log instead."""
    if os.environ.get("RUNPOD_WEBHOOK_POST_OUTPUT"):
        from runpod.serverless import progress_update

        return lambda payload: progress_update(dict(job), payload)
    job_id = str(job.get("id", "?"))
    return lambda payload: log.info("%s | progress %s%% %s: %s", job_id, payload["progress"],
                                    payload["phase"], payload["message"])
