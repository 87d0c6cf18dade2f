"""What one running job shares with its worker thread: cancel flag, deadline, progress."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .errors import JobError, timeout_error
from .progress import Progress, ProgressSender
from .settings import Settings


class JobContext:
    """Cancel flag + deadline + progress for one job, shared with the worker thread."""

    def __init__(self, settings: Settings, send: ProgressSender) -> None:
        self.settings = settings
        self.cancel_event = threading.Event()
        self.deadline = time.monotonic() + settings.job_timeout_s
        self.progress = Progress(send, settings.progress_interval_s)
        self.on_start: Callable[[], None] | None = None  # told when the worker thread takes the job

    def start_clock(self) -> None:
        """The job starts running now (it may have waited for a worker thread): its deadline
        is ``job_timeout_s`` from here."""
        self.deadline = time.monotonic() + self.settings.job_timeout_s
        if self.on_start is not None:
            self.on_start()

    @property
    def timed_out(self) -> bool:
        return time.monotonic() > self.deadline

    def should_stop(self) -> bool:
        """The export's ``cancel()`` callback: checked between frames and before each range read
        (from the export's threads too: it only reads an Event and the clock)."""
        return self.cancel_event.is_set() or self.timed_out

    def timeout_error(self) -> JobError:
        return timeout_error(self.settings.job_timeout_s)

    def checkpoint(self) -> None:
        """Between phases, and from transfer callbacks (raising there aborts the transfer)."""
        if self.timed_out:
            raise self.timeout_error()
        if self.cancel_event.is_set():
            raise JobError("CANCELLED", "the job was cancelled")
