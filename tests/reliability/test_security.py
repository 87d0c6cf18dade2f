"""Security: tenant isolation, no URL inputs, PNG bombs, text limits, no credential leaks.

* Keys (every field that names one, ``user_id`` included) are fuzzed with traversal and prefix
  escape material through the whole job: another user's file, a file beside the storage root
  and ``games/`` writes must stay out of reach.
* The worker has no URL inputs and no allowlist to enable them: a key that looks like a URL
  (``https://``, ``s3://``, ``file:``, ``concat:``, ``data:``...) is refused as a key.
* A text layer PNG declaring 100000x100000 is refused from its header, before any download or
  decoding; one whose IDAT inflates far past its raster costs no more than its raster.
* Text is limited to 500 characters per field; a 5 MB title fails fast with a short message.
* With fake credentials set, a worker process runs a mix of jobs - success, STORAGE_ERROR,
  INTERNAL (injected, its message carrying the secret) and every input error - and neither a
  response nor a log line holds the secret, the key id or a presigned signature, and no
  response holds a traceback.
"""

from __future__ import annotations

import asyncio
import base64
import struct
import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import reelgpu
from handler import job as hjob
from handler.errors import JobError
from handler.plan import plan_job
from handler.settings import Settings
from handler.storage import LocalStorage

SUPPORT = sys.modules["reelgpu_reliability_support"]  # loaded by conftest.py
KEY_STATS: Counter = Counter()
USER = "sec/users/alice"
VICTIM = "sec/users/bob"


class CountingStorage(LocalStorage):
    """LocalStorage that records every key it reads (a refused job must not fetch anything)."""

    downloads = 0
    read_keys: list[str] = []

    def download(self, key: str, path: Path, **kwargs: Any) -> None:
        CountingStorage.downloads += 1
        CountingStorage.read_keys.append(key)
        super().download(key, path, **kwargs)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, sample_video: Path) -> CountingStorage:
    """Alice's input, Bob's private video, a video beside the storage root (never a key)."""
    root = tmp_path_factory.mktemp("sec")
    storage = CountingStorage(root / "storage")
    storage.upload(sample_video, f"{USER}/raw/in.mp4")
    storage.upload(sample_video, f"{VICTIM}/private/secret.mp4")
    storage.upload(sample_video, "games/footage.mp4")
    (root / "outside.mp4").write_bytes(sample_video.read_bytes())
    storage.baseline = SUPPORT.files_under(storage.root)
    return storage


def run(storage: LocalStorage, tmp: Path, **fields: Any) -> dict[str, Any]:
    job_input = {"job_id": "sec-1", "user_id": USER, "type": "framing", "input_key": "raw/in.mp4",
                 "output_key": "exports/out.mp4", "params": {"target_width": 90, "target_height": 160,
                                                             "encode": {"preset": "ultrafast"}}}
    job_input.update(fields)
    settings = Settings(device="cpu", scratch_dir=str(tmp / "scratch"), job_timeout_s=30, progress_interval_s=5)
    return asyncio.run(hjob.run({"id": "sec", "input": job_input}, storage=storage, settings=settings,
                                send=lambda p: None))


# --------------------------------------------------------------------------- keys
SEGMENTS = st.sampled_from(["..", ".", "", "raw", "in.mp4", "private", "secret.mp4", "bob", "alice", "users", "sec",
                            "games", "footage.mp4", "%2e%2e", "%2f", "\\..", "..\\", "\x00", "\u202e", " ", "~",
                            "..%2f", "\u2215", "\uff0e\uff0e", "outside.mp4", "storage", "https:", "s3:", "file:"])
KEYS = st.one_of(st.lists(SEGMENTS, min_size=1, max_size=6).map("/".join),
                 st.lists(SEGMENTS, min_size=1, max_size=6).map(lambda p: "/" + "/".join(p)))
FIELDS = ["input_key", "output_key", "user_id", "source_key", "png_key", "input_keys"]


