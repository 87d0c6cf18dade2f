"""Publication and idempotency: upload extras first and the marker object last, and answer a
job that already finished from its marker's metadata instead of rendering it again."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from .context import JobContext
from .errors import JobError
from .keys import resolve_key
from .outputs import Outputs
from .plan import Plan
from .storage import Storage

META_JOB_ID = "reelgpu-job-id"
META_FINGERPRINT = "reelgpu-fingerprint"
META_SUMMARY = "reelgpu-summary"
# S3 allows 2 KB of user metadata in all; keep the summary well inside it.
SUMMARY_BUDGET = 1500


def summary_meta(summary: dict[str, Any]) -> str:
    """The result summary stored on the marker object, shrunk to fit the metadata budget."""
    data = dict(summary)
    for drop in (None, "timings_s", "extra_output_keys"):
        if drop:
            data.pop(drop, None)
            if drop == "extra_output_keys":
                data["extra_output_keys_truncated"] = True
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=True, default=str)
        if len(text) <= SUMMARY_BUDGET:
            return text
    return "{}"


def success(plan: Plan, summary: Mapping[str, Any], size: int, *, reused: bool) -> dict[str, Any]:
    """The success result (docs/handler.md, "Result")."""
    result: dict[str, Any] = {
        "status": "success",
        "output_key": plan.envelope.output_key,
        "job_id": plan.envelope.job_id,
        "frames": summary.get("frames"),
        "duration_s": summary.get("duration_s"),
        "bytes": size,
        "backend": summary.get("backend", {}),
        "timings_s": summary.get("timings_s", {}),
        "width": summary.get("width"),
        "height": summary.get("height"),
        "fps": summary.get("fps"),
        "has_audio": summary.get("has_audio"),
        "extra_output_keys": summary.get("extra_output_keys", []),
        "reused": reused,
        "progress": 100,
        "phase": "complete",
    }
    if summary.get("extra_output_keys_truncated"):
        result["extra_output_keys_truncated"] = True
    meta = getattr(plan.spec, "meta", None)
    if meta is not None:
        result["meta"] = meta
    return result


def reuse(plan: Plan, storage: Storage) -> dict[str, Any] | None:
    """The finished result of this very job, if it is already published."""
    marker_full = resolve_key(plan.marker_key, plan.envelope.user_id, "output_key", write=True)
    meta = storage.metadata(marker_full)
    if not meta or meta.get(META_JOB_ID) != plan.envelope.job_id or meta.get(META_FINGERPRINT) != plan.fingerprint:
        return None
    try:
        summary = json.loads(meta.get(META_SUMMARY) or "{}")
    except ValueError:
        summary = {}
    if not isinstance(summary, dict):
        summary = {}
    size = storage.head(marker_full) if plan.marker_key == plan.envelope.output_key else summary.get("bytes")
    return success(plan, summary, size or 0, reused=True)


def publish(plan: Plan, storage: Storage, outputs: Outputs, result: Any,
            timings: dict[str, float], ctx: JobContext) -> dict[str, Any]:
    """Upload extras first and the marker object last (its presence, with the job id and the
    result summary in its metadata, is what "this job is done" means). Returns the summary."""
    env = plan.envelope
    total = sum(path.stat().st_size for path, _ in outputs.values())
    if total > ctx.settings.max_output_bytes:
        raise JobError("LIMIT_EXCEEDED", f"output is {total} bytes, over the limit of "
                                         f"{ctx.settings.max_output_bytes} (REELGPU_MAX_OUTPUT_BYTES)",
                       limit="max_output_bytes")
    extras = sorted(k for k in outputs if k != plan.marker_key)
    videos = [k for k in outputs if outputs[k][1] == "video/mp4"]
    size = sum(outputs[k][0].stat().st_size for k in videos)
    summary: dict[str, Any] = {
        "frames": result.frames, "duration_s": round(float(result.duration_s), 6),
        "width": result.width, "height": result.height, "fps": round(float(result.fps), 6),
        "has_audio": bool(result.has_audio), "backend": dict(result.backend), "bytes": size,
        "extra_output_keys": extras, "timings_s": timings,
    }
    base_meta = {META_JOB_ID: env.job_id, META_FINGERPRINT: plan.fingerprint}
    sent = 0

    def on_bytes(n: int) -> None:
        nonlocal sent
        sent += n
        ctx.checkpoint()  # raising here aborts the transfer
        ctx.progress.report("upload", sent / total if total else 1.0, "uploading")

    t0 = time.monotonic()
    ctx.progress.report("upload", 0.0, "uploading")
    for key in extras:
        path, ctype = outputs[key]
        storage.upload(path, resolve_key(key, env.user_id, "output", write=True), content_type=ctype,
                       metadata=base_meta, progress=on_bytes)
    path, ctype = outputs[plan.marker_key]
    storage.upload(path, resolve_key(plan.marker_key, env.user_id, "output", write=True), content_type=ctype,
                   metadata={**base_meta, META_SUMMARY: summary_meta(summary)}, progress=on_bytes)
    timings["upload"] = round(time.monotonic() - t0, 4)
    return summary
