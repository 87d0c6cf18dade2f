"""Fetching a job's inputs into its scratch folder: HEAD everything first, then download."""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

import reelgpu
from reelgpu.media.lazy_input import Fetch, LazyInput
from reelgpu.media.prefetch import range_reads_pay

from .context import JobContext
from .errors import JobError
from .plan import Plan
from .settings import MiB
from .storage import ObjectInfo, Storage, StorageError

log = logging.getLogger("handler.inputs")

# Extensions kept on local copies; anything else becomes ".bin". FFmpeg picks demuxers partly by
# file name (".m3u8" selects the HLS playlist reader, ".txt" the text renderer): a key's extension
# must not choose how its bytes are read (the library also refuses such containers by content).
LOCAL_EXTENSIONS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mts", ".m2ts", ".png", ".json"}


def local_name(index: int, key: str) -> str:
    """Local file names are ours, never derived from a key beyond a known media extension."""
    ext = re.search(r"\.[A-Za-z0-9]{1,8}$", key.rsplit("/", 1)[-1])
    suffix = ext.group(0).lower() if ext else ""
    return f"{index:02d}{suffix if suffix in LOCAL_EXTENSIONS else '.bin'}"


# The exports that read only parts of their videos: annotate cuts clips out of a game, framing
# may use a few seconds of a long source. Overlay decodes all of its input.
RANGE_READ_TYPES = {"annotate", "framing"}


def fetch_inputs(plan: Plan, storage: Storage, work: Path, ctx: JobContext,
                 lazies: contextlib.ExitStack) -> tuple[Path, dict[str, str], dict[Path, str], list[LazyInput]]:
    """HEAD every input (existence, size cap, disk room) before downloading any of them.

    Videos of annotate and framing of at least ``REELGPU_RANGE_READ_MIN_MIB`` are not
    downloaded: they become :class:`~reelgpu.media.lazy_input.LazyInput` placeholders (closed by
    ``lazies``), and the export fetches the byte ranges it reads (docs/handler.md, "Range reads").

    Returns the main input's path, ``sources`` for the export, local path -> key as the caller
    wrote it (so that library errors name the key, not our scratch file), and the lazy inputs."""
    wanted: dict[str, str] = {plan.input_full: f"input_key {plan.envelope.input_key!r}"}
    shown: dict[str, str] = {plan.input_full: plan.envelope.input_key}
    for key, full in plan.sources.items():
        wanted.setdefault(full, f"params key {key!r}")
        shown.setdefault(full, key)
    infos: dict[str, ObjectInfo] = {}
    for full, label in wanted.items():
        info = storage.stat(full)
        if info is None:
            raise JobError("INPUT_NOT_FOUND", f"{label} does not exist")
        if info.size > ctx.settings.max_input_bytes:
            raise JobError("LIMIT_EXCEEDED", f"{label} is {info.size} bytes, over the input limit of "
                                             f"{ctx.settings.max_input_bytes} (REELGPU_MAX_INPUT_BYTES)",
                           limit="max_input_bytes")
        infos[full] = info
    ranged = {full for full, info in infos.items()  # (their inputs are all videos; PNGs are overlay's)
              if plan.envelope.type in RANGE_READ_TYPES and info.size >= ctx.settings.range_read_min_bytes}
    # A range-read input may end up read whole (clips that cover the game): room for all of it.
    total = sum(info.size for info in infos.values())
    free = shutil.disk_usage(work).free
    if free < total + 256 * MiB:
        raise JobError("STORAGE_ERROR", f"not enough scratch space for {total} bytes of input "
                                        f"({free} bytes free)", retryable=True)
    in_dir = work / "in"
    in_dir.mkdir()
    done = 0

    def on_bytes(n: int) -> None:
        nonlocal done
        done += n
        ctx.checkpoint()  # raising here aborts the transfer
        ctx.progress.report("download", done / total if total else 1.0, "downloading input")

    local: dict[str, Path] = {}
    opened: list[LazyInput] = []
    for i, full in enumerate(wanted):
        path = in_dir / local_name(i, full)
        lazy = _lazy_input(path, full, infos[full], storage, ctx) if full in ranged else None
        if lazy is not None:
            opened.append(lazies.enter_context(lazy))
            on_bytes(infos[full].size)  # nothing to wait for here: the export fetches what it reads
        else:
            storage.download(full, path, progress=on_bytes)
        local[full] = path
        ctx.checkpoint()
    sources = {key: str(local[full]) for key, full in plan.sources.items()}
    return local[plan.input_full], sources, {path: shown[full] for full, path in local.items()}, opened


