"""Storage faults: a fault-injecting proxy between the handler and moto's S3 server.

The proxy resets connections (before and after the server saw the request), answers 500 and
503, answers slowly or not at all, cuts response bodies short, and cuts request bodies short
with a forged ``Content-Length`` - at a set rate, from a seeded RNG, with a cap on the total.

What must hold: every job either succeeds (through boto's and s3transfer's retries) or fails
with a retryable STORAGE_ERROR, in bounded time; every object in the bucket is byte-for-byte a
file the handler meant to publish under that key (size + SHA-256 against a spy on the upload,
and against a clean run of the same job); failed jobs, run again without faults, succeed and
publish the same bytes as the clean run. Small outputs go up in one PUT, a 7 MiB one in
5 MiB multipart parts, and the 7 MiB input comes down in ranged GETs.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from handler import job as hjob
from handler.settings import Settings
from handler.storage import MiB, S3Storage

PREFIX = "faults/users"
USERS = 3
JOB_LIMIT_S = 90.0


class SpyStorage(S3Storage):
    """S3Storage that remembers the size and SHA-256 of every file it was asked to publish."""

    def __init__(self, rel: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rel = rel
        self.intended: dict[str, set[tuple[int, str]]] = {}

    def upload(self, path: Path, key: str, **kwargs: Any) -> None:
        self.intended.setdefault(key, set()).add((Path(path).stat().st_size, self.rel.sha256(Path(path))))
        super().upload(path, key, **kwargs)


def noise_video(path: Path, frames: int = 80) -> Path:
    """~7 MiB of lossless noise at 320x180: big enough for multipart, cheap to make and copy."""
    rng = np.random.default_rng(3)
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264rgb", rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "rgb24"
        stream.options = {"preset": "ultrafast", "qp": "0"}
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (180, 320, 3), dtype=np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 30)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def inputs(s3: Any, rel: Any, sample_video: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    big = noise_video(tmp_path_factory.mktemp("faults") / "big.mp4")
    assert big.stat().st_size > 6 * MiB
    for user in range(USERS):
        rel.put_object(s3, f"{PREFIX}/u{user}/raw/in.mp4", sample_video)
        rel.put_object(s3, f"{PREFIX}/u{user}/raw/big.mp4", big)
    return {"small": sample_video, "big": big}


@pytest.fixture(scope="module")
def proxy(moto_endpoint: str, rel: Any) -> Iterator[Any]:
    with rel.FaultProxy(moto_endpoint) as p:
        yield p


def storage_for(proxy: Any, rel: Any, attempts: int) -> SpyStorage:
    return SpyStorage(rel, endpoint_url=proxy.url, access_key_id=rel.FAKE_KEY_ID,
                      secret_access_key=rel.FAKE_SECRET, bucket=rel.BUCKET, max_attempts=attempts,
                      part_size=5 * MiB, max_concurrency=2, connect_timeout=1.0, read_timeout=0.8)


# One of each publication shape: single PUT, multipart (7 MiB remux), two objects (annotate);
# and one export that reads its 7 MiB input by byte range (RANGE_SETTINGS) instead of downloading it.
SPECS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("framing", "raw/in.mp4", "out/framed.mp4", {"target_width": 90, "target_height": 160,
                                                 "encode": {"preset": "ultrafast"}}),
    ("overlay", "raw/big.mp4", "out/copied.mp4", {}),  # nothing to draw: a stream copy, 7 MiB
    ("annotate", "raw/in.mp4", "out/annotated.mp4", {"clips": [
        {"start_time": 0.0, "end_time": 0.5, "name": "A", "rating": 5},
        {"start_time": 0.5, "end_time": 1.0, "name": "B", "rating": 4}], "encode": {"preset": "ultrafast"}}),
    ("annotate", "raw/big.mp4", "out/ranged.mp4", {"clips": [
        {"start_time": 1.0, "end_time": 1.5, "name": "R", "rating": 3}], "encode": {"preset": "ultrafast"}}),
]
# Inputs of 1 MiB and more are read by range, in 1 MiB requests: big.mp4 for annotate (not the
# small one, and not big.mp4 for overlay, which downloads).
RANGE_SETTINGS = {"range_read_min_bytes": MiB, "range_block_bytes": MiB}


def run_jobs(storage: SpyStorage, tag: str, tmp: Path, rel: Any) -> dict[tuple[int, int], dict[str, Any]]:
    """Every spec for every user (12 jobs) in sequence; result per (user, spec)."""
    settings = Settings(device="cpu", scratch_dir=str(tmp / "scratch"), job_timeout_s=JOB_LIMIT_S - 30,
                        progress_interval_s=1.0, **RANGE_SETTINGS)
    results = {}
    for user in range(USERS):
        for s, (kind, inp, out, params) in enumerate(SPECS):
            job = {"id": f"{tag}-{user}-{s}", "input": {
                "job_id": f"{tag}-{user}-{s}", "user_id": f"{PREFIX}/u{user}", "type": kind, "input_key": inp,
                "output_key": f"{tag}/{out}", "params": params}}
            t0 = time.monotonic()
            result = asyncio.run(asyncio.wait_for(hjob.run(job, storage=storage, settings=settings, send=lambda p: None),
                                                  JOB_LIMIT_S))
            result["elapsed"] = time.monotonic() - t0
            assert result["elapsed"] < JOB_LIMIT_S - 25, result
            results[(user, s)] = result
    assert not rel.files_under(tmp / "scratch"), "a job's scratch dir survived"
    return results


def published(s3: Any, rel: Any, tag: str) -> dict[str, tuple[int, str]]:
    """Every object under ``<user>/<tag>/`` as the bucket holds it (read directly, no proxy)."""
    out = {}
    for user in range(USERS):
        listing = s3.list_objects_v2(Bucket=rel.BUCKET, Prefix=f"{PREFIX}/u{user}/{tag}/")
        for obj in listing.get("Contents", []):
            body = s3.get_object(Bucket=rel.BUCKET, Key=obj["Key"])["Body"].read()
            out[obj["Key"]] = (len(body), rel.sha256(body))
    return out


def relative(objects: dict[str, tuple[int, str]], tag: str) -> dict[str, tuple[int, str]]:
    """Same objects keyed by (user, path below the tag), to compare runs with different tags."""
    return {k.replace(f"/{tag}/", "/", 1): v for k, v in objects.items()}


def test_faults_never_publish_a_partial_or_corrupt_object(proxy: Any, s3: Any, rel: Any, inputs: dict[str, Path],
                                                          tmp_path: Path, isolated_tmp: Path) -> None:
    t_start = time.monotonic()
    # 1. Clean run: the reference bytes.
    proxy.configure(rel.FaultPlan(rate=0.0))
    clean_storage = storage_for(proxy, rel, attempts=5)
    clean = run_jobs(clean_storage, "clean", tmp_path / "clean", rel)
    assert all(r.get("status") == "success" for r in clean.values()), clean
    reference = relative(published(s3, rel, "clean"), "clean")
    assert len(reference) == USERS * 6  # framing, overlay, two annotate videos + sidecars, per user

    outcomes: Counter = Counter()
    phases = {
        # moderate: retries absorb nearly everything
        "flaky": (rel.FaultPlan(rate=0.3, seed=11, max_faults=150), 5),
        # heavy with 2 attempts: many jobs fail, and must fail cleanly
        "storm": (rel.FaultPlan(rate=0.6, seed=12, max_faults=250), 2),
    }
    faults_before = 0
    figures: dict[str, Any] = {}
    for tag, (plan, attempts) in phases.items():
        proxy.configure(plan)
        requests_before = proxy.stats.requests
        storage = storage_for(proxy, rel, attempts=attempts)
        results = run_jobs(storage, tag, tmp_path / tag, rel)
        proxy.configure(rel.FaultPlan(rate=0.0))
        injected = sum(proxy.stats.faults.values()) - faults_before
        faults_before += injected
        assert 0 < injected <= plan.max_faults
        for result in results.values():
            code = rel.assert_clean(result, allow={"STORAGE_ERROR"})
            outcomes[(tag, code)] += 1
            if code != "success":
                assert result["retryable"] is True
        # Every object in the bucket is exactly a file the handler meant to publish there...
        objects = published(s3, rel, tag)
        for key, (size, digest) in objects.items():
            assert (size, digest) in storage.intended.get(key, set()), f"{key}: {size} bytes, not what was uploaded"
        # ...and the same bytes as the clean run of the same job.
        for key, value in relative(objects, tag).items():
            assert reference[key] == value, f"{key} differs from the clean run"
        # A job reported as done has all its objects; a failed one may have some (published
        # whole before the failure), never a partial one - checked above.
        for (user, s), result in results.items():
            if result.get("status") == "success":
                main = f"{PREFIX}/u{user}/{tag}/{SPECS[s][2]}"
                assert main in objects and objects[main][0] == result["bytes"]
        figures[tag] = {"jobs": len(results), "failed": sum(1 for r in results.values() if "code" in r),
                        "requests": proxy.stats.requests - requests_before, "faults": injected}

        # 2. The failed jobs again, without faults: they succeed, with the clean run's bytes.
        retry_storage = storage_for(proxy, rel, attempts=5)
        settings = Settings(device="cpu", scratch_dir=str(tmp_path / "retry"), job_timeout_s=60, **RANGE_SETTINGS)
        for (user, s), result in results.items():
            if result.get("status") == "success":
                continue
            kind, inp, out, params = SPECS[s]
            job = {"id": "retry", "input": {"job_id": f"{tag}-{user}-{s}", "user_id": f"{PREFIX}/u{user}",
                                            "type": kind, "input_key": inp, "output_key": f"{tag}/{out}",
                                            "params": params}}
            again = asyncio.run(hjob.run(job, storage=retry_storage, settings=settings, send=lambda p: None))
            assert rel.assert_clean(again) == "success", again
        final = relative(published(s3, rel, tag), tag)
        assert final == reference, "after retries, the outputs are not those of the clean run"

    assert outcomes[("flaky", "success")] >= 6, outcomes  # retries do their job
    assert outcomes[("storm", "STORAGE_ERROR")] >= 1, outcomes  # and failures do happen, cleanly
    kinds = proxy.stats.faults
    assert {"reset_before", "reset_after", "http_503", "truncate_request"} <= set(kinds), kinds
    assert proxy.stats.bad_digest > 0  # cut request bodies were refused thanks to Content-MD5
    assert not rel.files_under(isolated_tmp)
    leftover_uploads = len(s3.list_multipart_uploads(Bucket=rel.BUCKET, Prefix=PREFIX).get("Uploads", []))
    rel.report("storage_faults", phases=figures, outcomes={f"{t}:{c}": n for (t, c), n in outcomes.items()},
               faults_by_kind=dict(kinds), bad_digest_refusals=proxy.stats.bad_digest,
               objects_checked=len(reference) * 3, leftover_multipart_uploads=leftover_uploads,
               seconds=round(time.monotonic() - t_start, 1))


def test_without_content_md5_a_cut_body_would_be_published(proxy: Any, s3: Any, rel: Any, tmp_path: Path) -> None:
    """The control experiment: the same cut-body fault against a client that sends no
    Content-MD5 stores a truncated object. This is what the integrity hook prevents."""
    storage = storage_for(proxy, rel, attempts=1)
    storage.client.meta.events.unregister("before-call.s3.PutObject", unique_id="reelgpu-content-md5-PutObject")
    path = tmp_path / "blob.bin"
    path.write_bytes(b"x" * 10_000)
    proxy.configure(rel.FaultPlan(rate=1.0, kinds=("truncate_request",), seed=5, max_faults=1))
    try:
        storage.upload(path, f"{PREFIX}/control/blob.bin")
    finally:
        proxy.configure(rel.FaultPlan(rate=0.0))
    head = s3.head_object(Bucket=rel.BUCKET, Key=f"{PREFIX}/control/blob.bin")
    assert head["ContentLength"] == 5_000  # silently truncated


def test_an_upload_answered_404_is_a_retryable_storage_error(proxy: Any, s3: Any, rel: Any, inputs: dict[str, Path]
                                                             ) -> None:
    """A multipart completion answered ``404 NoSuchUpload`` (the upload expired, or an earlier
    answer was lost) is a storage fault - retryable - not INPUT_NOT_FOUND, and nothing is
    published under the key."""
    storage = storage_for(proxy, rel, attempts=2)
    key = f"{PREFIX}/u0/lost/big.mp4"
    proxy.configure(rel.FaultPlan(rate=1.0, kinds=("no_such_upload",), only=("POST", "uploadId="), seed=3))
    try:
        with pytest.raises(Exception) as err:
            storage.upload(inputs["big"], key)
    finally:
        proxy.configure(rel.FaultPlan(rate=0.0))
    assert getattr(err.value, "code", None) == "STORAGE_ERROR" and err.value.retryable, repr(err.value)
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket=rel.BUCKET, Key=key)


def test_cut_downloads_are_fetched_again(proxy: Any, rel: Any, inputs: dict[str, Path], tmp_path: Path) -> None:
    """Every GET of the input answered with half its body (twice), then normally: the local
    copy is complete and identical; a file is never handed to the export half-downloaded."""
    storage = storage_for(proxy, rel, attempts=5)
    proxy.configure(rel.FaultPlan(rate=1.0, kinds=("truncate_response",), only=("GET", "/raw/big.mp4"), seed=8,
                                  max_faults=2))
    try:
        storage.download(f"{PREFIX}/u1/raw/big.mp4", tmp_path / "big.mp4")
    finally:
        proxy.configure(rel.FaultPlan(rate=0.0))
    assert proxy.stats.faults["truncate_response"] >= 2
    assert rel.sha256(tmp_path / "big.mp4") == rel.sha256(inputs["big"])
    assert [p.name for p in tmp_path.iterdir()] == ["big.mp4"]  # no .part file left


def test_cut_range_reads_are_read_again(proxy: Any, rel: Any, inputs: dict[str, Path]) -> None:
    """Ranged GETs of the input answered with half their body (twice), then normally: each
    range comes back whole; an export never sees a block with a missing tail."""
    storage = storage_for(proxy, rel, attempts=5)
    key = f"{PREFIX}/u1/raw/big.mp4"
    info = storage.stat(key)
    assert info is not None
    data = inputs["big"].read_bytes()
    proxy.configure(rel.FaultPlan(rate=1.0, kinds=("truncate_response",), only=("GET", "/raw/big.mp4"), seed=8,
                                  max_faults=2))
    try:
        got = storage.read_range(key, MiB, 2 * MiB, version=info.version)
    finally:
        proxy.configure(rel.FaultPlan(rate=0.0))
    assert proxy.stats.faults["truncate_response"] >= 2
    assert got == data[MiB:3 * MiB]
