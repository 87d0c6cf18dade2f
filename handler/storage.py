"""Object storage behind one small interface: Cloudflare R2 / S3 (boto3) or a local folder.

The handler only ever passes *full* keys here (already validated and prefixed by
:mod:`handler.keys`); storage never interprets a key as a path except in :class:`LocalStorage`,
which refuses anything that would resolve outside its root (defence in depth: the key rules
in ``keys.py`` are the real gate).

Both implementations publish atomically: an object appears under its key only complete
(S3: a single PUT or a completed multipart upload; local: temp file + ``os.replace``).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .errors import JobError
from .settings import env_number

log = logging.getLogger("handler.storage")

# bytes transferred since the last call; used for download/upload progress.
BytesCallback = Callable[[int], None]

MiB = 1024 * 1024


class StorageError(JobError):
    """A storage failure with the handler's error code.

    ``INPUT_NOT_FOUND`` when the object does not exist, ``STORAGE_ERROR`` (retryable) for
    everything else: network trouble, throttling and permissions all look alike from here,
    and another attempt (or worker) is the only remedy the job can offer. Unlike a plain
    :class:`JobError`, every storage failure must say whether it is retryable.
    """

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(code, message, retryable=retryable)


def not_found(key: str) -> StorageError:
    return StorageError("INPUT_NOT_FOUND", f"object {key!r} does not exist", retryable=False)


def content_type_for(key: str) -> str:
    """The Content-Type we publish: the editor and browsers sniff nothing, so be exact."""
    lower = key.lower()
    if lower.endswith(".mp4") or lower.endswith(".m4v"):
        return "video/mp4"
    if lower.endswith(".json"):
        return "application/json"
    if lower.endswith(".png"):
        return "image/png"
    return "application/octet-stream"


@dataclasses.dataclass(frozen=True)
class ObjectInfo:
    """What a HEAD says of an object: its size and a version that changes when it is replaced
    (S3: the ETag; a local folder: size and modification time)."""

    size: int
    version: str


def changed(key: str) -> StorageError:
    return StorageError("STORAGE_ERROR", f"object {key!r} was replaced while the job was reading it",
                        retryable=True)


def short_read(key: str, start: int, length: int, got: int) -> StorageError:
    return StorageError("STORAGE_ERROR", f"reading {length} bytes of {key!r} from byte {start} returned {got}",
                        retryable=True)


@runtime_checkable
class Storage(Protocol):
    """What the handler needs from storage, nothing more."""

    def head(self, key: str) -> int | None:
        """Size in bytes, or None when the object does not exist."""

    def metadata(self, key: str) -> dict[str, str] | None:
        """User metadata (lower-case names) of an existing object, or None when it does not exist."""

    def exists(self, key: str) -> bool:
        """Whether the object exists."""

    def stat(self, key: str) -> ObjectInfo | None:
        """Size and version of an existing object, or None when it does not exist."""

    def read_range(self, key: str, start: int, length: int, *, version: str | None = None) -> bytes:
        """Exactly ``length`` bytes of ``key`` from ``start``; STORAGE_ERROR when the object is
        no longer ``version`` (replaced since :meth:`stat`), INPUT_NOT_FOUND when it is gone."""

    def download(self, key: str, path: Path, *, progress: BytesCallback | None = None) -> None:
        """Fetch ``key`` into ``path`` (complete or not at all); INPUT_NOT_FOUND if missing."""

    def upload(self, path: Path, key: str, *, content_type: str | None = None,
               metadata: Mapping[str, str] | None = None, progress: BytesCallback | None = None) -> None:
        """Publish ``path`` under ``key`` atomically with the given metadata."""

    def describe(self) -> str:
        """One line for the logs, without secrets."""


# --------------------------------------------------------------------------- local folder
class LocalStorage:
    """A folder as a bucket: for local runs, ``--test_input`` and tests.

    Metadata lives in a parallel hidden tree (``<root>/.reelgpu-meta/<key>.json``) so that no
    object key can collide with it; keys whose first segment is that folder are refused.
    """

    META_DIR = ".reelgpu-meta"
    NAME_MAX = 250  # bytes per path segment: 255 on common file systems, less the ".json" of metadata

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def describe(self) -> str:
        return f"local folder {self.root}"

    def _path(self, key: str, *, meta: bool = False) -> Path:
        if not key or key.startswith("/") or "\\" in key or "\x00" in key:
            raise StorageError("FORBIDDEN_KEY", f"key {key!r} is not a valid object key", retryable=False)
        first = key.split("/", 1)[0]
        if any(len(part.encode("utf-8", "surrogatepass")) > self.NAME_MAX for part in key.split("/")):
            # S3 takes 1024-byte segments; a file system stops at 255 bytes per name.
            raise StorageError("FORBIDDEN_KEY", f"key {key!r} has a segment over {self.NAME_MAX} bytes, "
                                                "which a local storage folder cannot hold", retryable=False)
        if first == self.META_DIR:
            raise StorageError("FORBIDDEN_KEY", f"key {key!r} uses a reserved prefix", retryable=False)
        base = self.root / self.META_DIR if meta else self.root
        path = (base / (key + ".json" if meta else key)).resolve()
        if not path.is_relative_to(base.resolve() if meta else self.root):
            raise StorageError("FORBIDDEN_KEY", f"key {key!r} resolves outside the storage root",
                               retryable=False)
        return path

    def head(self, key: str) -> int | None:
        path = self._path(key)
        return path.stat().st_size if path.is_file() else None

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def stat(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        return ObjectInfo(st.st_size, _local_version(st)) if path.is_file() else None

    def read_range(self, key: str, start: int, length: int, *, version: str | None = None) -> bytes:
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                if version is not None and _local_version(st) != version:
                    raise changed(key)
                data = os.pread(f.fileno(), length, start)
        except FileNotFoundError:
            raise not_found(key) from None
        except OSError as exc:
            raise StorageError("STORAGE_ERROR", f"could not read {key!r}: {exc.strerror}", retryable=True) from None
        if len(data) != length:
            raise short_read(key, start, length, len(data))
        return data

    def _record(self, key: str) -> dict[str, Any] | None:
        if not self.exists(key):
            return None
        try:
            data = json.loads(self._path(key, meta=True).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def metadata(self, key: str) -> dict[str, str] | None:
        record = self._record(key)
        if record is None:
            return None
        meta = record.get("metadata") or {}
        return {str(k).lower(): str(v) for k, v in meta.items()}

    def content_type(self, key: str) -> str | None:
        """Stored Content-Type (tests and tools)."""
        record = self._record(key)
        return None if record is None else record.get("content_type")

    def download(self, key: str, path: Path, *, progress: BytesCallback | None = None) -> None:
        src = self._path(key)
        if not src.is_file():
            raise not_found(key)
        path = Path(path)
        try:
            _atomic_copy(src, path, progress)
        except OSError as exc:
            raise StorageError("STORAGE_ERROR", f"could not read {key!r}: {exc.strerror}",
                               retryable=True) from None

    def upload(self, path: Path, key: str, *, content_type: str | None = None,
               metadata: Mapping[str, str] | None = None, progress: BytesCallback | None = None) -> None:
        dst = self._path(key)
        meta_path = self._path(key, meta=True)
        try:
            # Object first, metadata second: a crash in between leaves old metadata beside a new
            # object, which only costs a re-render; never metadata that vouches for a stale object.
            _atomic_copy(Path(path), dst, progress)
            record = {"content_type": content_type or content_type_for(key), "metadata": dict(metadata or {})}
            _atomic_write(meta_path, json.dumps(record, sort_keys=True).encode())
        except OSError as exc:
            raise StorageError("STORAGE_ERROR", f"could not write {key!r}: {exc.strerror}",
                               retryable=True) from None


def _local_version(st: os.stat_result) -> str:
    """A local object's version: a publication replaces the file (``os.replace``), a new mtime."""
    return f"{st.st_size}-{st.st_mtime_ns}"


