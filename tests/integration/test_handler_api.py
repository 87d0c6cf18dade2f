"""The RunPod handler end to end.

Server tests talk to the worker over real HTTP (the runpod SDK's ``--rp_serve_api`` server in a
subprocess) with moto's S3 server as the bucket; in-process tests drive ``handler.job`` directly
for what HTTP cannot reach (cancellation, deadlines, internal errors, log scrubbing).
Videos are tiny (160x96, 1 s): the suite runs on 2 cores.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import io
import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import reelgpu
from handler import job as hjob
from handler.context import JobContext
from handler.logs import ScrubbingFormatter
from handler.progress import Progress
from handler.settings import Settings
from handler.storage import LocalStorage

USER = "test/users/u1/profiles/default"
FRAMING_PARAMS: dict[str, Any] = {
    "target_width": 90,
    "target_height": 160,
    "clips": [{"keyframes": [
        {"time": 0.0, "x": 10, "y": 0, "width": 54, "height": 96},
        {"time": 0.9, "x": 100, "y": 0, "width": 54, "height": 96},
    ]}],
    "meta": {"project": 42},
}


def job_input(**overrides: Any) -> dict[str, Any]:
    base = {"job_id": "job-e2e-1", "user_id": USER, "type": "framing", "input_key": "raw/in.mp4",
            "output_key": "exports/e2e.mp4", "params": FRAMING_PARAMS}
    base.update(overrides)
    return base


def require_export(name: str) -> None:
    """Skip until the library ships the export (checked at run time, so tests start running
    as soon as it lands)."""
    try:
        importlib.import_module(f"reelgpu.exports.{name}")
    except ModuleNotFoundError:
        pytest.skip(f"reelgpu.{name} not implemented yet")


def failed_code(resp: dict[str, Any]) -> str:
    assert resp["status"] == "FAILED", resp
    assert "Traceback" not in resp["error"]
    return resp["error"].split(":", 1)[0]


@pytest.fixture(scope="module")
def uploaded_input(s3: Any, it: Any, sample_video: Path) -> str:
    it.put_object(s3, f"{USER}/raw/in.mp4", sample_video)
    return f"{USER}/raw/in.mp4"


@pytest.fixture(scope="module")
def framing_job(handler_api: Any, uploaded_input: str) -> dict[str, Any]:
    return handler_api.runsync(job_input())


# --------------------------------------------------------------------------- over HTTP
def test_framing_end_to_end(framing_job: dict[str, Any], handler_api: Any, s3: Any, it: Any,
                            sample_video: Path, tmp_path: Path) -> None:
    assert framing_job["status"] == "COMPLETED", framing_job
    out = framing_job["output"]
    assert out["status"] == "success"
    assert out["output_key"] == "exports/e2e.mp4" and out["job_id"] == "job-e2e-1"
    assert out["reused"] is False
    assert set(out["backend"]) == {"decode", "process", "encode"}
    assert out["timings_s"]["job_total"] > 0
    assert out["meta"] == {"project": 42}  # params.meta is echoed back

    head = s3.head_object(Bucket=it.BUCKET, Key=f"{USER}/exports/e2e.mp4")
    assert head["ContentType"] == "video/mp4"
    assert head["ContentLength"] == out["bytes"]
    assert head["Metadata"]["reelgpu-job-id"] == "job-e2e-1"

    local = tmp_path / "out.mp4"
    s3.download_file(it.BUCKET, f"{USER}/exports/e2e.mp4", str(local))
    info = reelgpu.probe(local)
    assert info.faststart and (info.width, info.height) == (90, 160)
    assert info.frame_count == out["frames"] > 0
    assert out["duration_s"] == pytest.approx(info.duration_s, abs=0.05)

    direct = reelgpu.framing(sample_video, tmp_path / "direct.mp4", FRAMING_PARAMS)
    assert direct.frames == out["frames"]
    assert not list(handler_api.scratch.glob("reelgpu-job-*")), "per-job temp dir left behind"


def test_same_job_twice_is_published_once(framing_job: dict[str, Any], handler_api: Any, s3: Any,
                                          it: Any) -> None:
    key = f"{USER}/exports/e2e.mp4"
    before = s3.head_object(Bucket=it.BUCKET, Key=key)
    again = handler_api.runsync(job_input())
    assert again["status"] == "COMPLETED", again
    out = again["output"]
    assert out["reused"] is True
    assert out["frames"] == framing_job["output"]["frames"]
    assert out["bytes"] == framing_job["output"]["bytes"]
    assert out["backend"] == framing_job["output"]["backend"]
    after = s3.head_object(Bucket=it.BUCKET, Key=key)
    assert (after["ETag"], after["LastModified"]) == (before["ETag"], before["LastModified"])
    listed = s3.list_objects_v2(Bucket=it.BUCKET, Prefix=f"{USER}/exports/e2e")["Contents"]
    assert [o["Key"] for o in listed] == [key]


def test_same_job_id_with_other_params_renders_again(handler_api: Any, uploaded_input: str, s3: Any,
                                                     it: Any) -> None:
    params = {**FRAMING_PARAMS, "target_width": 72, "target_height": 128}
    first = handler_api.runsync(job_input(job_id="job-refp", output_key="exports/refp.mp4"))
    second = handler_api.runsync(job_input(job_id="job-refp", output_key="exports/refp.mp4", params=params))
    assert first["output"]["reused"] is False and second["output"]["reused"] is False
    assert second["output"]["width"] == 72


@pytest.mark.parametrize(("field", "value"), [
    ("input_key", "../u2/raw/in.mp4"),
    ("input_key", "raw/../../../u2/in.mp4"),
    ("input_key", "/raw/in.mp4"),
    ("input_key", "raw//in.mp4"),
    ("input_key", "raw\\in.mp4"),
    ("input_key", "raw/%2e%2e/in.mp4"),
    ("input_key", "raw/./in.mp4"),
    ("input_key", "raw/in\x00.mp4"),
    ("output_key", "games/overwritten.mp4"),
    ("output_key", "exports/" + "a" * 1100 + ".mp4"),
    ("user_id", "../other-user"),
    ("user_id", "games"),
    ("source_key", "../../other/in.mp4"),
])
def test_key_escapes_are_forbidden(handler_api: Any, uploaded_input: str, field: str, value: str) -> None:
    if field == "source_key":
        params = {**FRAMING_PARAMS, "clips": [{**FRAMING_PARAMS["clips"][0], "source_key": value}]}
        resp = handler_api.runsync(job_input(job_id="job-forbidden", params=params))
    else:
        resp = handler_api.runsync(job_input(job_id="job-forbidden", **{field: value}))
    assert failed_code(resp) == "FORBIDDEN_KEY", resp


def test_missing_input_is_input_not_found(handler_api: Any) -> None:
    resp = handler_api.runsync(job_input(job_id="job-missing", input_key="raw/nothing-here.mp4"))
    assert failed_code(resp) == "INPUT_NOT_FOUND"
    assert "raw/nothing-here.mp4" in resp["error"]


def test_bad_params_name_the_field(handler_api: Any) -> None:
    bad_kf = {**FRAMING_PARAMS, "clips": [{"keyframes": [{"time": 0, "x": 0, "y": 0, "width": -5, "height": 90}]}]}
    resp = handler_api.runsync(job_input(job_id="job-badparams", params=bad_kf))
    assert failed_code(resp) == "INVALID_INPUT"
    assert "params.clips[0].keyframes[0].width" in resp["error"]

    typo = {**FRAMING_PARAMS, "targetWidht": 90}
    resp = handler_api.runsync(job_input(job_id="job-typo", params=typo))
    assert failed_code(resp) == "INVALID_INPUT" and "targetWidht" in resp["error"]

    envelope = {**job_input(job_id="job-envelope"), "outputKey": "x.mp4"}
    resp = handler_api.runsync(envelope)
    assert failed_code(resp) == "INVALID_INPUT" and "outputKey" in resp["error"]

    resp = handler_api.runsync(job_input(job_id="job-type", type="blur"))
    assert failed_code(resp) == "INVALID_INPUT" and "blur" in resp["error"]


def test_corrupt_input_is_a_media_error(handler_api: Any, s3: Any, it: Any) -> None:
    it.put_object(s3, f"{USER}/raw/garbage.mp4", b"\x00\x00\x00\x18ftypisom" + b"not a video" * 200)
    resp = handler_api.runsync(job_input(job_id="job-garbage", input_key="raw/garbage.mp4",
                                         output_key="exports/garbage.mp4"))
    assert failed_code(resp) in ("CORRUPT_MEDIA", "UNSUPPORTED_MEDIA")
    assert "raw/garbage.mp4" in resp["error"]  # named by its key, not by the worker's scratch file
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket=it.BUCKET, Key=f"{USER}/exports/garbage.mp4")


def test_overlay_over_http(handler_api: Any, uploaded_input: str, s3: Any, it: Any, tmp_path: Path) -> None:
    require_export("overlay")
    params = {"highlight_regions": [{"id": "r1", "start_time": 0.0, "end_time": 0.9, "keyframes": [
        {"time": 0.0, "x": 60, "y": 48, "radiusX": 20, "radiusY": 30, "color": "#FFD700"},
        {"time": 0.9, "x": 100, "y": 48, "radiusX": 20, "radiusY": 30, "color": "#FFD700"}]}]}
    resp = handler_api.runsync(job_input(job_id="job-overlay", type="overlay",
                                         output_key="exports/overlay.mp4", params=params))
    assert resp["status"] == "COMPLETED", resp
    out = resp["output"]
    assert out["frames"] > 0
    head = s3.head_object(Bucket=it.BUCKET, Key=f"{USER}/exports/overlay.mp4")
    assert head["ContentType"] == "video/mp4" and head["ContentLength"] == out["bytes"]
    local = tmp_path / "overlay.mp4"
    s3.download_file(it.BUCKET, f"{USER}/exports/overlay.mp4", str(local))
    info = reelgpu.probe(local)
    assert info.faststart and (info.width, info.height) == (160, 96) and info.frame_count == out["frames"]


ANNOTATE_CLIPS = [
    {"start_time": 0.0, "end_time": 0.5, "name": "Goal ⚽ «über»", "rating": 5, "tags": ["Goal"]},
    {"start_time": 0.5, "end_time": 1.0, "name": "", "rating": 4, "tags": ["Pass"], "notes": "nice"},
]


def test_annotate_compilation_over_http(handler_api: Any, uploaded_input: str, s3: Any, it: Any) -> None:
    require_export("annotate")
    resp = handler_api.runsync(job_input(job_id="job-annotate", type="annotate",
                                         output_key="exports/annotated.mp4", params={"clips": ANNOTATE_CLIPS}))
    assert resp["status"] == "COMPLETED", resp
    out = resp["output"]
    assert "exports/annotated.mp4.json" in out["extra_output_keys"]
    video = s3.head_object(Bucket=it.BUCKET, Key=f"{USER}/exports/annotated.mp4")
    assert video["ContentType"] == "video/mp4"
    sidecar = s3.get_object(Bucket=it.BUCKET, Key=f"{USER}/exports/annotated.mp4.json")
    assert sidecar["ContentType"] == "application/json"
    clips = json.loads(sidecar["Body"].read())["clips"]
    # The clips' video by the key the job gave, not the worker's scratch copy (in/00.mp4).
    assert [c["source"] for c in clips] == [job_input()["input_key"]] * len(ANNOTATE_CLIPS)


def test_annotate_clips_mode_over_http(handler_api: Any, uploaded_input: str, s3: Any, it: Any) -> None:
    require_export("annotate")
    resp = handler_api.runsync(job_input(job_id="job-annotate-clips", type="annotate",
                                         output_key="exports/clips",
                                         params={"mode": "clips", "clips": ANNOTATE_CLIPS}))
    assert resp["status"] == "COMPLETED", resp
    out = resp["output"]
    clip_keys = [k for k in out["extra_output_keys"] if k.endswith(".mp4")]
    assert len(clip_keys) == 2 and all(k.startswith("exports/clips/") for k in clip_keys)
    for key in clip_keys:
        assert s3.head_object(Bucket=it.BUCKET, Key=f"{USER}/{key}")["ContentType"] == "video/mp4"
    marker = s3.head_object(Bucket=it.BUCKET, Key=f"{USER}/exports/clips.json")
    assert marker["Metadata"]["reelgpu-job-id"] == "job-annotate-clips"


def test_test_input_cli_with_local_storage(it: Any, tmp_path: Path) -> None:
    """``python -m handler --test_input '...'`` against the local storage folder (the README's
    quick start), using the repository's own test_input.json."""
    from handler.sample import write_sample

    storage = tmp_path / "storage"
    write_sample(LocalStorage(storage), "local-user/samples/sample.mp4", width=160, height=96, seconds=1.0)
    job = json.loads((it.REPO / "test_input.json").read_text())
    proc = subprocess.run(
        [sys.executable, "-m", "handler", "--test_input", json.dumps(job)],
        cwd=tmp_path, env=it.clean_env(REELGPU_STORAGE_DIR=str(storage), REELGPU_SCRATCH_DIR=str(tmp_path / "s")),
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = storage / "local-user" / job["input"]["output_key"]
    assert out.is_file() and reelgpu.probe(out).faststart
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not list((tmp_path / "s").glob("reelgpu-job-*"))


def test_require_gpu_fails_fast_without_one(it: Any, tmp_path: Path) -> None:
    from handler.__main__ import gpu_usable

    if gpu_usable(reelgpu.capabilities()):
        pytest.skip("this machine has a usable GPU")
    proc = subprocess.run(
        [sys.executable, "-m", "handler", "--test_input", json.dumps({"input": job_input()})],
        cwd=tmp_path, env=it.clean_env(REELGPU_STORAGE_DIR=str(tmp_path / "st"), REELGPU_REQUIRE_GPU="1"),
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1
    assert "REELGPU_REQUIRE_GPU=1 but no usable GPU" in proc.stdout + proc.stderr
    assert "Started." not in proc.stdout  # no job was taken


def test_a_missing_bucket_stops_the_worker_before_any_job(it: Any, moto_endpoint: str, tmp_path: Path) -> None:
    """A misspelt R2_BUCKET_NAME: every job would fail (and used to say INPUT_NOT_FOUND, "your
    upload is gone"), so the worker exits at start, naming the bucket, and takes no job."""
    proc = subprocess.run(
        [sys.executable, "-m", "handler", "--test_input", json.dumps({"input": job_input()})],
        cwd=tmp_path, env=it.clean_env(R2_ENDPOINT_URL=moto_endpoint, R2_ACCESS_KEY_ID=it.FAKE_KEY_ID,
                                       R2_SECRET_ACCESS_KEY=it.FAKE_SECRET, R2_BUCKET_NAME="reels-typo",
                                       REELGPU_SCRATCH_DIR=str(tmp_path / "s")),
        capture_output=True, text=True, timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    assert "bucket 'reels-typo' does not exist; exiting" in out
    assert "Started." not in proc.stdout and it.FAKE_SECRET not in out


def test_nothing_leaks_into_responses_or_logs(handler_api: Any, it: Any, framing_job: dict[str, Any]) -> None:
    """Runs last in this module: scans every response and the worker's whole log."""
    handler_api.runsync(job_input(job_id="job-leak", input_key="../escape.mp4"))
    texts = [*handler_api.responses, handler_api.log_text()]
    for text in texts:
        assert it.FAKE_SECRET not in text
        assert it.FAKE_KEY_ID not in text
        assert "Traceback" not in text
        assert "error_traceback" not in text
    log_text = handler_api.log_text()
    assert "capabilities:" in log_text  # the startup fitness check ran and logged the table
    assert "progress 0% download" in log_text
    assert not list(handler_api.scratch.glob("reelgpu-job-*"))


# --------------------------------------------------------------------------- in process
@pytest.fixture()
def local_job(tmp_path: Path, sample_video: Path) -> tuple[LocalStorage, Settings, dict[str, Any]]:
    storage = LocalStorage(tmp_path / "storage")
    storage.upload(sample_video, f"{USER}/raw/in.mp4")
    settings = Settings(scratch_dir=str(tmp_path / "scratch"), progress_interval_s=0.0)
    return storage, settings, {"id": "local", "input": job_input(job_id="job-local")}


def _scratch_empty(settings: Settings) -> bool:
    return not list(Path(settings.scratch_dir or "").glob("reelgpu-job-*"))


@pytest.mark.parametrize("how", ["cancel", "deadline"])
def test_cancel_and_deadline_stop_between_frames(local_job: Any, how: str) -> None:
    storage, settings, job = local_job
    holder: dict[str, JobContext] = {}

    def send(payload: dict[str, Any]) -> None:
        if payload["phase"] == "processing" and payload["progress"] > 10:
            if how == "cancel":
                holder["ctx"].cancel_event.set()
            else:
                holder["ctx"].deadline = 0.0

    holder["ctx"] = JobContext(settings, send)
    out = hjob.run_job_sync(job, storage, holder["ctx"])
    assert out["code"] == ("CANCELLED" if how == "cancel" else "TIMEOUT"), out
    assert out["retryable"] is (how == "deadline")
    assert not storage.exists(f"{USER}/exports/e2e.mp4")
    assert _scratch_empty(settings)


def test_asyncio_cancellation_reaches_the_worker_thread(local_job: Any) -> None:
    storage, settings, job = local_job
    processing = threading.Event()

    def send(payload: dict[str, Any]) -> None:
        if payload["phase"] == "processing":
            processing.set()

    async def scenario() -> None:
        task = asyncio.ensure_future(hjob.run(job, storage=storage, settings=settings, send=send))
        while not processing.is_set():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert not storage.exists(f"{USER}/exports/e2e.mp4")
    assert _scratch_empty(settings)


def test_internal_errors_are_generic_and_logs_scrubbed(local_job: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    storage, settings, job = local_job
    secret = "fakeSecretValue/abcdefghij0123456789"
    monkeypatch.setenv("R2_SECRET_ACCESS_KEY", secret)

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"kaboom with {secret} and https://x/?X-Amz-Signature=deadbeef")

    monkeypatch.setattr(reelgpu, "framing", boom, raising=False)
    stream = io.StringIO()
    log_handler = logging.StreamHandler(stream)
    log_handler.setFormatter(ScrubbingFormatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("handler")
    logger.addHandler(log_handler)
    try:
        out = hjob.run_job_sync(job, storage, JobContext(settings, lambda p: None))
    finally:
        logger.removeHandler(log_handler)
    assert out["code"] == "INTERNAL" and out["retryable"] is False
    assert out["error"].startswith("INTERNAL: ") and "kaboom" not in out["error"]
    logged = stream.getvalue()
    assert "Traceback" in logged and "kaboom" in logged  # the worker log keeps the details...
    assert secret not in logged and "deadbeef" not in logged  # ...without the credentials
    assert _scratch_empty(settings)


def test_unverifiable_output_is_never_published(local_job: Any, monkeypatch: pytest.MonkeyPatch,
                                                it: Any) -> None:
    """An export that writes a file with moov after mdat (the editor cannot load it) fails the job."""
    from tests.conftest import remux_video

    storage, settings, job = local_job

    def late_moov(src: Any, dst: Any, spec: Any, **kwargs: Any) -> reelgpu.ExportResult:
        remux_video(Path(src), Path(dst), "mp4")  # no +faststart: the moov atom comes last
        return reelgpu.ExportResult(output=Path(dst), frames=30, duration_s=1.0, width=160, height=96,
                                    fps=30.0, backend={"decode": "x", "process": "x", "encode": "x"})

    monkeypatch.setattr(reelgpu, "framing", late_moov, raising=False)
    out = hjob.run_job_sync(job, storage, JobContext(settings, lambda p: None))
    assert out["code"] == "INTERNAL" and "faststart" in out["error"], out
    assert not storage.exists(f"{USER}/exports/e2e.mp4")


def test_main_output_is_a_verified_video_whatever_its_extension(local_job: Any) -> None:
    storage, settings, job = local_job
    job["input"]["output_key"] = "exports/reel-without-extension"
    out = hjob.run_job_sync(job, storage, JobContext(settings, lambda p: None))
    assert out["status"] == "success", out
    assert storage.content_type(f"{USER}/exports/reel-without-extension") == "video/mp4"
    assert out["timings_s"]["upload"] >= 0 and out["timings_s"]["job_total"] > 0
    again = hjob.run_job_sync(job, storage, JobContext(settings, lambda p: None))
    assert again["reused"] is True and again["bytes"] == out["bytes"] and again["frames"] == out["frames"]
    assert _scratch_empty(settings)


def test_annotate_clips_mode_with_no_clip_good_enough(local_job: Any) -> None:
    """No clip reaches min_rating: success with an empty manifest, not an error."""
    require_export("annotate")
    storage, settings, job = local_job
    job["input"].update(type="annotate", output_key="exports/none", params={
        "mode": "clips", "min_rating": 5, "clips": [{"start_time": 0.0, "end_time": 0.5, "rating": 3}]})
    out = hjob.run_job_sync(job, storage, JobContext(settings, lambda p: None))
    assert out["status"] == "success" and out["extra_output_keys"] == [], out
    manifest = json.loads((storage.root / USER / "exports/none.json").read_text())
    assert manifest["outputs"] == []


def test_progress_is_throttled_and_monotonic() -> None:
    sent: list[dict[str, Any]] = []
    progress = Progress(sent.append, min_interval=3600)
    progress.report("download", 0.0)
    for i in range(1000):
        progress.frames(i, 1000)
    assert len(sent) == 1
    fast = Progress(sent.append, min_interval=0.0)
    fast.report("processing", 0.8)
    fast.report("processing", 0.2)  # never backwards
    fast.frames(10, 10)
    assert [p["progress"] for p in sent[1:]] == [74, 90]
    assert sent[-1]["phase"] == "encoding"


def test_every_progress_post_lands_before_the_result(local_job: Any) -> None:
    """On RunPod each update is an HTTPS post on a thread of its own; one still in flight when
    the result is sent arrived after it and showed the job IN_PROGRESS again. The job waits
    for its posts (here: each takes 0.3 s) before returning the result."""
    from handler.progress import PostedUpdates

    storage, settings, job = local_job
    landed: list[tuple[float, dict[str, Any]]] = []

    def slow_post(_job: dict[str, Any], payload: dict[str, Any]) -> None:
        time.sleep(0.3)
        landed.append((time.monotonic(), payload))

    sender = PostedUpdates(job, slow_post)
    out = asyncio.run(hjob.run(job, storage=storage, settings=settings, send=sender))
    returned = time.monotonic()
    assert out["status"] == "success" and landed
    assert {p["phase"] for _, p in landed} >= {"download", "processing", "upload"}
    assert all(t <= returned for t, _ in landed)


def test_close_waits_for_an_update_being_sent() -> None:
    """close() between report()'s check and its post would not wait for that post."""
    events: list[str] = []
    closer: list[threading.Thread] = []

    def send(_payload: dict[str, Any]) -> None:
        closer.append(threading.Thread(target=lambda: (progress.close(), events.append("closed"))))
        closer[0].start()
        time.sleep(0.2)
        events.append("sent")

    progress = Progress(send, min_interval=0.0)
    progress.report("upload", 0.5)
    closer[0].join()
    assert events == ["sent", "closed"]


def test_a_closed_progress_sends_nothing() -> None:
    sent: list[dict[str, Any]] = []
    progress = Progress(sent.append, min_interval=0.0)
    progress.report("download", 0.5)
    progress.close()
    progress.report("upload", 0.5)
    assert [p["phase"] for p in sent] == ["download"]


def test_the_deadline_starts_when_the_job_does(local_job: Any) -> None:
    """Time spent waiting for a worker thread (another job holds it) is not the job's."""
    storage, settings, job = local_job
    ctx = JobContext(dataclasses.replace(settings, job_timeout_s=2.0), lambda _p: None)
    time.sleep(2.2)  # queued behind another job longer than its whole deadline
    out = hjob.run_job_sync(job, storage, ctx)
    assert out["status"] == "success", out


def test_the_outer_limit_also_starts_when_the_job_does(local_job: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's last-resort limit (deadline + grace) counted from when the job was taken:
    one queued behind another job for longer than that was answered TIMEOUT (and the worker
    retired) after a fraction of a second of its own work."""
    from concurrent.futures import ThreadPoolExecutor

    storage, settings, job = local_job
    monkeypatch.setattr(hjob, "_EXECUTOR", ThreadPoolExecutor(max_workers=1))  # one thread: a queue
    monkeypatch.setattr(hjob, "CANCEL_GRACE_S", 0.5)
    settings = dataclasses.replace(settings, job_timeout_s=4.0)

    async def scenario() -> dict[str, Any]:
        blocker = hjob._EXECUTOR.submit(time.sleep, 5.0)  # longer than deadline + grace
        try:
            return await hjob.run(job, storage=storage, settings=settings)
        finally:
            blocker.result()

    out = asyncio.run(scenario())
    assert out["status"] == "success", out


def test_no_progress_lands_after_a_timeout_answer(local_job: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stage that overruns the deadline: the worker answers TIMEOUT while its thread goes on;
    the thread's later updates must not follow that answer."""
    storage, settings, job = local_job
    monkeypatch.setattr(hjob, "CANCEL_GRACE_S", 0.2)
    settings = dataclasses.replace(settings, job_timeout_s=0.5)
    posts: list[tuple[float, dict[str, Any]]] = []
    real_export = reelgpu.framing

    def stuck_export(*args: Any, progress: Any = None, **kwargs: Any) -> Any:
        for i in range(30):  # a stage that does not look at cancel, reporting as it goes
            time.sleep(0.05)
            progress(i, 30)
        return real_export(*args, progress=progress, **kwargs)

    monkeypatch.setattr(reelgpu, "framing", stuck_export)
    out = asyncio.run(hjob.run(job, storage=storage, settings=settings,
                               send=lambda p: posts.append((time.monotonic(), p))))
    answered = time.monotonic()
    assert out["code"] == "TIMEOUT" and out["refresh_worker"] is True
    time.sleep(1.6)  # the thread finishes its stage meanwhile
    assert [p for t, p in posts if t > answered] == []


def test_the_sdk_post_is_where_progress_expects_it() -> None:
    """PostedUpdates runs the SDK's own post function; if a runpod release moves it, the
    fallback (progress_update, unjoinable) would bring the race back: this says so first."""
    from runpod.serverless.modules import rp_progress

    from handler.progress import _runpod_post

    assert _runpod_post() is rp_progress._thread_target


def test_a_cpu_fallback_reason_names_keys_not_scratch_paths(local_job: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """backend["fallback"] (NVDEC refused mid-decode, the export ran again on the CPU) reaches
    the caller with the input's storage key, never the worker's scratch path, and short."""
    storage, settings, job = local_job
    real = reelgpu.framing

    def refused_then_cpu(src: Any, dst: Any, spec: Any, **kwargs: Any) -> reelgpu.ExportResult:
        result = real(src, dst, spec, **{**kwargs, "device": "cpu"})
        result.backend["fallback"] = f"{src}: NVDEC cannot decode it ({'driver detail ' * 100}); use device='cpu'"
        return result

    monkeypatch.setattr(reelgpu, "framing", refused_then_cpu, raising=False)
    out = hjob.run_job_sync(job, storage, JobContext(settings, lambda p: None))
    assert out["status"] == "success", out
    reason = out["backend"]["fallback"]
    assert reason.startswith(f"{job['input']['input_key']}: NVDEC cannot decode it") and len(reason) == 300
    assert "reelgpu-job-" not in reason and str(settings.scratch_dir or "/tmp") not in reason
