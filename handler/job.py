"""One RunPod job: validate the envelope, fetch inputs, run a reelgpu export, publish the result.

The handler knows nothing about pixels: the parameter contract is :mod:`reelgpu.specs` (no
copy here), the work is ``reelgpu.<type>(...)``. What lives here is what a shared GPU worker
must get right around that call:

* **tenant isolation** - storage keys are validated, never normalised, and the ``{user_id}/``
  prefix cannot be escaped (``games/`` keys are global, read-only footage);
* **clean errors** - every failure becomes ``{"error": "<CODE>: <message>", "code", "retryable"}``;
  an uncaught exception would make the SDK send the traceback, hostname and worker id to the
  caller, so nothing escapes :func:`run_job_sync`;
* **idempotency** - RunPod may run a job twice (retries, re-queued workers): a finished output
  carries the job id and a fingerprint of the request in its metadata and is reused;
* **atomic publication** - extra outputs first, the main object last, each visible only complete;
* **bounded work** - payload, input and output sizes, a per-job deadline and cooperative cancel.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

import reelgpu
from reelgpu.limits import Limits, check_spec_limits
from reelgpu.specs import SPEC_MODELS, AnnotateSpec, ExportSpec, parse_spec, referenced_keys

from .storage import Storage, StorageError, content_type_for, storage_from_env

log = logging.getLogger("handler.job")

MAX_KEY_BYTES = 1024
GLOBAL_PREFIX = "games/"
META_JOB_ID = "reelgpu-job-id"
META_FINGERPRINT = "reelgpu-fingerprint"
META_SUMMARY = "reelgpu-summary"
# S3 allows 2 KB of user metadata in all; keep the summary well inside it.
SUMMARY_BUDGET = 1500
MiB = 1024 * 1024
GiB = 1024 * MiB


# --------------------------------------------------------------------------- errors
class JobError(Exception):
    """A failure with a contract code; ``message`` is safe to show to the API caller."""

    def __init__(self, code: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable

    def __str__(self) -> str:
        return self.message


def _forbidden(field: str, why: str) -> JobError:
    return JobError("FORBIDDEN_KEY", f"{field} {why}")


# --------------------------------------------------------------------------- keys
def check_key(key: Any, field: str = "key") -> str:
    """Validate an object key as given; never rewrite it.

    S3 keys are opaque strings: ``u/a/../b`` is *not* ``u/b`` to the bucket, but it is to
    every tool that treats keys as paths, so such keys are refused instead of "cleaned".
    Rejected: empty keys or segments (``a//b``, trailing ``/``), ``.``/``..`` segments,
    a leading ``/``, backslashes, ``%`` (no second decoding layer), control and invisible
    format characters (bidi overrides could disguise a key in a UI), and keys over 1024 bytes.
    """
    if not isinstance(key, str):
        raise JobError("INVALID_INPUT", f"{field} must be a string")
    if not key:
        raise _forbidden(field, "is empty")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise _forbidden(field, "is not valid UTF-8") from None
    if size > MAX_KEY_BYTES:
        raise _forbidden(field, f"is {size} bytes long; keys are limited to {MAX_KEY_BYTES}")
    if key.startswith("/"):
        raise _forbidden(field, "must not start with '/'")
    if "\\" in key:
        raise _forbidden(field, "must not contain a backslash")
    if "%" in key:
        raise _forbidden(field, "must not contain '%'")
    for ch in key:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs"):
            raise _forbidden(field, f"contains the control character U+{ord(ch):04X}")
    for segment in key.split("/"):
        if segment == "":
            raise _forbidden(field, "has an empty path segment")
        if segment in (".", ".."):
            raise _forbidden(field, f"has a {segment!r} path segment")
    return key


def check_user_id(user_id: Any) -> str:
    """``user_id`` is the user's storage prefix (e.g. ``prod/users/<u>/profiles/<p>``).

    It follows the key rules, and its first segment may not be ``games``: that user's prefix
    would then overlap the global footage and let them write into it.
    """
    check_key(user_id, "user_id")
    if (user_id + "/").startswith(GLOBAL_PREFIX):
        raise _forbidden("user_id", "must not be 'games' or start with 'games/' (the shared footage prefix)")
    return user_id


def resolve_key(key: Any, user_id: str, field: str, *, write: bool = False) -> str:
    """Full bucket key for a key from the job: ``{user_id}/{key}``, or ``games/...`` as is.

    ``games/`` is shared footage: readable by every job, writable by none (``write=True``).
    Because neither part may hold ``.``/``..``/empty segments or a leading ``/``, the result
    always starts with ``user_id + "/"`` (or ``games/``): the prefix cannot be escaped.
    """
    check_key(key, field)
    if key.startswith(GLOBAL_PREFIX):
        if write:
            raise _forbidden(field, f"cannot be under {GLOBAL_PREFIX!r} (shared, read-only footage)")
        return key
    full = f"{user_id}/{key}"
    if len(full.encode("utf-8")) > MAX_KEY_BYTES:
        raise _forbidden(field, f"is over {MAX_KEY_BYTES} bytes with the user prefix")
    return full


# --------------------------------------------------------------------------- envelope
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


class JobInput(BaseModel):
    """The job envelope (CONTRACT.md, "Job envelope"). Unknown keys are refused: a typo such as
    ``outputKey`` must fail loudly, not fall back to something."""

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
            raise ValueError(f"unknown export {value!r}; expected one of {sorted(SPEC_MODELS)}")
        return value


def parse_envelope(raw: Any) -> JobInput:
    """Validate ``job["input"]``; INVALID_INPUT names the first bad fields."""
    if not isinstance(raw, dict):
        raise JobError("INVALID_INPUT", f"input: expected an object, got {type(raw).__name__}")
    try:
        return JobInput.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err["loc"]) or "input"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check the spelling)"
            elif err["type"] == "missing":
                msg = "required"
            problems.append(f"input.{where}: {msg}")
        raise JobError("INVALID_INPUT", "; ".join(problems)) from None


# --------------------------------------------------------------------------- settings
def _limits_from_env(env: Mapping[str, str]) -> Limits:
    """``REELGPU_LIMIT_<FIELD>`` overrides any field of :class:`reelgpu.Limits`."""
    overrides: dict[str, Any] = {}
    for f in dataclasses.fields(Limits):
        raw = env.get(f"REELGPU_LIMIT_{f.name.upper()}")
        if raw:
            default = getattr(Limits(), f.name)
            overrides[f.name] = type(default)(float(raw)) if isinstance(default, int) else float(raw)
    return Limits(**overrides)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Worker configuration, from the environment (see docs/handler.md)."""

    device: str = "auto"
    job_timeout_s: float = 1800.0
    max_input_bytes: int = 8 * GiB
    max_output_bytes: int = 16 * GiB
    scratch_dir: str | None = None
    progress_interval_s: float = 0.5
    concurrency: int = 1
    limits: Limits = dataclasses.field(default_factory=Limits)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        device = env.get("REELGPU_DEVICE", "auto")
        if device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"REELGPU_DEVICE must be auto, cpu or cuda, got {device!r}")
        return cls(
            device=device,
            job_timeout_s=float(env.get("REELGPU_JOB_TIMEOUT_S", cls.job_timeout_s)),
            max_input_bytes=int(float(env.get("REELGPU_MAX_INPUT_BYTES", cls.max_input_bytes))),
            max_output_bytes=int(float(env.get("REELGPU_MAX_OUTPUT_BYTES", cls.max_output_bytes))),
            scratch_dir=env.get("REELGPU_SCRATCH_DIR") or None,
            progress_interval_s=float(env.get("REELGPU_PROGRESS_INTERVAL_S", cls.progress_interval_s)),
            concurrency=max(1, int(env.get("REELGPU_CONCURRENCY", cls.concurrency))),
            limits=_limits_from_env(env),
        )