def _atomic_copy(src: Path, dst: Path, progress: BytesCallback | None) -> None:
    """Copy into a temp file in the destination folder, then ``os.replace`` (atomic on POSIX)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".part", dir=dst.parent)
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            while chunk := inp.read(4 * MiB):
                out.write(chunk)
                if progress:
                    progress(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _atomic_write(dst: Path, data: bytes) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".part", dir=dst.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------- S3 / R2
_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}


class S3Storage:
    """Cloudflare R2 (or any S3 API) through boto3, configured the way R2 needs.

    * ``region_name="auto"`` and SigV4: R2's only region and signature.
    * ``request_checksum_calculation`` / ``response_checksum_validation`` = ``when_required``:
      boto3 >= 1.36 otherwise sends ``aws-chunked`` CRC32 trailers that R2 has rejected.
    * standard retries with a bounded number of attempts, so a flaky network is retried
      inside one job but a dead endpoint fails the job (as retryable) in bounded time.
    * multipart with 64 MiB parts: R2 wants equal parts >= 5 MiB and at most 10,000 of them
      (640 GB per object), and a 4 GB game file becomes 64 parts.
    * ``Content-MD5`` on every PUT and part (R2 supports it on both): the server refuses a body
      that does not match, so a truncated or altered upload is never stored; such a refusal
      (``BadDigest``) is retried like a network error (the whole file, up to ``max_attempts``).
    """

    def __init__(self, *, endpoint_url: str, access_key_id: str, secret_access_key: str, bucket: str,
                 max_attempts: int = 5, part_size: int = 64 * MiB, max_concurrency: int = 8,
                 addressing_style: str = "path", connect_timeout: float = 10, read_timeout: float = 120) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket = bucket
        self._bucket_checked = False  # check_bucket() has succeeded once
        self._endpoint = endpoint_url
        self._max_attempts = max(1, max_attempts)
        config = Config(
            region_name="auto",
            signature_version="s3v4",
            s3={"addressing_style": addressing_style},
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=max(10, 2 * max_concurrency),
            tcp_keepalive=True,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # One session and client per S3Storage (and one S3Storage per process, see storage_from_env):
        # clients are thread-safe and keep their connection pool; sessions are not.
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=config,
        )
        # Integrity: with checksums "when_required" botocore sends none, so a body cut or altered
        # on the way would be stored as is. Content-MD5 makes S3/R2 refuse such a PUT or part.
        for op in ("PutObject", "UploadPart"):
            self.client.meta.events.register(f"before-call.s3.{op}", _add_content_md5,
                                             unique_id=f"reelgpu-content-md5-{op}")
        self.transfer = TransferConfig(
            multipart_threshold=part_size,
            multipart_chunksize=part_size,
            max_concurrency=max_concurrency,
            use_threads=True,
        )

    def describe(self) -> str:
        # Bucket only: the endpoint carries the account id, which need not be in every log line.
        return f"S3-compatible bucket {self.bucket!r}"

    # --- errors
    def _error(self, exc: BaseException, op: str, key: str) -> StorageError:
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            # "Not found" only describes a missing object we read. A 404 while uploading (a
            # multipart upload the server no longer knows, a missing bucket) is a storage fault.
            if op != "upload" and (code in _NOT_FOUND_CODES or (status == 404 and code != "NoSuchBucket")):
                return not_found(key)
            detail = code or f"HTTP {status}"
        else:
            # BotoCoreError subclasses (connection, timeouts...): their text may hold the endpoint URL.
            detail = type(exc).__name__
        log.warning("storage %s of %r failed: %s", op, key, detail)
        return StorageError("STORAGE_ERROR", f"could not {op} {key!r} ({detail})", retryable=True)

    def bucket_problem(self) -> tuple[str, bool] | None:
        """Why the bucket cannot be used, and whether that is certain (it does not exist, or
        refuses these credentials) rather than maybe passing (unreachable); None when it can.

        A HEAD answer has no body, so a missing bucket reads as a plain 404, the same as a
        missing object: unchecked, a misspelt R2_BUCKET_NAME turned every job into
        INPUT_NOT_FOUND ("your upload is gone"), which is not retried."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") \
                if isinstance(exc, ClientError) else None
            if status == 404:
                return f"bucket {self.bucket!r} does not exist", True
            if status == 403:  # maybe only this request: a token scoped to objects may not HEAD its bucket
                return f"bucket {self.bucket!r} refuses HEAD with these credentials", False
            return f"bucket {self.bucket!r} cannot be reached ({_error_code(exc) or type(exc).__name__})", False
        self._bucket_checked = True
        return None

    def _head(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            err = self._error(exc, "inspect", key)
            if err.code == "INPUT_NOT_FOUND":
                problem = None if self._bucket_checked else self.bucket_problem()  # once per process
                if problem is not None:  # a missing bucket answers 404 too
                    log.warning("storage: %s", problem[0])
                    raise StorageError("STORAGE_ERROR", f"{problem[0]} (R2_BUCKET_NAME)", retryable=True) from None
                return None
            raise err from None

    def head(self, key: str) -> int | None:
        resp = self._head(key)
        return None if resp is None else int(resp["ContentLength"])

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def stat(self, key: str) -> ObjectInfo | None:
        resp = self._head(key)
        return None if resp is None else ObjectInfo(int(resp["ContentLength"]), str(resp.get("ETag", "")))

    def read_range(self, key: str, start: int, length: int, *, version: str | None = None) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Range": f"bytes={start}-{start + length - 1}"}
        if version:
            args["IfMatch"] = version  # a replaced object answers 412 instead of mixing two files' bytes
        got = 0
        for attempt in range(1, self._max_attempts + 1):
            try:
                resp = self.client.get_object(**args)
                # botocore retries the request; a body cut off while it streams is retried here.
                data = resp["Body"].read()
            except ClientError as exc:
                if _error_code(exc) == "PreconditionFailed" or \
                        exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 412:
                    raise changed(key) from None
                raise self._error(exc, "read", key) from None
            except BotoCoreError as exc:
                if attempt < self._max_attempts:
                    log.warning("storage read of %r bytes %d+%d: %s, reading again", key, start, length,
                                type(exc).__name__)
                    continue
                raise self._error(exc, "read", key) from None
            got = len(data)
            if got == length:
                return data
        raise short_read(key, start, length, got)

    def metadata(self, key: str) -> dict[str, str] | None:
        resp = self._head(key)
        if resp is None:
            return None
        return {str(k).lower(): str(v) for k, v in (resp.get("Metadata") or {}).items()}

    def content_type(self, key: str) -> str | None:
        resp = self._head(key)
        return None if resp is None else resp.get("ContentType")

    def download(self, key: str, path: Path, *, progress: BytesCallback | None = None) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        os.close(fd)
        try:
            # download_file streams (ranged, parallel GETs for big objects) straight to disk.
            self.client.download_file(self.bucket, key, tmp, Callback=_locked(progress), Config=self.transfer)
            os.replace(tmp, path)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "download", key) from None
        except OSError as exc:
            raise StorageError("STORAGE_ERROR", f"could not download {key!r}: {exc.strerror}",
                               retryable=True) from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def upload(self, path: Path, key: str, *, content_type: str | None = None,
               metadata: Mapping[str, str] | None = None, progress: BytesCallback | None = None) -> None:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        extra: dict[str, Any] = {"ContentType": content_type or content_type_for(key)}
        if metadata:
            extra["Metadata"] = dict(metadata)
        for attempt in range(1, self._max_attempts + 1):
            try:
                # A single PUT below the threshold, multipart above; either is visible only when
                # complete, and s3transfer aborts the multipart upload when a part fails.
                self.client.upload_file(str(path), self.bucket, key, ExtraArgs=extra,
                                        Callback=_locked(progress), Config=self.transfer)
                return
            except (ClientError, BotoCoreError, S3UploadFailedError) as exc:
                cause = exc
                if isinstance(exc, S3UploadFailedError):
                    cause = exc.__cause__ or exc.__context__ or exc
                if _error_code(cause) in _INTEGRITY_CODES and attempt < self._max_attempts:
                    # botocore does not retry a refused digest: the body changed on the way, so
                    # sending it again is the remedy (nothing was stored).
                    log.warning("storage upload of %r: body refused (%s), sending it again", key,
                                _error_code(cause))
                    if progress:
                        progress(-path.stat().st_size)  # the progress bar starts over
                    continue
                if isinstance(cause, (ClientError, BotoCoreError)):
                    raise self._error(cause, "upload", key) from None
                raise StorageError("STORAGE_ERROR", f"could not upload {key!r}", retryable=True) from None


