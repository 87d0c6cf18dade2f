"""Storage: the local folder (atomic publication, no escapes) and S3Storage against moto's S3
server over real HTTP (metadata, content types, multipart, error mapping)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from handler.storage import (
    LocalStorage,
    S3Storage,
    StorageConfigError,
    StorageError,
    content_type_for,
    storage_from_env,
)

MiB = 1024 * 1024


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------- LocalStorage
def test_local_round_trip_with_metadata(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "root")
    src = _file(tmp_path / "a.mp4", b"video-bytes")
    assert store.head("u/a.mp4") is None and store.metadata("u/a.mp4") is None
    store.upload(src, "u/out/a.mp4", metadata={"reelgpu-job-id": "j1"})
    assert store.head("u/out/a.mp4") == len(b"video-bytes") and store.exists("u/out/a.mp4")
    assert store.metadata("u/out/a.mp4")["reelgpu-job-id"] == "j1"
    assert store.content_type("u/out/a.mp4") == "video/mp4"
    store.download("u/out/a.mp4", tmp_path / "dl" / "b.mp4")
    assert (tmp_path / "dl" / "b.mp4").read_bytes() == b"video-bytes"


def test_local_missing_key_is_input_not_found(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    with pytest.raises(StorageError) as err:
        store.download("u/none.mp4", tmp_path / "x.mp4")
    assert err.value.code == "INPUT_NOT_FOUND" and err.value.retryable is False
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize("key", ["../outside.mp4", "u/../../outside.mp4", "/etc/passwd", "a\\b",
                                 ".reelgpu-meta/u/a.mp4.json", "", "a/\x00"])
def test_local_refuses_keys_that_leave_the_root(tmp_path: Path, key: str) -> None:
    store = LocalStorage(tmp_path / "root")
    src = _file(tmp_path / "a.mp4", b"x")
    with pytest.raises(StorageError) as err:
        store.upload(src, key)
    assert err.value.code == "FORBIDDEN_KEY"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "root"]


def test_local_refuses_symlinks_out_of_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store = LocalStorage(root)
    (tmp_path / "elsewhere").mkdir()
    (root / "u").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(StorageError, match="outside"):
        store.upload(_file(tmp_path / "a.mp4", b"x"), "u/a.mp4")
    assert not list((tmp_path / "elsewhere").iterdir())


def test_local_upload_is_atomic(tmp_path: Path) -> None:
    """While a copy runs, readers see the old object (or none), never a partial one."""
    store = LocalStorage(tmp_path / "root")
    old = _file(tmp_path / "old.mp4", b"old" * 10)
    new = _file(tmp_path / "new.mp4", os.urandom(9 * MiB))
    store.upload(old, "u/a.mp4")
    seen: list[bytes] = []
    store.upload(new, "u/a.mp4", progress=lambda n: seen.append((store.root / "u/a.mp4").read_bytes()))
    assert seen and all(s == b"old" * 10 for s in seen)
    assert (store.root / "u/a.mp4").read_bytes() == new.read_bytes()

    def fail(n: int) -> None:
        raise RuntimeError("disk vanished")

    with pytest.raises(RuntimeError):
        store.upload(_file(tmp_path / "third.mp4", os.urandom(5 * MiB)), "u/a.mp4", progress=fail)
    assert (store.root / "u/a.mp4").read_bytes() == new.read_bytes()
    with pytest.raises(RuntimeError):
        store.upload(new, "u/fresh.mp4", progress=fail)
    assert not store.exists("u/fresh.mp4")
    leftovers = [p.name for p in (store.root / "u").iterdir()]
    assert sorted(leftovers) == ["a.mp4"], "temp files left behind"


def test_local_stat_and_read_range(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "root")
    data = os.urandom(5000)
    store.upload(_file(tmp_path / "a.mp4", data), "u/a.mp4")
    info = store.stat("u/a.mp4")
    assert info is not None and info.size == 5000 and store.stat("u/none.mp4") is None
    assert store.read_range("u/a.mp4", 1000, 2000, version=info.version) == data[1000:3000]
    with pytest.raises(StorageError, match=r"from byte 4000 returned 1000") as err:
        store.read_range("u/a.mp4", 4000, 2000)
    assert err.value.code == "STORAGE_ERROR" and err.value.retryable
    store.upload(_file(tmp_path / "b.mp4", os.urandom(5001)), "u/a.mp4")  # replaced
    with pytest.raises(StorageError, match="'u/a.mp4' was replaced while the job was reading it") as err:
        store.read_range("u/a.mp4", 0, 10, version=info.version)
    assert err.value.code == "STORAGE_ERROR" and err.value.retryable
    with pytest.raises(StorageError) as err:
        store.read_range("u/none.mp4", 0, 10)
    assert err.value.code == "INPUT_NOT_FOUND"


def test_content_types() -> None:
    assert content_type_for("u/x.mp4") == "video/mp4"
    assert content_type_for("u/x.MP4") == "video/mp4"
    assert content_type_for("u/x.mp4.json") == "application/json"
    assert content_type_for("u/x") == "application/octet-stream"


# --------------------------------------------------------------------------- S3Storage on moto
@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def s3store(moto_url: str) -> S3Storage:
    store = S3Storage(endpoint_url=moto_url, access_key_id="AKIAUNITTESTFAKE", secret_access_key="unit/secret",
                      bucket="reelgpu-unit", part_size=5 * MiB, max_attempts=2)
    store.client.create_bucket(Bucket="reelgpu-unit", CreateBucketConfiguration={"LocationConstraint": "auto"})
    return store


def test_s3_client_is_configured_for_r2(s3store: S3Storage) -> None:
    config = s3store.client.meta.config
    assert s3store.client.meta.region_name == "auto"
    assert config.signature_version == "s3v4"
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"
    assert config.retries["mode"] == "standard"


def test_s3_upload_head_metadata_download(s3store: S3Storage, tmp_path: Path) -> None:
    src = _file(tmp_path / "a.mp4", os.urandom(1000))
    s3store.upload(src, "u1/out/a.mp4", metadata={"reelgpu-job-id": "job-7"})
    assert s3store.head("u1/out/a.mp4") == 1000 and s3store.exists("u1/out/a.mp4")
    assert s3store.metadata("u1/out/a.mp4") == {"reelgpu-job-id": "job-7"}
    assert s3store.content_type("u1/out/a.mp4") == "video/mp4"
    sidecar = _file(tmp_path / "a.mp4.json", b"{}")
    s3store.upload(sidecar, "u1/out/a.mp4.json")
    assert s3store.content_type("u1/out/a.mp4.json") == "application/json"
    dst = tmp_path / "dl" / "a.mp4"
    got: list[int] = []
    s3store.download("u1/out/a.mp4", dst, progress=got.append)
    assert dst.read_bytes() == src.read_bytes() and sum(got) == 1000
    assert [p.name for p in dst.parent.iterdir()] == ["a.mp4"]


def test_s3_multipart_round_trip(s3store: S3Storage, tmp_path: Path) -> None:
    src = _file(tmp_path / "big.mp4", os.urandom(11 * MiB))  # 3 parts of 5 MiB
    s3store.upload(src, "u1/big.mp4", metadata={"reelgpu-job-id": "job-big"})
    head = s3store.client.head_object(Bucket="reelgpu-unit", Key="u1/big.mp4")
    assert head["ETag"].strip('"').endswith("-3")  # a completed multipart upload
    assert s3store.metadata("u1/big.mp4") == {"reelgpu-job-id": "job-big"}
    s3store.download("u1/big.mp4", tmp_path / "big-copy.mp4")
    assert (tmp_path / "big-copy.mp4").read_bytes() == src.read_bytes()


def test_s3_stat_and_read_range(s3store: S3Storage, tmp_path: Path) -> None:
    data = os.urandom(3000)
    s3store.upload(_file(tmp_path / "a.mp4", data), "u1/ranged/a.mp4")
    info = s3store.stat("u1/ranged/a.mp4")
    assert info is not None and info.size == 3000 and info.version.strip('"')
    assert s3store.stat("u1/ranged/none.mp4") is None
    assert s3store.read_range("u1/ranged/a.mp4", 100, 900, version=info.version) == data[100:1000]
    assert s3store.read_range("u1/ranged/a.mp4", 2999, 1) == data[2999:]
    with pytest.raises(StorageError, match=r"reading 10 bytes of 'u1/ranged/a.mp4' from byte 2995 returned 5"):
        s3store.read_range("u1/ranged/a.mp4", 2995, 10)  # past the end: the answer is short
    s3store.upload(_file(tmp_path / "b.mp4", os.urandom(3000)), "u1/ranged/a.mp4")  # same size, new bytes
    with pytest.raises(StorageError, match="was replaced while the job was reading it") as err:
        s3store.read_range("u1/ranged/a.mp4", 0, 10, version=info.version)  # If-Match: 412
    assert err.value.code == "STORAGE_ERROR" and err.value.retryable
    with pytest.raises(StorageError) as err:
        s3store.read_range("u1/ranged/none.mp4", 0, 10)
    assert err.value.code == "INPUT_NOT_FOUND"


def test_s3_missing_key(s3store: S3Storage, tmp_path: Path) -> None:
    assert s3store.head("u1/none.mp4") is None
    assert s3store.metadata("u1/none.mp4") is None
    with pytest.raises(StorageError) as err:
        s3store.download("u1/none.mp4", tmp_path / "none.mp4")
    assert err.value.code == "INPUT_NOT_FOUND" and "u1/none.mp4" in str(err.value)
    assert not list(tmp_path.iterdir()), "no partial download left"


def test_s3_other_failures_are_retryable_storage_errors(moto_url: str, tmp_path: Path) -> None:
    nobucket = S3Storage(endpoint_url=moto_url, access_key_id="AKIAUNITTESTFAKE", secret_access_key="s",
                         bucket="reelgpu-does-not-exist", max_attempts=1)
    with pytest.raises(StorageError) as err:
        nobucket.upload(_file(tmp_path / "a.mp4", b"x"), "u/a.mp4")
    assert err.value.code == "STORAGE_ERROR" and err.value.retryable and "NoSuchBucket" in str(err.value)

    # Reading from it: HEAD answers a bare 404, as for a missing object - not INPUT_NOT_FOUND.
    for read in (nobucket.head, nobucket.exists, nobucket.metadata):
        with pytest.raises(StorageError) as err:
            read("u/a.mp4")
        assert err.value.code == "STORAGE_ERROR" and err.value.retryable
        assert "bucket 'reelgpu-does-not-exist' does not exist (R2_BUCKET_NAME)" in str(err.value)
    assert nobucket.bucket_problem() == ("bucket 'reelgpu-does-not-exist' does not exist", True)

    dead = S3Storage(endpoint_url="http://127.0.0.1:9", access_key_id="AKIAUNITTESTFAKE", secret_access_key="s",
                     bucket="b-b-b", max_attempts=1)
    with pytest.raises(StorageError) as err:
        dead.head("u/a.mp4")
    assert err.value.code == "STORAGE_ERROR" and err.value.retryable
    assert "127.0.0.1" not in str(err.value)  # endpoint URLs (R2 account ids) stay out of messages
    problem = dead.bucket_problem()
    assert problem is not None and problem[1] is False and "cannot be reached" in problem[0]


def test_s3_bucket_is_checked_once_for_missing_objects(s3store: S3Storage, moto_url: str) -> None:
    fresh = S3Storage(endpoint_url=moto_url, access_key_id="AKIAUNITTESTFAKE", secret_access_key="unit/secret",
                      bucket=s3store.bucket, max_attempts=1)
    calls: list[str] = []
    fresh.client.meta.events.register("before-call.s3.HeadBucket", lambda **_: calls.append("head_bucket"))
    for _ in range(3):
        assert fresh.head("u1/none.mp4") is None
    assert fresh.bucket_problem() is None
    assert calls == ["head_bucket"] * 2  # the first missing object, then the explicit call


# --------------------------------------------------------------------------- configuration
R2 = {"R2_ACCESS_KEY_ID": "AKIAENVFAKE", "R2_SECRET_ACCESS_KEY": "envsecret", "R2_BUCKET_NAME": "bkt"}


@pytest.mark.parametrize("endpoint_var", ["R2_ENDPOINT", "R2_ENDPOINT_URL"])
def test_storage_from_env_picks_s3(endpoint_var: str, moto_url: str) -> None:
    store = storage_from_env({**R2, endpoint_var: moto_url})
    assert isinstance(store, S3Storage) and store.bucket == "bkt"
    assert storage_from_env({**R2, endpoint_var: moto_url}) is store  # one client per process


def test_storage_from_env_defaults_to_a_local_folder(tmp_path: Path) -> None:
    store = storage_from_env({"REELGPU_STORAGE_DIR": str(tmp_path / "st")})
    assert isinstance(store, LocalStorage) and store.root == (tmp_path / "st").resolve()


def test_partial_r2_config_fails_loudly_without_echoing_secrets() -> None:
    with pytest.raises(StorageConfigError) as err:
        storage_from_env({"R2_ENDPOINT": "https://acct.r2.cloudflarestorage.com", "R2_SECRET_ACCESS_KEY": "s3cr3t!"})
    text = str(err.value)
    assert "R2_ACCESS_KEY_ID" in text and "R2_BUCKET_NAME" in text and "s3cr3t!" not in text


def test_storage_protocol_is_satisfied(tmp_path: Path, s3store: S3Storage) -> None:
    from handler.storage import Storage

    store: Any = LocalStorage(tmp_path)
    assert isinstance(store, Storage) and isinstance(s3store, Storage)
