"""Fetching a job's inputs into its scratch folder: HEAD everything first, then download."""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from pathlib import Path

import reelgpu

from .context import JobContext
from .errors import JobError
from .plan import Plan
from .settings import MiB
from .storage import Storage

# Extensions kept on local copies; anything else becomes ".bin". FFmpeg picks demuxers partly by
# file name (".m3u8" selects the HLS playlist reader, ".txt" the text renderer): a key's extension
# must not choose how its bytes are read (the library also refuses such containers by content).
LOCAL_EXTENSIONS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mts", ".m2ts", ".png", ".json"}


def local_name(index: int, key: str) -> str:
    """Local file names are ours, never derived from a key beyond a known media extension."""
    ext = re.search(r"\.[A-Za-z0-9]{1,8}$", key.rsplit("/", 1)[-1])
    suffix = ext.group(0).lower() if ext else ""
    return f"{index:02d}{suffix if suffix in LOCAL_EXTENSIONS else '.bin'}"


def fetch_inputs(plan: Plan, storage: Storage, work: Path,
                 ctx: JobContext) -> tuple[Path, dict[str, str], dict[Path, str]]:
    """HEAD every input (existence, size cap, disk room) before downloading any of them.

    Returns the main input's path, ``sources`` for the export, and local path -> key as the
    caller wrote it (so that library errors name the key, not our scratch file)."""
    wanted: dict[str, str] = {plan.input_full: f"input_key {plan.envelope.input_key!r}"}
    shown: dict[str, str] = {plan.input_full: plan.envelope.input_key}
    for key, full in plan.sources.items():
        wanted.setdefault(full, f"params key {key!r}")
        shown.setdefault(full, key)
    sizes: dict[str, int] = {}
    for full, label in wanted.items():
        size = storage.head(full)
        if size is None:
            raise JobError("INPUT_NOT_FOUND", f"{label} does not exist")
        if size > ctx.settings.max_input_bytes:
            raise JobError("LIMIT_EXCEEDED", f"{label} is {size} bytes, over the input limit of "
                                             f"{ctx.settings.max_input_bytes} (REELGPU_MAX_INPUT_BYTES)",
                           limit="max_input_bytes")
        sizes[full] = size
    total = sum(sizes.values())
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
    for i, full in enumerate(wanted):
        path = in_dir / local_name(i, full)
        storage.download(full, path, progress=on_bytes)
        local[full] = path
        ctx.checkpoint()
    sources = {key: str(local[full]) for key, full in plan.sources.items()}
    return local[plan.input_full], sources, {path: shown[full] for full, path in local.items()}


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
