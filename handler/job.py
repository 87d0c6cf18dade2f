"""One RunPod job: validate, fetch inputs, run a reelgpu export, publish the result.

The handler knows nothing about pixels: the parameter contract is :mod:`reelgpu.specs`, the work
is ``reelgpu.<type>(...)``. This module is the flow; each concern around it has its own module:

* :mod:`handler.plan` (with :mod:`.envelope`, :mod:`.keys`) - everything checked before any I/O,
  including tenant isolation (the ``{user_id}/`` prefix cannot be escaped);
* :mod:`handler.inputs` - HEAD every input, then download into a per-job temp dir;
* :mod:`handler.outputs` / :mod:`handler.publish` - verify, then publish atomically (extras
  first, the marker object last) with the job id and a fingerprint for idempotency;
* :mod:`handler.errors` - the error contract; nothing escapes :func:`run_job_sync`, because an
  uncaught exception would make the SDK send a traceback, hostname and worker id to the caller;
* :mod:`handler.context` / :mod:`handler.progress` - deadline, cooperative cancel, throttled progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import reelgpu

from .context import JobContext
from .errors import error_result
from .inputs import fetch_inputs, keys_for_paths, name_keys, read_failure
from .outputs import collect_outputs, local_output_name, name_sidecar_sources
from .plan import plan_job
from .progress import ProgressSender, default_sender
from .publish import publish, reuse, success
from .scratch import job_folder, sweep_stale
from .settings import Settings, env_number
from .storage import Storage, storage_from_env

log = logging.getLogger("handler.job")

# The result's backend["fallback"] (the NVDEC refusal behind a CPU re-run) is cut to this, so a
# long driver message cannot push the stored summary past its size budget.
FALLBACK_CHARS = 300


def process(job: Mapping[str, Any], storage: Storage, ctx: JobContext) -> dict[str, Any]:
    """The job's work, synchronous (it runs on the worker thread). Raises on failure."""
    t_start = time.monotonic()
    plan = plan_job(job.get("input"), ctx.settings)
    env = plan.envelope
    log.info("%s | job %s: %s %r -> %r (%s)", job.get("id", "?"), env.job_id, env.type,
             env.input_key, env.output_key, storage.describe())
    reused = reuse(plan, storage)
    if reused is not None:
        log.info("%s | job %s already published under %r: reused without rendering",
                 job.get("id", "?"), env.job_id, env.output_key)
        return reused

    sweep_stale(ctx.settings.scratch_dir, ctx.settings.job_timeout_s)
    # ExitStack after job_folder: the lazy inputs are closed before their folder is removed.
    with job_folder(ctx.settings.scratch_dir) as work, contextlib.ExitStack() as lazies:
        ctx.progress.report("download", 0.0, "checking inputs")
        t0 = time.monotonic()
        src, sources, names, ranged = fetch_inputs(plan, storage, work, ctx, lazies)
        t_download = time.monotonic() - t0

        out_dir = work / "out"
        out_dir.mkdir()
        dst = out_dir / local_output_name(plan)
        export = getattr(reelgpu, env.type)  # looked up per job: tests replace it
        ctx.progress.report("processing", 0.0, f"starting {env.type}")
        t0 = time.monotonic()
        try:
            result = export(src, dst, plan.spec, device=ctx.settings.device, progress=ctx.progress.frames,
                            cancel=ctx.should_stop, sources=sources, limits=ctx.settings.limits)
        except reelgpu.Cancelled:
            ctx.checkpoint()  # TIMEOUT if the deadline passed, CANCELLED if the flag was set
            raise
        except reelgpu.InputReadError as exc:  # a range read: storage failed, not the media
            raise read_failure(exc, names) from None
        except reelgpu.ReelGpuError as exc:
            raise name_keys(exc, {**names, dst: env.output_key, work: "<scratch>"}) from None
        finally:  # also for a failed job: how much it had read
            for lazy in ranged:
                log.info("%s | job %s: read %d of %d bytes of %r in %d range requests", job.get("id", "?"),
                         env.job_id, lazy.fetched_bytes, lazy.size, names[lazy.path], lazy.requests)
        t_export = time.monotonic() - t0
        if "fallback" in result.backend:  # why NVDEC's refusal sent it to the CPU: keys, not scratch paths
            reason = keys_for_paths(result.backend["fallback"], {**names, dst: env.output_key, work: "<scratch>"})
            result.backend["fallback"] = reason[:FALLBACK_CHARS]
        ctx.checkpoint()

        name_sidecar_sources(result, names)
        outputs = collect_outputs(plan, result, out_dir, dst)
        ctx.checkpoint()
        timings = {k: round(float(v), 4) for k, v in (result.timings_s or {}).items()}
        timings.update(download=round(t_download, 4), export=round(t_export, 4))
        summary = publish(plan, storage, outputs, result, timings, ctx)
        timings["job_total"] = round(time.monotonic() - t_start, 4)
        log.info("%s | job %s done: %s frames, %s bytes, backend %s, %.2f s", job.get("id", "?"),
                 env.job_id, result.frames, summary["bytes"], dict(result.backend), timings["job_total"])
        return success(plan, summary, summary["bytes"], reused=False)


def run_job_sync(job: Mapping[str, Any], storage: Storage | None, ctx: JobContext) -> dict[str, Any]:
    """:func:`process` with every failure turned into the error contract. Never raises."""
    ctx.start_clock()  # the deadline counts from here, not from the queue for a worker thread
    try:
        ctx.checkpoint()  # cancelled while it waited for the thread
        if storage is None:
            storage = storage_from_env()
        return process(job, storage, ctx)
    except Exception as exc:  # everything: the SDK would send an escaped traceback to the caller
        if isinstance(exc, reelgpu.Cancelled) and ctx.timed_out:
            exc = ctx.timeout_error()
        out = error_result(exc)
        raw = job.get("input")
        job_id = raw.get("job_id") if isinstance(raw, dict) else None
        # For INTERNAL the line ties the error's ref (logged with the traceback) to the job.
        log.log(logging.ERROR if out["code"] == "INTERNAL" else logging.WARNING, "%s | job %r failed: %s",
                job.get("id", "?"), job_id, out["error"])
        return out
    finally:
        ctx.progress.close()  # every update posted before the result is returned


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
    started = asyncio.Event()
    ctx.on_start = lambda: loop.call_soon_threadsafe(started.set)
    future = loop.run_in_executor(_executor(settings.concurrency), run_job_sync, job, storage, ctx)
    try:
        # The thread honours the deadline between frames; this outer limit covers a stage that
        # cannot (a hung download or decoder): answer TIMEOUT and ask for a fresh worker. Like
        # the deadline, it counts from when a worker thread takes the job, not from the queue.
        waiting = asyncio.ensure_future(started.wait())
        try:
            await asyncio.wait({future, waiting}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
        return await asyncio.wait_for(asyncio.shield(future), timeout=settings.job_timeout_s + CANCEL_GRACE_S)
    except asyncio.TimeoutError:
        ctx.cancel_event.set()
        log.error("%s | job did not stop at its deadline; asking for a fresh worker", job.get("id", "?"))
        # The thread goes on until it notices: no update of it may land after this result.
        await loop.run_in_executor(None, ctx.progress.close)
        return {**error_result(ctx.timeout_error()), "refresh_worker": True}
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
    try:  # the same reading as Settings.from_env (a bad value stopped the worker at start-up)
        return env_number(os.environ, "REELGPU_CONCURRENCY", 1, minimum=1, integer=True)
    except ValueError:
        return 1
