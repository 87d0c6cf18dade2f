"""Range reads in the handler, against moto's S3 server over HTTP: annotate and framing read the
parts of a big input they need instead of downloading it, publish what a download would have
given, and fail cleanly (retryable, nothing published, nothing left in scratch) when storage
fails or the object is replaced while the export reads it."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from handler import job as hjob
from handler.settings import Settings
from handler.storage import S3Storage, StorageError
from tests.conftest import noisy_video

USER = "rangetest/users/u1"
GAME = "raw/game.mp4"
BLOCK = 64 * 1024
ANNOTATE = {"clips": [{"start_time": 1.0, "end_time": 1.6, "name": "Goal", "rating": 5},
                      {"start_time": 21.2, "end_time": 21.8, "name": "Save", "rating": 4}],
            "encode": {"preset": "ultrafast"}}


class SpyStorage(S3Storage):
    """S3Storage that records downloads and range reads, and can act before a given range read."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.downloads: list[str] = []
        self.reads: list[tuple[str, int, int]] = []
        self.before_read: dict[int, Callable[[], None]] = {}  # call number (1-based) -> action
        self.fail_from: int | None = None  # every read from this call number on fails
        self.delay_s = 0.0  # each read waits this long first (slow storage)
        self.read_times: list[float] = []

    def download(self, key: str, path: Path, **kwargs: Any) -> None:
        self.downloads.append(key)
        super().download(key, path, **kwargs)

    def read_range(self, key: str, start: int, length: int, *, version: str | None = None) -> bytes:
        self.reads.append((key, start, length))
        self.read_times.append(time.monotonic())
        time.sleep(self.delay_s)
        action = self.before_read.get(len(self.reads))
        if action is not None:
            action()
        if self.fail_from is not None and len(self.reads) >= self.fail_from:
            raise StorageError("STORAGE_ERROR", f"could not read {key!r} (SlowDown)", retryable=True)
        return super().read_range(key, start, length, version=version)