_INTEGRITY_CODES = {"BadDigest", "IncompleteBody", "XAmzContentSHA256Mismatch"}


def _error_code(exc: BaseException) -> str:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def _add_content_md5(params: dict[str, Any], **_: Any) -> None:
    """botocore ``before-call`` hook: ``Content-MD5`` of the request body (bytes or a seekable file).

    Runs once per API call, before signing; retries resend the same headers with the body
    rewound. s3transfer's file chunks do not report progress until the request is sent, so
    reading them here does not move the progress bar.
    """
    headers = params.setdefault("headers", {})
    if any(k.lower() == "content-md5" for k in headers):
        return
    body = params.get("body")
    digest = hashlib.md5(usedforsecurity=False)
    if isinstance(body, (bytes, bytearray)):
        digest.update(body)
    elif body is not None and hasattr(body, "read") and hasattr(body, "seek") and hasattr(body, "tell"):
        start = body.tell()
        while chunk := body.read(MiB):
            digest.update(chunk)
        body.seek(start)
    else:
        return
    headers["Content-MD5"] = base64.b64encode(digest.digest()).decode("ascii")


def _locked(progress: BytesCallback | None) -> BytesCallback | None:
    """s3transfer calls back from several threads; the handler's reporter expects one at a time."""
    if progress is None:
        return None
    lock = threading.Lock()

    def callback(n: int) -> None:
        with lock:
            progress(n)

    return callback


