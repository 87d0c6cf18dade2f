"""The error contract: ``{"error": "<CODE>: <message>", "code", "retryable"}``, and scrubbing.

Every failure a job can meet ends here. Two things make that safe to show to the API caller:

* **no traceback, no secret** - an uncaught exception would make the RunPod SDK send the
  traceback, hostname and worker id to the caller, so anything that is not one of our typed
  errors becomes a generic ``INTERNAL`` with a reference into the worker log;
* **no control characters** - messages name fields and keys the caller wrote; a key such as
  ``"a\\nINFO forged log line"`` must not become two lines in the worker log or a UI, so
  messages are escaped and capped.
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
import uuid
from typing import Any

import reelgpu

log = logging.getLogger("handler.job")

#: Every code a result may carry (CONTRACT.md, "Job envelope").
CODES = frozenset({
    "INVALID_INPUT", "FORBIDDEN_KEY", "INPUT_NOT_FOUND", "UNSUPPORTED_MEDIA", "CORRUPT_MEDIA",
    "LIMIT_EXCEEDED", "STORAGE_ERROR", "BACKEND_UNAVAILABLE", "TIMEOUT", "CANCELLED", "INTERNAL",
})
MAX_MESSAGE_CHARS = 2000


class JobError(Exception):
    """A failure with a contract code; ``message`` is safe to show to the API caller.
    ``field`` (a job-input field, ``"user_id"``, ``"params.clips"``) and ``limit`` (a worker
    setting) go into the result where known, as the library's errors do."""

    def __init__(self, code: str, message: str, *, retryable: bool = False, field: str | None = None,
                 limit: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.field = field
        self.limit = limit

    def __str__(self) -> str:
        return self.message


#: The envelope's key fields; other names given to key checks ("params key 'x'", "output")
#: describe a key rather than name a field of the job.
KEY_FIELDS = frozenset({"user_id", "input_key", "output_key"})


def forbidden(field: str, why: str) -> JobError:
    return JobError("FORBIDDEN_KEY", f"{field} {why}", field=field if field in KEY_FIELDS else None)


def timeout_error(timeout_s: float) -> JobError:
    return JobError("TIMEOUT", f"the job ran past its deadline of {timeout_s:g} s (REELGPU_JOB_TIMEOUT_S)",
                    retryable=True)


# --------------------------------------------------------------------------- scrubbing
_SECRET_ENV = re.compile(r"(SECRET|ACCESS_KEY|API_KEY|TOKEN|PASSWORD|CREDENTIAL)", re.I)
_SECRET_PATTERNS = [
    re.compile(r"(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s'\"]+", re.I),
    re.compile(r"(aws_secret_access_key\s*[=:]\s*)\S+", re.I),
    re.compile(r"(Credential=)[^,\s/]+", re.I),  # an Authorization header names the key id
]


def _secret_values() -> list[str]:
    # Read on every call: the environment is the source of truth, and it is tiny.
    values = [v for k, v in os.environ.items() if _SECRET_ENV.search(k) and v and len(v) >= 8]
    return sorted(set(values), key=len, reverse=True)


def scrub(text: str) -> str:
    """Remove credential values (from the environment) and presigned-URL signatures."""
    for value in _secret_values():
        text = text.replace(value, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1***", text)
    return text


def safe_text(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """One printable line: control, format and separator characters escaped, length capped.

    Callers' keys and field names end up in messages; escaping them keeps every message one
    log line and keeps bidi overrides from disguising what a UI shows.
    """
    out = []
    for ch in text:
        if ch in "\t\n\r" or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            out.append(ch.encode("unicode_escape").decode("ascii") if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
        if len(out) > limit:
            break
    joined = "".join(out)
    return joined if len(joined) <= limit else joined[: limit - 3] + "..."


# --------------------------------------------------------------------------- the contract
def needs_fresh_worker(exc: BaseException) -> bool:
    """CUDA faults are sticky for the process: ask RunPod for a fresh worker after one."""
    if isinstance(exc, MemoryError):
        return True
    module = type(exc).__module__ or ""
    # PyNvVideoCodec's exceptions live in its extension module, "_PyNvVideoCodec"
    return (module.startswith(("cupy", "cupy_backends", "PyNvVideoCodec", "_PyNvVideoCodec"))
            or "CUDA" in type(exc).__name__)


def error_result(exc: BaseException) -> dict[str, Any]:
    """``{"error": "<CODE>: <message>", "code", "retryable"}`` for any exception, with
    ``field`` (the job-input field at fault, relative to ``input``: ``"params.clips[0].name"``)
    and ``limit`` (the limit's name) where the error knows them."""
    code = getattr(exc, "code", None)
    if isinstance(exc, (JobError, reelgpu.ReelGpuError)) and code in CODES:  # StorageError is a JobError
        message = safe_text(scrub(str(exc))) or code.lower()
        out = {"error": f"{code}: {message}", "code": code, "retryable": bool(exc.retryable)}
        for name in ("field", "limit"):
            value = getattr(exc, name, None)
            if isinstance(value, str):
                out[name] = safe_text(value, 200)
        return out
    ref = uuid.uuid4().hex[:12]
    log.error("internal error (ref %s)", ref, exc_info=(type(exc), exc, exc.__traceback__))
    out: dict[str, Any] = {"error": f"INTERNAL: internal error (ref {ref}); the worker log has the details",
                           "code": "INTERNAL", "retryable": False}
    if needs_fresh_worker(exc):
        out["refresh_worker"] = True
    return out
