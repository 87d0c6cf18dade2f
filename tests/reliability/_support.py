"""Helpers for the reliability suite (loaded by ``conftest.py``, exposed as the ``rel`` fixture).

With ``--import-mode=importlib`` test modules cannot import each other or a conftest, so the
shared pieces live here: the result-contract checker, the fault-injecting S3 proxy, the worker
launcher, an RSS sampler and the figures report that ``docs/reliability.md`` is written from.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import http.server
import importlib.util
import json
import os
import random
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def _load_integration_conftest() -> Any:
    """The integration suite's helpers (video maker, env cleaner, HandlerApi): reused, not copied."""
    spec = importlib.util.spec_from_file_location("reelgpu_integration_helpers",
                                                  REPO / "tests" / "integration" / "conftest.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


it = _load_integration_conftest()
BUCKET: str = it.BUCKET
FAKE_KEY_ID: str = it.FAKE_KEY_ID
FAKE_SECRET: str = it.FAKE_SECRET
make_video = it.make_video
clean_env = it.clean_env
free_port = it.free_port
HandlerApi = it.HandlerApi
put_object = it.put_object

#: Every code a result may carry (CONTRACT.md).
CODES = frozenset({
    "INVALID_INPUT", "FORBIDDEN_KEY", "INPUT_NOT_FOUND", "UNSUPPORTED_MEDIA", "CORRUPT_MEDIA",
    "LIMIT_EXCEEDED", "STORAGE_ERROR", "BACKEND_UNAVAILABLE", "TIMEOUT", "CANCELLED", "INTERNAL",
})
MEDIA_CODES = frozenset({"CORRUPT_MEDIA", "UNSUPPORTED_MEDIA", "LIMIT_EXCEEDED"})


# --------------------------------------------------------------------------- fuzz budget
def fuzz_examples(share: float, minimum: int = 10) -> int:
    """This test's share of ``REELGPU_FUZZ_EXAMPLES`` (default 300: a few hundred in CI)."""
    total = int(os.environ.get("REELGPU_FUZZ_EXAMPLES", "300"))
    return max(minimum, int(total * share))


def fuzz_settings(share: float, minimum: int = 10) -> Any:
    """Hypothesis settings: deterministic in the default run (same examples every CI run),
    random when a long run asks for many examples (``REELGPU_FUZZ_EXAMPLES`` >= 2000)."""
    from hypothesis import HealthCheck, settings

    n = fuzz_examples(share, minimum)
    return settings(max_examples=n, deadline=None, database=None,
                    derandomize=int(os.environ.get("REELGPU_FUZZ_EXAMPLES", "300")) < 2000,
                    suppress_health_check=list(HealthCheck))


# --------------------------------------------------------------------------- the result contract
def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text)


def assert_clean(result: Any, *, allow: Iterable[str] | None = None) -> str:
    """A result is a success or a clean error object; returns ``"success"`` or the code.

    Clean means: a dict that is strict JSON (no NaN), and for an error: a contract code, the
    ``"<CODE>: "`` prefix, a bool ``retryable``, one printable line, no traceback.
    """
    assert isinstance(result, dict), f"not a dict: {result!r}"[:500]
    text = json.dumps(result, allow_nan=False)  # raises on NaN/Infinity anywhere
    assert "Traceback" not in text and "error_traceback" not in text
    if result.get("status") == "success":
        assert "error" not in result and isinstance(result.get("output_key"), str)
        return "success"
    code = result.get("code")
    assert code in CODES, result
    assert isinstance(result.get("retryable"), bool), result
    assert isinstance(result["error"], str) and result["error"].startswith(f"{code}: "), result
    assert not _has_control(result["error"]), result
    assert len(result["error"]) <= 2100, len(result["error"])
    if allow is not None:
        assert code in set(allow), result
    return code


def files_under(root: Path) -> dict[str, int]:
    """Relative path -> size of every file under ``root`` (hidden ones included)."""
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def reset_tree(root: Path, keep: dict[str, int]) -> None:
    """Remove every file and folder under ``root`` that is not in ``keep`` (a ``files_under``
    snapshot): LocalStorage keeps folders for key prefixes, and a folder named like a later
    output key would make that job fail for a reason that has nothing to do with the test."""
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        rel_path = path.relative_to(root).as_posix()
        if path.is_file() and rel_path not in keep:
            path.unlink()
        elif path.is_dir() and not any(k.startswith(rel_path + "/") for k in keep):
            path.rmdir()


