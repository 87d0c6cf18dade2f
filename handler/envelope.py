"""The job envelope (CONTRACT.md, "Job envelope"): shape, size and plain-JSON checks.

``job["input"]`` arrives already parsed by the SDK (Python's ``json``), which accepts things the
JSON standard does not - ``NaN``, ``Infinity``, integers of thousands of digits - and nests as
deep as its recursion limit allows. Those are refused here, before anything else looks at the
payload: a ``NaN`` echoed back in ``params.meta`` makes the SDK emit invalid JSON, a deep
nesting makes every recursive consumer (``json.dumps``, pydantic) fail in its own way.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from reelgpu.specs import SPEC_MODELS

from .errors import JobError, safe_text

#: Nesting depth of ``input`` (the envelope itself is 1; a keyframe is at 5). ``params.meta`` is
#: free-form, so the bound is generous but finite.
MAX_DEPTH = 64
#: Integers beyond 64 bits are not interoperable JSON (RFC 7493) and no field needs one.
MAX_ABS_INT = 2**63
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


class JobInput(BaseModel):
    """The job envelope. Unknown keys are refused: a typo such as ``outputKey`` must fail
    loudly, not fall back to something."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    job_id: str = Field(description="the caller's job id; stored with the output for idempotency")
    user_id: str = Field(description="the user's storage prefix")
    type: str = Field(description="export name: framing | overlay | annotate")
    input_key: str
    output_key: str
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("job_id")
    @classmethod
    def _job_id(cls, value: str) -> str:
        # It travels in object metadata (an HTTP header) and in log lines: keep it plain ASCII.
        if not _JOB_ID.match(value):
            raise ValueError("must be 1-128 characters of letters, digits, '.', '_', ':' or '-'")
        return value

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in SPEC_MODELS:
            raise ValueError(f"unknown export {safe_text(value, 40)!r}; expected one of {sorted(SPEC_MODELS)}")
        return value


Trail = tuple[Any, "str | int"] | None  # (parent trail, key): a path, built only when needed


def _where(trail: Trail, limit: int = 12) -> str:
    parts: list[str | int] = []
    while trail is not None:
        trail, key = trail
        parts.append(key)
    parts.reverse()
    out = "input"
    for part in parts[:limit]:
        out += f"[{part}]" if isinstance(part, int) else f".{safe_text(part, 40)}"
    return out + ("..." if len(parts) > limit else "")


def _not_plain(trail: Trail, why: str, limit: int = 12) -> JobError:
    where = _where(trail, limit)
    # A path cut short ("input.params.k.k...") names its shown part, a real field above the fault.
    field = where.removesuffix("...").removeprefix("input.") if trail else "input"
    return JobError("INVALID_INPUT", f"{where}: {why}", field=field)


def check_plain_json(raw: Any) -> None:
    """Depth, types and numbers of the payload, without recursion (so any depth is safe).

    Only JSON values are allowed: objects with string keys, arrays, strings, finite numbers,
    integers within 64 bits, booleans and null. One pass, a small tuple per node: a 10 MB
    payload takes a fraction of a second.
    """
    stack: list[tuple[Any, int, Trail]] = [(raw, 0, None)]
    while stack:
        value, depth, trail = stack.pop()
        if depth > MAX_DEPTH:
            raise _not_plain(trail, f"nested deeper than {MAX_DEPTH} levels", limit=8)
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise _not_plain(trail, "object keys must be strings")
                stack.append((item, depth + 1, (trail, key)))
        elif isinstance(value, (list, tuple)):
            stack.extend((item, depth + 1, (trail, i)) for i, item in enumerate(value))
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise _not_plain(trail, f"{value} is not a JSON number")
        elif isinstance(value, bool) or value is None or isinstance(value, str):
            continue
        elif isinstance(value, int):
            if abs(value) > MAX_ABS_INT:
                raise _not_plain(trail, "integer out of the 64-bit range")
        else:
            raise _not_plain(trail, f"{type(value).__name__} is not a JSON value")


def payload_size(raw: Any) -> int:
    """UTF-8 size of the payload as JSON (after :func:`check_plain_json`)."""
    try:
        return len(json.dumps(raw, ensure_ascii=False, allow_nan=False).encode("utf-8"))
    except UnicodeEncodeError:
        raise JobError("INVALID_INPUT", "input: a string holds a lone surrogate (not valid Unicode)",
                       field="input") from None
    except (TypeError, ValueError, RecursionError):
        raise JobError("INVALID_INPUT", "input: not JSON-serialisable", field="input") from None


def parse_envelope(raw: Any) -> JobInput:
    """Validate ``job["input"]``; INVALID_INPUT names the first bad fields."""
    if not isinstance(raw, dict):
        raise JobError("INVALID_INPUT", f"input: expected an object, got {type(raw).__name__}", field="input")
    try:
        return JobInput.model_validate(raw)
    except ValidationError as exc:
        problems, fields = [], []
        for err in exc.errors()[:5]:
            where = ".".join(safe_text(str(p), 60) for p in err["loc"]) or "input"
            fields.append(where)
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check the spelling)"
            elif err["type"] == "missing":
                msg = "required"
            problems.append(f"input.{where}: {msg}")
        raise JobError("INVALID_INPUT", "; ".join(problems), field=fields[0] if fields else None) from None


def fingerprint(envelope: JobInput) -> str:
    """Hash of everything that determines the output, so a reused job id with a different
    request renders again instead of returning a stale object."""
    canonical = json.dumps(
        {"type": envelope.type, "user_id": envelope.user_id, "input_key": envelope.input_key,
         "output_key": envelope.output_key, "params": envelope.params},
        sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