# --------------------------------------------------------------------------- progress
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


# --------------------------------------------------------------------------- job context
class JobContext:
    """Cancel flag + deadline + progress for one job, shared with the worker thread."""

    def __init__(self, settings: Settings, send: ProgressSender) -> None:
        self.settings = settings
        self.cancel_event = threading.Event()
        self.deadline = time.monotonic() + settings.job_timeout_s
        self.progress = Progress(send, settings.progress_interval_s)

    @property
    def timed_out(self) -> bool:
        return time.monotonic() > self.deadline

    def should_stop(self) -> bool:
        """The export's ``cancel()`` callback, checked between frames."""
        return self.cancel_event.is_set() or self.timed_out

    def checkpoint(self) -> None:
        """Between phases, and from transfer callbacks (raising there aborts the transfer)."""
        if self.timed_out:
            raise _timeout_error(self.settings)
        if self.cancel_event.is_set():
            raise JobError("CANCELLED", "the job was cancelled")


def _timeout_error(settings: Settings) -> JobError:
    return JobError("TIMEOUT", f"the job ran past its deadline of {settings.job_timeout_s:g} s "
                               "(REELGPU_JOB_TIMEOUT_S)", retryable=True)


# --------------------------------------------------------------------------- the job
@dataclasses.dataclass
class _Plan:
    envelope: JobInput
    spec: ExportSpec
    input_full: str
    output_full: str
    sources: dict[str, str]  # spec key as written -> full key
    marker_key: str  # user-relative key whose object proves the job finished
    fingerprint: str