def sha256(path_or_bytes: Path | bytes) -> str:
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- figures for the docs
def report(family: str, **figures: Any) -> None:
    """Append this run's figures to ``$REELGPU_RELIABILITY_REPORT`` (JSON lines), if set."""
    target = os.environ.get("REELGPU_RELIABILITY_REPORT")
    if not target:
        return
    line = json.dumps({"family": family, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **figures},
                      sort_keys=True, default=str)
    with open(target, "a", encoding="utf-8") as f:
        f.write(line + "\n")


# --------------------------------------------------------------------------- process memory
def rss_kib(pid: int) -> int:
    """Resident set size of a process (Linux /proc), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class RssSampler:
    """Polls a process's RSS every ``interval`` seconds in a thread; ``peak`` in KiB."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, RuntimeError):
                self.samples.append(rss_kib(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)


# --------------------------------------------------------------------------- the worker process
def start_worker(work: Path, env: dict[str, str], *, timeout: float = 90) -> Any:
    """``python -m handler --rp_serve_api`` through ``_worker.py`` (which can inject an INTERNAL
    error on request), on a free local port; returns the integration suite's ``HandlerApi``."""
    import requests

    work.mkdir(parents=True, exist_ok=True)
    log_path = work / "worker.log"
    port = free_port()
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "_worker.py"), "--rp_serve_api", "--rp_api_host", "127.0.0.1",
             "--rp_api_port", str(port)],
            cwd=work, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )
    api = HandlerApi(f"http://127.0.0.1:{port}", log_path, Path(env["REELGPU_SCRATCH_DIR"]), proc)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the worker exited with {proc.returncode}:\n{api.log_text()[-4000:]}")
        try:
            if requests.get(f"{api.base_url}/openapi.json", timeout=2).status_code == 200:
                return api
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the worker API did not come up:\n{api.log_text()[-4000:]}")
        time.sleep(0.25)


def stop_worker(api: Any) -> None:
    api.proc.send_signal(signal.SIGINT)
    try:
        api.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        api.proc.kill()
        api.proc.wait()


def post_raw(api: Any, body: bytes | str, timeout: float = 120) -> tuple[int, str]:
    """POST a raw body to ``/runsync`` (duplicate keys, NaN literals... survive only as text)."""
    import requests

    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    resp = requests.post(f"{api.base_url}/runsync", data=data, timeout=timeout,
                         headers={"Content-Type": "application/json"})
    api.responses.append(resp.text)
    return resp.status_code, resp.text


# --------------------------------------------------------------------------- the fault proxy
FAULT_KINDS = ("reset_before", "reset_after", "http_500", "http_503", "slow", "stall",
               "truncate_response", "truncate_request")
# The default mix: time-costly faults (slow, stall) half as often as the others.
FAULT_MIX = ("reset_before", "reset_after", "http_500", "http_503", "truncate_response", "truncate_request") * 2 + (
    "slow", "stall")


@dataclass
class FaultPlan:
    """Which faults to inject and how often. ``rate`` is the share of requests that get one;
    ``max_faults`` bounds the total; the RNG is seeded so a run can be replayed."""

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_MIX
    seed: int = 1234
    max_faults: int = 10_000
    slow_s: tuple[float, float] = (0.1, 0.5)
    stall_s: float = 1.2  # longer than the client's read timeout in these tests (0.8 s)
    always_fail_marker: str = "/always-503/"  # any request whose path holds it gets a 503
    only: tuple[str, str] | None = None  # (method, path substring): the only requests faulted


@dataclass
class FaultStats:
    requests: int = 0
    faults: Counter = field(default_factory=Counter)
    bad_digest: int = 0  # bodies the S3 shim refused (Content-MD5 mismatch)


_ERROR_XML = ('<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{msg}</Message>'
              '<RequestId>fault-proxy</RequestId></Error>')


