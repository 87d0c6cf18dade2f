"""Fixtures for the handler over real HTTP: moto's S3 server as the bucket, and the worker under
the runpod SDK's own local API server (``python -m handler --rp_serve_api``) in a subprocess."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BUCKET = "reelgpu-handler-tests"
# Fake but credential-shaped: every response and log line is scanned for them.
FAKE_KEY_ID = "AKIAREELGPUFAKE7Q2X"
FAKE_SECRET = "reelgpuFakeSecret+9xQ2/DoNotLeak7Kp0Zr"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_video(path: Path, *, width: int = 160, height: int = 96, fps: int = 30, seconds: float = 1.0) -> Path:
    """A tiny H.264 + AAC MP4: reelgpu's generator when present, else a plain PyAV one."""
    try:
        from reelgpu.media.samples import make_sample_video
    except ImportError:
        make_sample_video = None
    if make_sample_video is not None:
        return make_sample_video(path, width=width, height=height, fps=fps, seconds=seconds, audio=True)
    import av
    import numpy as np

    with av.open(str(path), "w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(int(fps * seconds)):
            img = np.full((height, width, 3), (i * 7) % 255, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture(scope="session")
def sample_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("media") / "sample.mp4")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def s3(moto_endpoint: str) -> Any:
    """A boto3 client configured like R2 (region "auto", path-style) with the test bucket."""
    import boto3
    from botocore.config import Config

    client = boto3.session.Session().client(
        "s3", endpoint_url=moto_endpoint, aws_access_key_id=FAKE_KEY_ID,
        aws_secret_access_key=FAKE_SECRET,
        config=Config(region_name="auto", signature_version="s3v4", s3={"addressing_style": "path"},
                      request_checksum_calculation="when_required",
                      response_checksum_validation="when_required"),
    )
    # moto keeps one in-memory backend per process: another test folder's server may have made it.
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "auto"})
    return client


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any real storage credentials, plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("R2_", "AWS_", "RUNPOD_", "REELGPU_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


@dataclass
class HandlerApi:
    """The worker's local API; every response body is kept for the leak scan."""

    base_url: str
    log_path: Path
    scratch: Path
    proc: subprocess.Popen
    responses: list[str] = field(default_factory=list)

    def runsync(self, job_input: dict[str, Any], timeout: float = 300) -> dict[str, Any]:
        import requests

        resp = requests.post(f"{self.base_url}/runsync", json={"input": job_input}, timeout=timeout)
        self.responses.append(resp.text)
        resp.raise_for_status()
        return resp.json()

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="session")
def handler_api(moto_endpoint: str, s3: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HandlerApi]:
    import requests

    work = tmp_path_factory.mktemp("handler-api")
    scratch = work / "scratch"
    log_path = work / "worker.log"
    port = free_port()
    env = clean_env(
        R2_ENDPOINT_URL=moto_endpoint,  # the editor backend's spelling; R2_ENDPOINT also works
        R2_ACCESS_KEY_ID=FAKE_KEY_ID,
        R2_SECRET_ACCESS_KEY=FAKE_SECRET,
        R2_BUCKET_NAME=BUCKET,
        REELGPU_LOG_LEVEL="INFO",
        REELGPU_SCRATCH_DIR=str(scratch),
        REELGPU_PROGRESS_INTERVAL_S="0.2",
        UVICORN_LOG_LEVEL="warning",
    )
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "handler", "--rp_serve_api", "--rp_api_host", "127.0.0.1",
             "--rp_api_port", str(port)],
            cwd=work, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )
    api = HandlerApi(f"http://127.0.0.1:{port}", log_path, scratch, proc)
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the worker exited with {proc.returncode}:\n{api.log_text()[-4000:]}")
        try:
            if requests.get(f"{api.base_url}/openapi.json", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the worker API did not come up:\n{api.log_text()[-4000:]}")
        time.sleep(0.25)
    yield api
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def put_object(s3: Any, key: str, path_or_bytes: Path | bytes, content_type: str = "video/mp4") -> None:
    body = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    s3.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType=content_type)


@pytest.fixture(scope="session")
def it() -> Any:
    """The helpers above for test modules (with --import-mode=importlib they cannot import conftest)."""
    from types import SimpleNamespace

    return SimpleNamespace(BUCKET=BUCKET, FAKE_KEY_ID=FAKE_KEY_ID, FAKE_SECRET=FAKE_SECRET, REPO=REPO,
                           put_object=put_object, make_video=make_video, clean_env=clean_env)