def _lazy_input(path: Path, key: str, info: ObjectInfo, storage: Storage, ctx: JobContext) -> LazyInput | None:
    """A :class:`LazyInput` for ``key``, or None (and no file at ``path``) where range reads
    would read most of it anyway (:func:`~reelgpu.media.prefetch.range_reads_pay`)."""
    lazy = LazyInput(path, info.size, _range_reader(storage, key, info, ctx),
                     block_size=ctx.settings.range_block_bytes)
    try:
        why = None if range_reads_pay(path) else "fragmented or without an index"
    except reelgpu.InputReadError as exc:  # storage failed: the job fails as it would have downloading
        lazy.close()
        raise read_failure(exc, {path: key}) from None
    except Exception as exc:  # noqa: BLE001 - bad media: downloaded, the export says what is wrong with it
        why = f"unreadable headers ({type(exc).__name__})"
    if why is not None:
        log.info("%r: %s; downloading it whole", key, why)
        lazy.close()
        return None
    return lazy


def _range_reader(storage: Storage, key: str, info: ObjectInfo, ctx: JobContext) -> Fetch:
    """``fetch(offset, length)`` for a :class:`LazyInput`: ranged GETs of this version of ``key``
    only (a replaced object fails the job instead of mixing two files' bytes).

    Each GET first checks the job's deadline and cancel flag, as a download's progress callback
    does: on slow storage the reads before the first frame alone ran 30 s past a 6 s deadline
    (helper-47). The library checks the export's ``cancel`` (``ctx.should_stop``) before each
    fetch too; this check also covers the reads before the export (``range_reads_pay``) and
    raises the job's own TIMEOUT or CANCELLED."""

    def fetch(offset: int, length: int) -> bytes:
        ctx.checkpoint()  # TIMEOUT or CANCELLED: the export stops at its next read
        return storage.read_range(key, offset, length, version=info.version)

    return fetch


def read_failure(exc: reelgpu.InputReadError, names: Mapping[Path, str]) -> JobError:
    """The job's error for a failed range read: the storage error behind it (its message names
    the key), else a retryable ``STORAGE_ERROR`` naming the key."""
    if isinstance(exc.__cause__, JobError):
        return exc.__cause__
    return StorageError("STORAGE_ERROR", keys_for_paths(str(exc), names), retryable=True)


def keys_for_paths(message: str, names: Mapping[Path, str]) -> str:
    """``message`` with the scratch paths (and file names) in it replaced by their storage keys,
    in one pass: a key put in must not be matched again by another file's name (input ``00.mp4``
    became ``exports/video.mp4`` when the output key ended in the input key's name)."""
    lookup: dict[str, str] = {str(path): key for path, key in names.items()}
    for path, key in names.items():
        lookup.setdefault(path.name, key)
    if not lookup:
        return message
    # Longest first: a full path wins over its own file name at the same place.
    pattern = "|".join(re.escape(text) if "/" in text else rf"(?<![\w/.-]){re.escape(text)}(?![\w.-])"
                       for text in sorted(lookup, key=len, reverse=True))
    return re.sub(pattern, lambda m: lookup[m.group(0)], message)


def name_keys(exc: Exception, names: Mapping[Path, str]) -> Exception:
    """Rewrite scratch paths in a library error message into the storage keys they came from."""
    message = keys_for_paths(str(exc), names)
    if isinstance(exc, reelgpu.ReelGpuError):
        exc.message = message
        exc.args = (message,)
    return exc
