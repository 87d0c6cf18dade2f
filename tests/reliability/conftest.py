"""Fixtures for the reliability suite: fault proxy, worker process, isolated temp dirs.

The moto S3 server, the bucket client and the sample video are the integration suite's own
fixtures, re-registered here (not copied). Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def _load_support() -> Any:
    spec = importlib.util.spec_from_file_location("reelgpu_reliability_support", Path(__file__).with_name("_support.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_support = _load_support()

# The integration suite's fixtures (session-scoped moto server, R2-style client, tiny video).
moto_endpoint = _support.it.moto_endpoint
s3 = _support.it.s3
sample_video = _support.it.sample_video


@pytest.fixture(scope="session")
def rel() -> Any:
    """The helpers of ``_support.py`` (test modules cannot import it themselves)."""
    return _support


@pytest.fixture()
def isolated_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A dedicated system temp dir: anything the handler or library leaves in "the" temp dir
    (tempfile's default) shows up here, and the test can require it to be empty."""
    tmp = tmp_path / "TMPDIR"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    yield tmp


@pytest.fixture(scope="session")
def worker_proxy(moto_endpoint: str, s3: Any) -> Iterator[Any]:
    """The fault proxy in front of moto that the worker process talks to (no random faults;
    any key holding ``/always-503/`` is answered 503, to produce STORAGE_ERROR on demand)."""
    with _support.FaultProxy(moto_endpoint, _support.FaultPlan(rate=0.0)) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def worker(worker_proxy: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One worker process for the HTTP tests: runpod's local API, 4 jobs at a time, fake
    credentials (scanned for in every response and log line), storage through the proxy."""
    work = tmp_path_factory.mktemp("reliability-worker")
    env = _support.clean_env(
        R2_ENDPOINT_URL=worker_proxy.url,
        R2_ACCESS_KEY_ID=_support.FAKE_KEY_ID,
        R2_SECRET_ACCESS_KEY=_support.FAKE_SECRET,
        R2_BUCKET_NAME=_support.BUCKET,
        REELGPU_S3_MAX_ATTEMPTS="2",
        REELGPU_LOG_LEVEL="INFO",
        REELGPU_SCRATCH_DIR=str(work / "scratch"),
        REELGPU_CONCURRENCY="4",
        REELGPU_JOB_TIMEOUT_S="120",
        REELGPU_PROGRESS_INTERVAL_S="0.2",
        TMPDIR=str(work / "tmp"),
        UVICORN_LOG_LEVEL="warning",
        OPENBLAS_NUM_THREADS="1",
    )
    (work / "tmp").mkdir()
    api = _support.start_worker(work, env)
    api.tmpdir = work / "tmp"
    try:
        yield api
    finally:
        _support.stop_worker(api)