@pytest.fixture(scope="module")
def game(s3: Any, it: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 s of noisy 320x180 video with a tone (~3.8 MB: 58 blocks of 64 KiB)."""
    path = noisy_video(tmp_path_factory.mktemp("range") / "game.mp4", seconds=30, gop=30)
    it.put_object(s3, f"{USER}/{GAME}", path)
    return path


def storage(moto_endpoint: str, it: Any) -> SpyStorage:
    return SpyStorage(endpoint_url=moto_endpoint, access_key_id=it.FAKE_KEY_ID, secret_access_key=it.FAKE_SECRET,
                      bucket=it.BUCKET, max_attempts=2)


def run(store: SpyStorage, scratch: Path, kind: str, output_key: str, params: dict[str, Any], *,
        ranged: bool) -> dict[str, Any]:
    settings = Settings(device="cpu", scratch_dir=str(scratch), job_timeout_s=120, progress_interval_s=5,
                        range_read_min_bytes=0 if ranged else 2**40, range_block_bytes=BLOCK)
    job_id = output_key.replace("/", "-")
    job = {"id": job_id, "input": {"job_id": job_id, "user_id": USER, "type": kind, "input_key": GAME,
                                       "output_key": output_key, "params": params}}
    return asyncio.run(hjob.run(job, storage=store, settings=settings, send=lambda p: None))


def body(s3: Any, it: Any, key: str) -> bytes:
    return s3.get_object(Bucket=it.BUCKET, Key=f"{USER}/{key}")["Body"].read()


def keys_under(s3: Any, it: Any, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=it.BUCKET, Prefix=f"{USER}/{prefix}").get("Contents", [])]


def test_annotate_reads_the_game_by_range_and_publishes_what_a_download_gives(
        game: Path, s3: Any, it: Any, moto_endpoint: str, tmp_path: Path) -> None:
    ranged_store = storage(moto_endpoint, it)
    result = run(ranged_store, tmp_path / "scratch", "annotate", "out/ranged.mp4", ANNOTATE, ranged=True)
    assert result["status"] == "success", result
    assert ranged_store.downloads == []
    fetched = sum(length for _, _, length in ranged_store.reads)
    size = game.stat().st_size
    assert ranged_store.reads and all(key == f"{USER}/{GAME}" for key, _, _ in ranged_store.reads)
    # The probe reads the first seconds and two windows (1/3 and 2/3 in); the clips the rest.
    assert fetched < 0.75 * size, f"{fetched} of {size} bytes fetched for 1.2 s of a 30 s game"

    whole_store = storage(moto_endpoint, it)
    again = run(whole_store, tmp_path / "scratch", "annotate", "out/whole.mp4", ANNOTATE, ranged=False)
    assert again["status"] == "success" and whole_store.downloads == [f"{USER}/{GAME}"] and not whole_store.reads
    assert body(s3, it, "out/ranged.mp4") == body(s3, it, "out/whole.mp4")
    assert json.loads(body(s3, it, "out/ranged.mp4.json")) == json.loads(body(s3, it, "out/whole.mp4.json"))
    assert not list((tmp_path / "scratch").rglob("*")) or not any(p.is_file() for p in (tmp_path / "scratch").rglob("*"))


def test_framing_reads_by_range_and_overlay_downloads(game: Path, s3: Any, it: Any, moto_endpoint: str,
                                                      tmp_path: Path) -> None:
    framing = {"keyframes": [{"time": 0, "x": 100, "y": 0, "width": 101, "height": 180}], "target_width": 90,
               "target_height": 160, "segment_data": {"trim_start": 2.0, "trim_end": 2.5},
               "encode": {"preset": "ultrafast"}}
    store = storage(moto_endpoint, it)
    assert run(store, tmp_path / "s", "framing", "out/framed.mp4", framing, ranged=True)["status"] == "success"
    assert store.reads and not store.downloads
    # Overlay decodes all of its input: a download, whatever the size.
    store = storage(moto_endpoint, it)
    region = {"start_time": 0, "end_time": 1, "keyframes": [{"time": 0, "x": 160, "y": 90, "radiusX": 20,
                                                             "radiusY": 40}]}
    result = run(store, tmp_path / "s", "overlay", "out/overlaid.mp4", {"highlight_regions": [region],
                                                                       "encode": {"preset": "ultrafast"}}, ranged=True)
    assert result["status"] == "success" and store.downloads == [f"{USER}/{GAME}"] and not store.reads


def test_a_game_replaced_while_it_is_read_fails_the_job_cleanly(game: Path, s3: Any, it: Any, moto_endpoint: str,
                                                                 tmp_path: Path) -> None:
    store = storage(moto_endpoint, it)
    key = "raw/replaced.mp4"
    it.put_object(s3, f"{USER}/{key}", game)
    # A new upload under the same key after the job has read the header: If-Match refuses the
    # reads after it. (Not later: the export reads a few spans at once, and when the replaced
    # read was one fetched ahead, the reads in flight beside it could hold all the job needed,
    # of the old object: a success, and a right one.)
    store.before_read[2] = lambda: it.put_object(s3, f"{USER}/{key}", game.read_bytes()[::-1])
    settings = Settings(device="cpu", scratch_dir=str(tmp_path / "s"), job_timeout_s=120, range_read_min_bytes=0,
                        range_block_bytes=BLOCK)
    job = {"id": "r", "input": {"job_id": "r", "user_id": USER, "type": "annotate", "input_key": key,
                                "output_key": "out/replaced.mp4", "params": ANNOTATE}}
    result = asyncio.run(hjob.run(job, storage=store, settings=settings, send=lambda p: None))
    assert result["code"] == "STORAGE_ERROR" and result["retryable"] is True, result
    assert "raw/replaced.mp4' was replaced while the job was reading it" in result["error"]
    assert keys_under(s3, it, "out/replaced") == []
    assert not any(p.is_file() for p in (tmp_path / "s").rglob("*"))


def test_a_storage_failure_mid_export_is_retryable_and_leaves_nothing(game: Path, s3: Any, it: Any,
                                                                       moto_endpoint: str, tmp_path: Path) -> None:
    store = storage(moto_endpoint, it)

    # Storage goes away after three reads. (One failed read-ahead alone fails nothing: the
    # reader that needs the block reads it again; S3Storage retries transient faults itself.)
    store.fail_from = 4
    result = run(store, tmp_path / "s", "annotate", "out/failed.mp4", ANNOTATE, ranged=True)
    assert result["code"] == "STORAGE_ERROR" and result["retryable"] is True, result
    assert "SlowDown" in result["error"]
    assert keys_under(s3, it, "out/failed") == []
    assert not any(p.is_file() for p in (tmp_path / "s").rglob("*"))


def test_a_fragmented_mp4_is_downloaded_not_read_by_range(game: Path, s3: Any, it: Any, moto_endpoint: str,
                                                           tmp_path: Path) -> None:
    """Its probe and seeks would read every fragment's header, one request each."""
    frag = tmp_path / "frag.mp4"
    subprocess.run([shutil.which("ffmpeg") or "ffmpeg", "-v", "error", "-i", str(game), "-c", "copy", "-movflags",
                    "frag_keyframe+empty_moov", str(frag)], check=True)
    it.put_object(s3, f"{USER}/raw/frag.mp4", frag)
    store = storage(moto_endpoint, it)
    settings = Settings(device="cpu", scratch_dir=str(tmp_path / "s"), job_timeout_s=120, range_read_min_bytes=0,
                        range_block_bytes=BLOCK)
    job = {"id": "frag", "input": {"job_id": "frag", "user_id": USER, "type": "annotate", "input_key": "raw/frag.mp4",
                                   "output_key": "out/frag.mp4", "params": ANNOTATE}}
    result = asyncio.run(hjob.run(job, storage=store, settings=settings, send=lambda p: None))
    assert result["status"] == "success", result
    assert store.downloads == [f"{USER}/raw/frag.mp4"]
    assert sum(length for _, _, length in store.reads) <= 2 * BLOCK  # the header check only


def test_slow_range_reads_stop_at_the_deadline(game: Path, s3: Any, it: Any, moto_endpoint: str,
                                               tmp_path: Path) -> None:
    """The probe and the audio reads come before the first frame, where the export checks its
    cancel flag: each range read checks the job's deadline itself (as a download's progress
    callback does). Without that, slow storage kept a job reading ~30 s past a 6 s deadline."""
    store = storage(moto_endpoint, it)
    store.delay_s = 0.2  # 64 KiB blocks of a 3.8 MB game: a few hundred reads without the check
    settings = Settings(device="cpu", scratch_dir=str(tmp_path / "s"), job_timeout_s=1.0, range_read_min_bytes=0,
                        range_block_bytes=BLOCK)
    job = {"id": "slow", "input": {"job_id": "slow", "user_id": USER, "type": "annotate", "input_key": GAME,
                                   "output_key": "out/slow.mp4", "params": ANNOTATE}}
    t0 = time.monotonic()
    result = asyncio.run(hjob.run(job, storage=store, settings=settings, send=lambda p: None))
    assert result["code"] == "TIMEOUT" and "refresh_worker" not in result, result  # the job thread stopped itself
    late = [t for t in store.read_times if t > t0 + settings.job_timeout_s + 0.5]
    assert len(late) <= 3, f"{len(late)} reads began well after the deadline"  # those already under way
    assert keys_under(s3, it, "out/slow") == []
    assert not any(p.is_file() for p in (tmp_path / "s").rglob("*"))