class FaultProxy:
    """A threaded HTTP proxy on 127.0.0.1 in front of an S3 endpoint that breaks requests on
    purpose: connection resets (before or after the upstream saw the request), 500 and 503
    answers, slow and stalled answers, response bodies cut short, and request bodies cut short
    with a forged ``Content-Length`` (a middlebox that "fixes" the length).

    moto does not check ``Content-MD5`` (S3 and R2 do), so the proxy plays that part of the
    server: a body that does not match its ``Content-MD5`` is answered ``400 BadDigest`` and
    never forwarded. Without that header a cut body reaches moto and is stored - which is what
    the integrity tests must catch.
    """

    def __init__(self, upstream: str, plan: FaultPlan | None = None) -> None:
        host, _, port = upstream.removeprefix("http://").partition(":")
        self.upstream = (host, int(port))
        self.plan = plan or FaultPlan()
        self.stats = FaultStats()
        self._lock = threading.Lock()
        self._rng = random.Random(self.plan.seed)
        self._plan_faults = 0  # injected under the current plan (max_faults bounds it)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any  # noqa: N815

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def configure(self, plan: FaultPlan) -> None:
        with self._lock:
            self.plan = plan
            self._rng = random.Random(plan.seed)
            self._plan_faults = 0

    # --- decisions
    def _pick(self, method: str, path: str, has_body: bool) -> str | None:
        with self._lock:
            self.stats.requests += 1
            if self.plan.always_fail_marker and self.plan.always_fail_marker in path:
                self.stats.faults["always_503"] += 1
                return "http_503"
            if self.plan.only and (method != self.plan.only[0] or self.plan.only[1] not in path):
                return None
            if self._plan_faults >= self.plan.max_faults or self._rng.random() >= self.plan.rate:
                return None
            kinds = [k for k in self.plan.kinds
                     if not (k == "truncate_request" and not has_body)
                     and not (k == "truncate_response" and method != "GET")]
            if not kinds:
                return None
            # Bodies are rare among S3 requests (most are HEADs): give their faults a fair share.
            body_kind = "truncate_request" if has_body else "truncate_response"
            kind = body_kind if body_kind in kinds and self._rng.random() < 0.4 else self._rng.choice(kinds)
            self.stats.faults[kind] += 1
            self._plan_faults += 1
            return kind

    def _delay(self) -> float:
        with self._lock:
            return self._rng.uniform(*self.plan.slow_s)

    # --- the request
    def _handle(self, req: http.server.BaseHTTPRequestHandler) -> None:
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        kind = self._pick(req.command, req.path, bool(body))
        if kind == "reset_before":
            return self._reset(req)
        if kind in ("http_500", "http_503", "no_such_upload"):
            code, name = {"http_500": (500, "InternalError"), "http_503": (503, "SlowDown"),
                          "no_such_upload": (404, "NoSuchUpload")}[kind]
            return self._answer(req, code, _ERROR_XML.format(code=name, msg="injected fault").encode())
        if kind == "slow":
            time.sleep(self._delay())
        if kind == "stall":
            time.sleep(self.plan.stall_s)
            return self._reset(req)
        if kind == "truncate_request":
            body = body[: len(body) // 2]  # and Content-Length follows it: a silent cut
        md5 = req.headers.get("Content-MD5")
        if md5 and body is not None and req.command in ("PUT", "POST"):
            import base64

            if base64.b64encode(hashlib.md5(body).digest()).decode() != md5:
                with self._lock:
                    self.stats.bad_digest += 1
                return self._answer(req, 400, _ERROR_XML.format(
                    code="BadDigest", msg="The Content-MD5 you specified did not match what we received.").encode())
        try:
            status, reason, headers, payload = self._forward(req, body)
        except OSError:
            return self._answer(req, 502, b"")
        if kind == "reset_after":
            return self._reset(req)
        if kind == "truncate_response" and len(payload) > 1:
            self._send_head(req, status, reason, headers)
            req.wfile.write(payload[: len(payload) // 2])
            req.wfile.flush()
            return self._reset(req)
        self._send_head(req, status, reason, headers)
        if req.command != "HEAD":
            req.wfile.write(payload)
        req.wfile.flush()

    def _forward(self, req: http.server.BaseHTTPRequestHandler,
                 body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            headers = {k: v for k, v in req.headers.items() if k.lower() not in ("expect", "connection",
                                                                                  "content-length")}
            headers["Content-Length"] = str(len(body))
            conn.request(req.command, req.path, body=body if body else None, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
            return resp.status, resp.reason, resp.getheaders(), payload
        finally:
            conn.close()

    @staticmethod
    def _send_head(req: http.server.BaseHTTPRequestHandler, status: int, reason: str,
                   headers: list[tuple[str, str]]) -> None:
        req.send_response_only(status, reason)
        for k, v in headers:
            if k.lower() not in ("connection", "transfer-encoding", "keep-alive"):
                req.send_header(k, v)
        req.end_headers()

    @staticmethod
    def _answer(req: http.server.BaseHTTPRequestHandler, status: int, payload: bytes) -> None:
        req.send_response_only(status)
        req.send_header("Content-Type", "application/xml")
        req.send_header("Content-Length", str(len(payload)))
        req.end_headers()
        if req.command != "HEAD":
            req.wfile.write(payload)
        req.wfile.flush()

    @staticmethod
    def _reset(req: http.server.BaseHTTPRequestHandler) -> None:
        """Close with RST (SO_LINGER 0): the client sees "connection reset by peer"."""
        with contextlib.suppress(OSError):
            req.wfile.flush()
        with contextlib.suppress(OSError):
            req.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        req.close_connection = True
        with contextlib.suppress(OSError):
            req.connection.close()


@contextlib.contextmanager
def running(proxy: FaultProxy) -> Iterator[FaultProxy]:
    with proxy:
        yield proxy
