"""Everything about a job that can be checked without touching storage, in the order a caller
wants to hear about it: plain JSON, size, envelope, keys, params, limits."""

from __future__ import annotations

import dataclasses
from typing import Any

from reelgpu.limits import check_spec_limits
from reelgpu.specs import AnnotateSpec, ExportSpec, parse_spec, referenced_keys

from .envelope import JobInput, check_plain_json, fingerprint, parse_envelope, payload_size
from .errors import JobError
from .keys import check_user_id, resolve_key
from .settings import Settings


@dataclasses.dataclass
class Plan:
    """A validated job: its envelope, parsed spec and every full key it will touch."""

    envelope: JobInput
    spec: ExportSpec
    input_full: str
    output_full: str
    sources: dict[str, str]  # spec key as written -> full key
    marker_key: str  # user-relative key whose object proves the job finished
    fingerprint: str

    @property
    def clips_mode(self) -> bool:
        return is_clips_mode(self.spec)


def is_clips_mode(spec: ExportSpec) -> bool:
    """Annotate ``mode="clips"``: ``output_key`` is a prefix, not an object."""
    return isinstance(spec, AnnotateSpec) and spec.mode == "clips"


def plan_job(raw_input: Any, settings: Settings) -> Plan:
    """Validate ``job["input"]`` completely; raise :class:`JobError` (or a library error) on the
    first problem. No storage call, no media: cheap enough to run on every request."""
    check_plain_json(raw_input)
    size = payload_size(raw_input)
    if size > settings.limits.max_payload_bytes:
        raise JobError("LIMIT_EXCEEDED", f"job payload is {size} bytes, over the limit of "
                                         f"{settings.limits.max_payload_bytes} (max_payload_bytes)",
                       limit="max_payload_bytes")
    env = parse_envelope(raw_input)
    user = check_user_id(env.user_id)
    input_full = resolve_key(env.input_key, user, "input_key")
    output_full = resolve_key(env.output_key, user, "output_key", write=True)
    spec = parse_spec(env.type, env.params)
    check_spec_limits(spec, settings.limits)
    sources = {key: resolve_key(key, user, f"params key {key!r}") for key in referenced_keys(spec)}
    if output_full == input_full or output_full in sources.values():
        raise JobError("INVALID_INPUT", "output_key must differ from every input key", field="output_key")
    # In clips mode output_key is a prefix; the sidecar (uploaded last) marks completion.
    marker = env.output_key + ".json" if is_clips_mode(spec) else env.output_key
    resolve_key(marker, user, "output_key", write=True)
    return Plan(env, spec, input_full, output_full, sources, marker, fingerprint(env))