def fingerprint(envelope: JobInput) -> str:
    """Hash of everything that determines the output, so a reused job id with a different
    request renders again instead of returning a stale object."""
    canonical = json.dumps(
        {"type": envelope.type, "user_id": envelope.user_id, "input_key": envelope.input_key,
         "output_key": envelope.output_key, "params": envelope.params},
        sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _is_clips_mode(spec: ExportSpec) -> bool:
    return isinstance(spec, AnnotateSpec) and spec.mode == "clips"


def plan_job(raw_input: Any, settings: Settings) -> _Plan:
    """Everything that can be checked without touching storage, in the order a caller
    wants to hear about it: size, envelope, keys, params, limits."""
    try:
        size = len(json.dumps(raw_input, ensure_ascii=False, default=str).encode("utf-8"))
    except (TypeError, ValueError):
        raise JobError("INVALID_INPUT", "input: not JSON-serialisable") from None
    if size > settings.limits.max_payload_bytes:
        raise JobError("LIMIT_EXCEEDED", f"job payload is {size} bytes, over the limit of "
                                         f"{settings.limits.max_payload_bytes}")
    env = parse_envelope(raw_input)
    user = check_user_id(env.user_id)
    input_full = resolve_key(env.input_key, user, "input_key")
    output_full = resolve_key(env.output_key, user, "output_key", write=True)
    spec = parse_spec(env.type, env.params)
    check_spec_limits(spec, settings.limits)
    sources = {key: resolve_key(key, user, f"params key {key!r}") for key in referenced_keys(spec)}
    if output_full == input_full or output_full in sources.values():
        raise JobError("INVALID_INPUT", "output_key must differ from every input key")
    # In clips mode output_key is a prefix; the sidecar (uploaded last) marks completion.
    marker = env.output_key + ".json" if _is_clips_mode(spec) else env.output_key
    resolve_key(marker, user, "output_key", write=True)
    return _Plan(env, spec, input_full, output_full, sources, marker, fingerprint(env))


def _summary_meta(summary: dict[str, Any]) -> str:
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


def _reuse(plan: _Plan, storage: Storage) -> dict[str, Any] | None:
    """The finished result of this very job, if it is already published."""
    user = plan.envelope.user_id
    marker_full = resolve_key(plan.marker_key, user, "output_key", write=True)
    meta = storage.metadata(marker_full)
    if not meta or meta.get(META_JOB_ID) != plan.envelope.job_id or meta.get(META_FINGERPRINT) != plan.fingerprint:
        return None
    try:
        summary = json.loads(meta.get(META_SUMMARY) or "{}")
    except ValueError:
        summary = {}
    size = storage.head(marker_full) if plan.marker_key == plan.envelope.output_key else summary.get("bytes")
    return _success(plan, summary, size or 0, reused=True)


def _success(plan: _Plan, summary: Mapping[str, Any], size: int, *, reused: bool) -> dict[str, Any]:
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


def _local_name(index: int, key: str) -> str:
    """Local file names are ours, never derived from a key beyond a plain extension."""
    ext = re.search(r"\.[A-Za-z0-9]{1,8}$", key.rsplit("/", 1)[-1])
    return f"{index:02d}{ext.group(0).lower() if ext else '.bin'}"


def _fetch_inputs(plan: _Plan, storage: Storage, work: Path,
                  ctx: JobContext) -> tuple[Path, dict[str, str], dict[Path, str]]:
    """HEAD every input (existence, size cap, disk room) before downloading any of them.

    Returns the main input's path, ``sources`` for the export, and local path -> key as the
    caller wrote it (so that library errors name the key, not our scratch file)."""
    wanted: dict[str, str] = {plan.input_full: f"input_key {plan.envelope.input_key!r}"}
    shown: dict[str, str] = {plan.input_full: plan.envelope.input_key}
    for key, full in plan.sources.items():
        wanted.setdefault(full, f"params key {key!r}")
        shown.setdefault(full, key)
    sizes: dict[str, int] = {}
    for full, label in wanted.items():
        size = storage.head(full)
        if size is None:
            raise JobError("INPUT_NOT_FOUND", f"{label} does not exist")
        if size > ctx.settings.max_input_bytes:
            raise JobError("LIMIT_EXCEEDED", f"{label} is {size} bytes, over the input limit of "
                                             f"{ctx.settings.max_input_bytes} (REELGPU_MAX_INPUT_BYTES)")
        sizes[full] = size
    total = sum(sizes.values())
    free = shutil.disk_usage(work).free
    if free < total + 256 * MiB:
        raise JobError("STORAGE_ERROR", f"not enough scratch space for {total} bytes of input "
                                        f"({free} bytes free)", retryable=True)
    in_dir = work / "in"
    in_dir.mkdir()
    done = 0

    def on_bytes(n: int) -> None:
        nonlocal done
        done += n
        ctx.checkpoint()  # raising here aborts the transfer
        ctx.progress.report("download", done / total if total else 1.0, "downloading input")

    local: dict[str, Path] = {}
    for i, full in enumerate(wanted):
        path = in_dir / _local_name(i, full)
        storage.download(full, path, progress=on_bytes)
        local[full] = path
        ctx.checkpoint()
    sources = {key: str(local[full]) for key, full in plan.sources.items()}
    return local[plan.input_full], sources, {path: shown[full] for full, path in local.items()}


def _name_keys(exc: Exception, names: Mapping[Path, str]) -> Exception:
    """Rewrite scratch paths in a library error message into the storage keys they came from."""
    message = str(exc)
    for path, key in names.items():
        message = message.replace(str(path), key)
        message = re.sub(rf"(?<![\w/.-]){re.escape(path.name)}(?![\w.-])", lambda _m, k=key: k, message)
    if isinstance(exc, reelgpu.ReelGpuError):
        exc.message = message
        exc.args = (message,)
    return exc


def _output_files(result: Any, out_dir: Path) -> list[Path]:
    """The files behind ``result.output`` and ``result.extra_outputs`` (folders expanded), all of
    which must lie in our output folder: anything else would be published from elsewhere."""
    files: list[Path] = []
    main = Path(result.output)
    if main.is_file():
        files.append(main)
    elif main.is_dir():
        files.extend(sorted(p for p in main.rglob("*") if p.is_file()))
    for extra in result.extra_outputs or []:
        extra = Path(extra)
        if extra.is_dir():
            files.extend(sorted(p for p in extra.rglob("*") if p.is_file()))
        elif extra.is_file():
            files.append(extra)
    unique = list(dict.fromkeys(p.resolve() for p in files))
    for path in unique:
        if not path.is_relative_to(out_dir.resolve()):
            raise JobError("INTERNAL", "the export wrote an output outside its output folder")
    return unique


def _verify_video(path: Path) -> None:
    """Never publish what the editor cannot play: frames, a duration, and moov before mdat."""
    try:
        info = reelgpu.probe(path)
    except Exception as exc:
        raise JobError("INTERNAL", f"output verification failed: the file does not probe "
                                   f"({type(exc).__name__})") from None
    problems = []
    if not (info.frame_count or 0) > 0:
        problems.append("no video frames")
    if not (info.duration_s or 0) > 0:
        problems.append("zero duration")
    if not info.faststart:
        problems.append("moov atom after mdat (not faststart)")
    if problems:
        raise JobError("INTERNAL", f"output verification failed: {', '.join(problems)}")


def _write_manifest(path: Path, keys: list[str], plan: _Plan) -> None:
    """Clips mode without a library sidecar: list what was published, as the completion marker."""
    path.write_text(json.dumps({"job_id": plan.envelope.job_id, "outputs": keys}, indent=2), encoding="utf-8")


def process(job: Mapping[str, Any], storage: Storage, ctx: JobContext) -> dict[str, Any]:
    """The job's work, synchronous (it runs on the worker thread). Raises on failure."""
    t_start = time.monotonic()
    plan = plan_job(job.get("input"), ctx.settings)
    env = plan.envelope
    log.info("%s | job %s: %s %r -> %r (%s)", job.get("id", "?"), env.job_id, env.type,
             env.input_key, env.output_key, storage.describe())
    reused = _reuse(plan, storage)
    if reused is not None:
        log.info("%s | job %s already published under %r: reused without rendering",
                 job.get("id", "?"), env.job_id, env.output_key)
        return reused

    scratch = ctx.settings.scratch_dir
    if scratch:
        Path(scratch).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="reelgpu-job-", dir=scratch, ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        ctx.progress.report("download", 0.0, "checking inputs")
        t0 = time.monotonic()
        src, sources, names = _fetch_inputs(plan, storage, work, ctx)
        t_download = time.monotonic() - t0

        out_dir = work / "out"
        out_dir.mkdir()
        dst = out_dir / _local_output_name(plan)
        export = getattr(reelgpu, env.type)
        ctx.progress.report("processing", 0.0, f"starting {env.type}")
        t0 = time.monotonic()
        try:
            result = export(src, dst, plan.spec, device=ctx.settings.device, progress=ctx.progress.frames,
                            cancel=ctx.should_stop, sources=sources, limits=ctx.settings.limits)
        except reelgpu.Cancelled:
            ctx.checkpoint()  # TIMEOUT if the deadline passed, CANCELLED if the flag was set
            raise
        except reelgpu.ReelGpuError as exc:
            raise _name_keys(exc, {**names, dst: env.output_key, work: "<scratch>"}) from None
        t_export = time.monotonic() - t0
        ctx.checkpoint()

        outputs = _collect_outputs(plan, result, out_dir, dst)
        ctx.checkpoint()
        timings = {k: round(float(v), 4) for k, v in (result.timings_s or {}).items()}
        timings.update(download=round(t_download, 4), export=round(t_export, 4))
        summary = _publish(plan, storage, outputs, result, timings, ctx)
        timings["job_total"] = round(time.monotonic() - t_start, 4)
        log.info("%s | job %s done: %s frames, %s bytes, backend %s, %.2f s", job.get("id", "?"),
                 env.job_id, result.frames, summary["bytes"], dict(result.backend), timings["job_total"])
        return _success(plan, summary, summary["bytes"], reused=False)


def _local_output_name(plan: _Plan) -> str:
    """The export's ``dst`` name: the key's last segment, plus ``.mp4`` when it lacks one, since
    the container format follows the file extension (clips mode: a folder, used as is)."""
    name = plan.envelope.output_key.rsplit("/", 1)[-1]
    if not _is_clips_mode(plan.spec) and not name.lower().endswith(".mp4"):
        name += ".mp4"
    return name


def _collect_outputs(plan: _Plan, result: Any, out_dir: Path, dst: Path) -> dict[str, tuple[Path, str]]:
    """Every file the export wrote, as user-relative key -> (path, Content-Type), checked.

    Files map to keys by their place beside ``dst``: ``<dst>.json`` becomes
    ``<output_key>.json``, ``<dst>/x.mp4`` becomes ``<output_key>/x.mp4``."""
    env = plan.envelope
    clips_mode = _is_clips_mode(plan.spec)
    files = _output_files(result, out_dir)
    if not files and not clips_mode:  # clips mode: possibly no clip reached min_rating
        raise JobError("INTERNAL", "the export produced no output file")
    out_base, _, basename = env.output_key.rpartition("/")
    out_base = out_base + "/" if out_base else ""
    keyed: dict[str, Path] = {}
    for path in files:
        rel = path.relative_to(out_dir.resolve()).as_posix()
        if rel.startswith(dst.name):  # the local name may carry an added ".mp4"
            rel = basename + rel[len(dst.name):]
        keyed[out_base + rel] = path
    if plan.marker_key not in keyed:
        if not clips_mode:
            raise JobError("INTERNAL", "the export did not write its main output")
        manifest = out_dir / (dst.name + ".json")
        _write_manifest(manifest, sorted(keyed), plan)
        keyed[plan.marker_key] = manifest.resolve()
    outputs: dict[str, tuple[Path, str]] = {}
    for key, path in keyed.items():
        resolve_key(key, env.user_id, "output", write=True)  # library-chosen names obey the rules too
        # The main output is a video whatever its key's extension; the rest go by extension.
        ctype = "video/mp4" if (key == env.output_key and not clips_mode) else content_type_for(key)
        if ctype == "video/mp4":
            _verify_video(path)
        outputs[key] = (path, ctype)
    return outputs


def _publish(plan: _Plan, storage: Storage, outputs: dict[str, tuple[Path, str]], result: Any,
             timings: dict[str, float], ctx: JobContext) -> dict[str, Any]:
    """Upload extras first and the marker object last (its presence, with the job id and the
    result summary in its metadata, is what "this job is done" means). Returns the summary."""
    env = plan.envelope
    total = sum(path.stat().st_size for path, _ in outputs.values())
    if total > ctx.settings.max_output_bytes:
        raise JobError("LIMIT_EXCEEDED", f"output is {total} bytes, over the limit of "
                                         f"{ctx.settings.max_output_bytes} (REELGPU_MAX_OUTPUT_BYTES)")
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
                   metadata={**base_meta, META_SUMMARY: _summary_meta(summary)}, progress=on_bytes)
    timings["upload"] = round(time.monotonic() - t0, 4)
    return summary