# --------------------------------------------------------------------------- configuration
R2_VARS = ("R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", "R2_BUCKET_NAME")
_CACHE: dict[tuple[str, ...], Storage] = {}
_CACHE_LOCK = threading.Lock()


class StorageConfigError(RuntimeError):
    """Storage env vars are half set: fail at start-up rather than on the first job."""


def storage_from_env(env: Mapping[str, str] | None = None) -> Storage:
    """S3Storage when the R2 variables are set, else LocalStorage at ``REELGPU_STORAGE_DIR``.

    Endpoint: ``R2_ENDPOINT`` (the RunPod design) or ``R2_ENDPOINT_URL`` (the editor backend).
    A partial R2 configuration is an error, not a silent fallback to the local folder
    (runpod's own rp_upload does that fallback, and then "succeeds" without uploading).
    One instance per configuration per process, so there is one boto3 client per process.
    """
    env = os.environ if env is None else env
    endpoint = env.get("R2_ENDPOINT") or env.get("R2_ENDPOINT_URL") or ""
    present = {name: bool(env.get(name)) for name in R2_VARS}
    if endpoint or any(present.values()):
        missing = [n for n, ok in present.items() if not ok] + ([] if endpoint else ["R2_ENDPOINT"])
        if missing:
            raise StorageConfigError(f"incomplete R2 configuration: set {', '.join(missing)}")
        cache_key = ("s3", endpoint, env["R2_BUCKET_NAME"], env["R2_ACCESS_KEY_ID"])
        with _CACHE_LOCK:
            if cache_key not in _CACHE:
                _CACHE[cache_key] = S3Storage(
                    endpoint_url=endpoint,
                    access_key_id=env["R2_ACCESS_KEY_ID"],
                    secret_access_key=env["R2_SECRET_ACCESS_KEY"],
                    bucket=env["R2_BUCKET_NAME"],
                    max_attempts=env_number(env, "REELGPU_S3_MAX_ATTEMPTS", 5, minimum=1, integer=True),
                    # R2 refuses multipart parts under 5 MiB (all but the last).
                    part_size=env_number(env, "REELGPU_S3_PART_MIB", 64, minimum=5, integer=True) * MiB,
                )
            return _CACHE[cache_key]
    root = str(Path(env.get("REELGPU_STORAGE_DIR") or "storage").resolve())
    with _CACHE_LOCK:
        return _CACHE.setdefault(("local", root), LocalStorage(root))


__all__ = [
    "BytesCallback", "LocalStorage", "ObjectInfo", "S3Storage", "Storage", "StorageConfigError", "StorageError",
    "content_type_for", "storage_from_env",
]