def place(field: str, key: str) -> dict[str, Any]:
    """Put ``key`` in ``field`` of an otherwise valid job."""
    if field == "source_key":
        return {"params": {"target_width": 90, "target_height": 160, "clips": [{"source_key": key}]}}
    if field == "png_key":
        return {"type": "overlay", "params": {"text_layers": [{"start_time": 0, "end_time": 1, "png_key": key}]}}
    if field == "input_keys":
        return {"type": "annotate", "params": {"input_keys": {"1": key}, "clips": [
            {"start_time": 0, "end_time": 0.5, "video_sequence": 1}]}}
    return {field: key}


@SUPPORT.fuzz_settings(0.1, minimum=30)
@given(field=st.sampled_from(FIELDS), key=KEYS)
def test_keys_cannot_escape_the_user_prefix(store: CountingStorage, tmp_path_factory: pytest.TempPathFactory,
                                            rel: Any, field: str, key: str) -> None:
    """Either the job is refused before touching storage, or every key it resolves stays in
    the user's prefix (reads may also use ``games/``) even when read as a path."""
    import posixpath

    fields = place(field, key)
    job_input = {"job_id": "sec-1", "user_id": USER, "type": "framing", "input_key": "raw/in.mp4",
                 "output_key": "exports/out.mp4", "params": {"target_width": 90, "target_height": 160}, **fields}
    try:
        plan = plan_job(job_input, Settings())
    except (JobError, reelgpu.ReelGpuError) as err:
        assert err.code in ("FORBIDDEN_KEY", "INVALID_INPUT"), (err.code, str(err))
        KEY_STATS[f"refused:{err.code}"] += 1
        return
    user = plan.envelope.user_id
    assert not posixpath.normpath(user).startswith(("..", "/")) and user.split("/")[0] != "games"
    for full, writing in [(plan.input_full, False), (plan.output_full, True), *((f, False) for f in plan.sources.values())]:
        norm = posixpath.normpath(full)
        assert norm == full, f"{full!r} changes meaning when read as a path"
        assert full.startswith(user + "/") or (not writing and full.startswith("games/")), full
    # And the whole job: whatever happens, Bob's file and the file outside the root stay unread.
    before = CountingStorage.downloads
    result = run(store, tmp_path_factory.mktemp("keyjob", numbered=True), **fields)
    outcome = rel.assert_clean(result)
    # STORAGE_ERROR: LocalStorage cannot hold "a" and "a/b" at once (S3 can); not an escape.
    assert outcome in ("success", "INPUT_NOT_FOUND", "FORBIDDEN_KEY", "INVALID_INPUT", "CORRUPT_MEDIA",
                       "STORAGE_ERROR"), result
    for read in CountingStorage.read_keys[before:]:
        assert read.startswith((user + "/", "games/")), f"read {read!r} for user {user!r}"
        assert not read.startswith(VICTIM + "/") or user == VICTIM
    after = rel.files_under(store.root)
    written = [k for k in after if k not in store.baseline and not k.startswith(".reelgpu-meta/")]
    assert all(k.startswith(user + "/") for k in written), written
    rel.reset_tree(store.root, store.baseline)
    KEY_STATS[f"job:{outcome}"] += 1


@pytest.fixture(scope="module", autouse=True)
def _figures(rel: Any) -> Iterator[None]:
    KEY_STATS.clear()
    yield
    rel.report("key_fuzz", outcomes=dict(KEY_STATS), examples=sum(KEY_STATS.values()))


URL_KEYS = ["https://evil.example/x.mp4", "http://169.254.169.254/latest/meta-data", "s3://other-bucket/x.mp4",
            "file:///etc/passwd", "file:etc/passwd", "concat:raw/a.mp4|raw/b.mp4", "data:video/mp4;base64,AAAA",
            "hls+http:x.m3u8", "gopher:x", "C:x.mp4", "rtmp:live/stream"]


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("url", URL_KEYS)
def test_url_like_keys_are_refused(field: str, url: str, store: CountingStorage, tmp_path: Path, rel: Any) -> None:
    """No URL inputs: nothing a caller sends is ever fetched from anywhere but the bucket."""
    before = CountingStorage.downloads
    result = run(store, tmp_path, **place(field, url))
    assert rel.assert_clean(result) == "FORBIDDEN_KEY", result
    assert "URL" in result["error"], result
    assert CountingStorage.downloads == before  # refused before any storage call


