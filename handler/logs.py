"""Worker logging: one stdout stream, every record scrubbed of credentials."""

from __future__ import annotations

import logging
import os
import sys

from .errors import scrub


class ScrubbingFormatter(logging.Formatter):
    """Applied to whole records, tracebacks included: a botocore or library exception text must
    not carry a credential into the worker logs (kept 90 days on RunPod)."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


def configure_logging(level: str | None = None) -> None:
    """Root logging for the worker: INFO by default, ``REELGPU_LOG_LEVEL`` to change it."""
    level = (level or os.environ.get("REELGPU_LOG_LEVEL") or "INFO").upper()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(ScrubbingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # boto's DEBUG output includes request headers (the signature among them).
    for noisy in ("botocore", "boto3", "s3transfer", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.getLogger().level, logging.INFO))