# --------------------------------------------------------------------------- error mapping
_SECRET_ENV = re.compile(r"(SECRET|ACCESS_KEY|API_KEY|TOKEN|PASSWORD|CREDENTIAL)", re.I)
_SECRET_PATTERNS = [
    re.compile(r"(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s'\"]+", re.I),
    re.compile(r"(aws_secret_access_key\s*[=:]\s*)\S+", re.I),
]


def _secret_values() -> list[str]:
    values = [v for k, v in os.environ.items() if _SECRET_ENV.search(k) and v and len(v) >= 8]
    return sorted(set(values), key=len, reverse=True)


def scrub(text: str) -> str:
    """Remove credential values (from the environment) and presigned-URL signatures."""
    for value in _secret_values():
        text = text.replace(value, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1***", text)
    return text


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


def _needs_fresh_worker(exc: BaseException) -> bool:
    """CUDA faults are sticky for the process: ask RunPod for a fresh worker after one."""
    if isinstance(exc, MemoryError):
        return True
    module = type(exc).__module__ or ""
    return module.startswith(("cupy", "cupy_backends", "PyNvVideoCodec")) or "CUDA" in type(exc).__name__


def error_result(exc: BaseException) -> dict[str, Any]:
    """``{"error": "<CODE>: <message>", "code", "retryable"}`` for any exception."""
    code = getattr(exc, "code", None)
    if isinstance(exc, (JobError, StorageError, reelgpu.ReelGpuError)) and isinstance(code, str):
        message = scrub(str(exc))[:2000] or code.lower()
        return {"error": f"{code}: {message}", "code": code, "retryable": bool(exc.retryable)}
    ref = uuid.uuid4().hex[:12]
    log.error("internal error (ref %s)", ref, exc_info=(type(exc), exc, exc.__traceback__))
    out: dict[str, Any] = {"error": f"INTERNAL: internal error (ref {ref}); the worker log has the details",
                           "code": "INTERNAL", "retryable": False}
    if _needs_fresh_worker(exc):
        out["refresh_worker"] = True
    return out


def run_job_sync(job: Mapping[str, Any], storage: Storage | None, ctx: JobContext) -> dict[str, Any]:
    """:func:`process` with every failure turned into the error contract. Never raises."""
    try:
        if storage is None:
            storage = storage_from_env()
        return process(job, storage, ctx)
    except Exception as exc:  # everything: the SDK would send an escaped traceback to the caller
        if isinstance(exc, reelgpu.Cancelled) and ctx.timed_out:
            exc = _timeout_error(ctx.settings)
        out = error_result(exc)
        if out["code"] != "INTERNAL":
            raw = job.get("input")
            job_id = raw.get("job_id") if isinstance(raw, dict) else None
            log.warning("%s | job %r failed: %s", job.get("id", "?"), job_id, out["error"])
        return out


# --------------------------------------------------------------------------- async entry point
_EXECUTOR: ThreadPoolExecutor | None = None
_EXECUTOR_LOCK = threading.Lock()
CANCEL_GRACE_S = 30.0


def _executor(workers: int) -> ThreadPoolExecutor:
    """Jobs run on a small dedicated pool (one thread by default: one GPU, one job), so the
    SDK's event loop stays free to deliver cancellations and to accept the next job."""
    global _EXECUTOR
    with _EXECUTOR_LOCK:
        if _EXECUTOR is None:
            _EXECUTOR = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reelgpu-job")
        return _EXECUTOR


async def run(job: Mapping[str, Any], *, storage: Storage | None = None, settings: Settings | None = None,
              send: ProgressSender | None = None) -> dict[str, Any]:
    """Run one job on the worker thread with a deadline; injectable storage/settings for tests."""
    try:
        settings = settings or Settings.from_env()
    except ValueError as exc:
        return error_result(exc)
    ctx = JobContext(settings, send or default_sender(job))
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(_executor(settings.concurrency), run_job_sync, job, storage, ctx)
    try:
        # The thread honours the deadline between frames; this outer limit covers a stage that
        # cannot (a hung download or decoder): answer TIMEOUT and ask for a fresh worker.
        return await asyncio.wait_for(asyncio.shield(future), timeout=settings.job_timeout_s + CANCEL_GRACE_S)
    except asyncio.TimeoutError:
        ctx.cancel_event.set()
        log.error("%s | job did not stop at its deadline; asking for a fresh worker", job.get("id", "?"))
        return {**error_result(_timeout_error(settings)), "refresh_worker": True}
    except asyncio.CancelledError:
        # RunPod cancelled the job (or it expired): stop the thread between frames, give it time to
        # clean up, then re-raise as the SDK requires.
        ctx.cancel_event.set()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(future), timeout=CANCEL_GRACE_S)
        raise


async def handler(job: dict[str, Any]) -> dict[str, Any]:
    """The RunPod handler: ``{"id", "input": {job_id, user_id, type, input_key, output_key, params}}``."""
    return await run(job)


def concurrency_modifier(current: int) -> int:
    """Jobs in flight per worker: ``REELGPU_CONCURRENCY`` (default 1; one GPU encodes one job
    at a time best). Must always return an int (runpod-python#458)."""
    try:
        return max(1, int(os.environ.get("REELGPU_CONCURRENCY", "1")))
    except ValueError:
        return 1
