"""``python -m handler``: start the RunPod serverless worker.

All the SDK's own flags work, because ``runpod.serverless.start`` parses them:

* no flag, no ``RUNPOD_WEBHOOK_GET_JOB``: run ``./test_input.json`` once and exit (0 = success);
* ``--test_input '{"input": {...}}'``: run that job once and exit;
* ``--rp_serve_api --rp_api_port 8000 [--rp_api_host 0.0.0.0]``: local HTTP API (``POST /runsync``);
* on RunPod: the production job loop.

Before that, a fitness check validates the configuration, logs what this machine can do (the
capability table) and exits early when ``REELGPU_REQUIRE_GPU=1`` and no GPU is usable (or
``REELGPU_REQUIRE_NVENC=1`` and the GPU has no encoder): a GPU endpoint that silently renders on
the CPU costs GPU prices for CPU speed.
"""

from __future__ import annotations

import os

# The frame loop runs decode, render and encode threads; BLAS threads inside the ops would then
# fight them for the cores (crop_scale's small matrix products measured ~10 ms/frame with one
# BLAS thread and ~200 ms with two on a loaded 2-core machine). Set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
import logging
import sys
from typing import Any

log = logging.getLogger("handler")

_RUNPOD_LEVELS = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARN", "WARN": "WARN",
                  "ERROR": "ERROR", "CRITICAL": "ERROR"}


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def gpu_usable(caps: Any) -> bool:
    """Whether ``device="auto"`` would process on the GPU here (NVDEC + CuPy usable)."""
    return bool(getattr(caps, "can_decode_gpu", False))


def nvenc_usable(caps: Any) -> bool:
    """Whether the GPU also encodes (H100/H200/A100 have no NVENC: encode falls back to libx264)."""
    return bool(getattr(caps, "can_encode_gpu", False))


def fitness_check() -> None:
    """Validate the configuration and log the capability table; exit 1 when unfit."""
    from reelgpu import capabilities

    from .settings import Settings
    from .storage import StorageConfigError, storage_from_env

    try:
        settings = Settings.from_env()
        storage = storage_from_env()
    except (ValueError, StorageConfigError) as exc:
        log.error("configuration error: %s", exc)
        sys.exit(1)
    log.info("storage: %s; device=%s; job timeout %gs", storage.describe(), settings.device,
             settings.job_timeout_s)
    problem = storage.bucket_problem() if hasattr(storage, "bucket_problem") else None
    if problem is not None:
        why, certain = problem
        if certain:  # every job would fail: better no worker than one that takes jobs and fails them
            log.error("storage: %s; exiting (check R2_BUCKET_NAME and the API token's permissions)", why)
            sys.exit(1)
        log.warning("storage: %s; starting anyway (jobs fail with a retryable STORAGE_ERROR until it is)", why)
    usable = nvenc = False
    try:
        caps = capabilities()
        table = caps.as_table() if hasattr(caps, "as_table") else str(caps)
        log.info("capabilities:\n%s", table)
        usable, nvenc = gpu_usable(caps), nvenc_usable(caps)
    except Exception as exc:  # a broken probe must not stop a CPU worker; REQUIRE_GPU decides below
        log.warning("capability probe failed: %s: %s", type(exc).__name__, exc)
    if _truthy(os.environ.get("REELGPU_REQUIRE_GPU")) and not usable:
        log.error("REELGPU_REQUIRE_GPU=1 but no usable GPU was found; exiting (check the GPU pool, "
                  "the driver and NVIDIA_DRIVER_CAPABILITIES=compute,utility,video)")
        sys.exit(1)
    if _truthy(os.environ.get("REELGPU_REQUIRE_NVENC")) and not nvenc:
        log.error("REELGPU_REQUIRE_NVENC=1 but this GPU cannot encode (no NVENC: A100/H100/H200?); "
                  "exiting - restrict the endpoint to NVENC GPU pools")
        sys.exit(1)


def main() -> None:
    level = (os.environ.get("REELGPU_LOG_LEVEL") or "INFO").upper()
    # The SDK's logger reads RUNPOD_LOG_LEVEL once, at import, and defaults to DEBUG, which logs
    # every job input and output: set it before runpod is imported.
    os.environ.setdefault("RUNPOD_LOG_LEVEL", _RUNPOD_LEVELS.get(level, "INFO"))

    from .job import concurrency_modifier, handler
    from .logs import configure_logging

    configure_logging(level)
    fitness_check()

    import runpod

    runpod.serverless.start({"handler": handler, "concurrency_modifier": concurrency_modifier})


if __name__ == "__main__":
    main()