# --------------------------------------------------------------------------- PNG bombs
def png(width: int, height: int, idat: bytes) -> bytes:
    """A PNG with the given IHDR size and raw IDAT payload (CRCs correct)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def overlay_with(layer: dict[str, Any]) -> dict[str, Any]:
    return {"type": "overlay", "params": {"text_layers": [{"start_time": 0, "end_time": 1, **layer}],
                                          "encode": {"preset": "ultrafast"}}}


def test_png_bomb_in_the_payload_is_refused_from_its_header(store: CountingStorage, tmp_path: Path,
                                                            rel: Any) -> None:
    bomb = png(100_000, 100_000, zlib.compress(b"\0" * 1_000_000, 9))  # would be 40 GB of RGBA
    before = CountingStorage.downloads
    t0 = time.monotonic()
    result = run(store, tmp_path, **overlay_with({"png_b64": base64.b64encode(bomb).decode()}))
    elapsed = time.monotonic() - t0
    assert rel.assert_clean(result) == "LIMIT_EXCEEDED", result
    assert "PNG width" in result["error"] and "100000" in result["error"]
    assert CountingStorage.downloads == before, "the video was downloaded for a job refused by its params"
    assert elapsed < 1.0
    rel.report("png_bomb", declared="100000x100000", refused_in_s=round(elapsed, 3), code=result["code"])


def test_png_bomb_by_key_is_refused_before_decoding(store: CountingStorage, tmp_path: Path, rel: Any) -> None:
    (tmp_path / "bomb.png").write_bytes(png(100_000, 100_000, zlib.compress(b"\0" * 1_000_000, 9)))
    store.upload(tmp_path / "bomb.png", f"{USER}/layers/bomb.png", content_type="image/png")
    t0 = time.monotonic()
    result = run(store, tmp_path, **overlay_with({"png_key": "layers/bomb.png"}))
    assert rel.assert_clean(result) == "INVALID_INPUT", result  # size mismatch, read from IHDR
    assert "100000x100000" in result["error"] and time.monotonic() - t0 < 5


def test_png_whose_data_inflates_past_its_raster(store: CountingStorage, tmp_path: Path, rel: Any) -> None:
    """The header matches the video (160x96) but the IDAT inflates to 64 MB: only the raster's
    61 KB are ever decoded."""
    raster = (b"\0" + b"\xff\xff\xff\x80" * 160) * 96
    bomb = png(160, 96, zlib.compress(raster + b"\0" * 64_000_000, 9))
    assert len(bomb) < 200_000
    t0 = time.monotonic()
    result = run(store, tmp_path, **overlay_with({"png_b64": base64.b64encode(bomb).decode()}))
    assert rel.assert_clean(result) in ("success", "INVALID_INPUT"), result
    assert time.monotonic() - t0 < 10
    rel.reset_tree(store.root, store.baseline)


# --------------------------------------------------------------------------- work bombs in params
@pytest.mark.parametrize(("params", "needle"), [
    # 0.5 s at speed 1e-9 is 16 years of output: 15 billion frames scheduled before the first one.
    ({"target_width": 90, "target_height": 160, "clips": [{"segment_data": {
        "segments": [{"start": 0.0, "end": 0.5, "speed": 1e-9}]}}]}, "output duration"),
    # Coordinates whose interpolation overflows to inf/NaN inside the renderer.
    ({"target_width": 90, "target_height": 160, "clips": [{"keyframes": [
        {"time": 0, "x": 1e308, "y": 0, "width": 50, "height": 90},
        {"time": 1, "x": -1e308, "y": 0, "width": 50, "height": 90}]}]}, "keyframes[0].x"),
])
def test_params_that_would_explode_are_refused_before_any_work(params: dict[str, Any], needle: str,
                                                              store: CountingStorage, tmp_path: Path,
                                                              rel: Any) -> None:
    before = CountingStorage.downloads
    t0 = time.monotonic()
    result = run(store, tmp_path, params=params)
    assert rel.assert_clean(result) == "LIMIT_EXCEEDED", result
    assert needle in result["error"] and time.monotonic() - t0 < 1.0
    assert CountingStorage.downloads == before


# --------------------------------------------------------------------------- text limits
def annotate_with(**clip: Any) -> dict[str, Any]:
    return {"job_id": "sec-text", "user_id": USER, "type": "annotate", "input_key": "raw/in.mp4",
            "output_key": "exports/a.mp4", "params": {"clips": [{"start_time": 0, "end_time": 0.5, **clip}]}}


@pytest.mark.parametrize("field", ["name", "notes", "tags"])
def test_text_is_limited_to_500_characters(field: str) -> None:
    def value(n: int) -> Any:
        return ["é" * n] if field == "tags" else "é" * n

    plan_job(annotate_with(**{field: value(500)}), Settings())  # at the limit: fine
    with pytest.raises(reelgpu.LimitExceeded, match=rf"clips\[0\]\.{field} \(characters\) is 501"):
        plan_job(annotate_with(**{field: value(501)}), Settings())


def test_a_huge_title_fails_fast_with_a_short_message(store: CountingStorage, tmp_path: Path, rel: Any) -> None:
    t0 = time.monotonic()
    result = run(store, tmp_path, **{k: v for k, v in annotate_with(name="😀" * 1_250_000).items()
                                     if k in ("type", "params", "output_key")})
    assert rel.assert_clean(result) == "LIMIT_EXCEEDED", result
    assert len(result["error"]) < 300 and time.monotonic() - t0 < 2


# --------------------------------------------------------------------------- credentials
def test_no_credential_or_traceback_leaks_from_a_worker(worker: Any, s3: Any, rel: Any, sample_video: Path,
                                                        tmp_path: Path) -> None:
    """Runs last in this module (the worker is shared: the log also holds the other modules'
    jobs). Every response and every line the worker process wrote is scanned."""
    rel.put_object(s3, "rel/users/leak/raw/in.mp4", sample_video)
    rel.put_object(s3, "rel/users/leak/raw/junk.mp4", b"\x00\x00\x00\x18ftypisom" + b"garbage" * 300)
    base = {"job_id": "leak-1", "user_id": "rel/users/leak", "type": "framing", "input_key": "raw/in.mp4",
            "output_key": "exports/ok.mp4", "params": {"target_width": 90, "target_height": 160}}
    jobs = {
        "success": base,
        "STORAGE_ERROR": {**base, "input_key": "always-503/in.mp4"},
        "INTERNAL": {**base, "output_key": "exports/boom.mp4",
                     "params": {**base["params"], "meta": {"reliability_inject": "internal"}}},
        "FORBIDDEN_KEY": {**base, "input_key": "../../secrets.mp4"},
        "INPUT_NOT_FOUND": {**base, "input_key": "raw/missing.mp4"},
        "INVALID_INPUT": {**base, "params": {"target_width": 91, "target_height": 160}},
        "CORRUPT_MEDIA": {**base, "input_key": "raw/junk.mp4", "output_key": "exports/junk.mp4"},
        "LIMIT_EXCEEDED": {**base, "params": {"target_width": 9000, "target_height": 160}},
    }
    for expected, job_input in jobs.items():
        resp = worker.runsync(job_input)
        if expected == "success":
            assert resp["status"] == "COMPLETED", resp
        else:
            assert resp["status"] == "FAILED" and resp["error"].startswith(f"{expected}: "), (expected, resp)
    internal = next(r for r in worker.responses if "INTERNAL: internal error (ref " in r)
    ref = internal.split("(ref ", 1)[1][:12]

    log = worker.log_text()
    secrets = [rel.FAKE_SECRET, rel.FAKE_KEY_ID, "feedface", rel.FAKE_SECRET[:16]]
    for text in [*worker.responses, log]:
        for secret in secrets:
            assert secret not in text, f"{secret!r} leaked"
        assert "X-Amz-Signature=f" not in text and "Authorization:" not in text
    for text in worker.responses:
        assert "Traceback" not in text and "error_traceback" not in text and "injected bug" not in text
    # The log keeps what an operator needs: the traceback for the reference, scrubbed.
    assert f"internal error (ref {ref})" in log and "Traceback" in log and "injected bug: key *** secret ***" in log
    rel.report("leak_scan", responses=len(worker.responses), log_lines=log.count("\n"),
               jobs_by_outcome=sorted(jobs), secrets_found=0)
