"""Atomic publication of output files.

Every output (MP4s, the annotate sidecar) is written under a hidden partial name beside its
final name and renamed only once complete: the rename is atomic on one filesystem, so a reader
sees either nothing or the whole file, and a failure leaves nothing under the output name.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["discard", "partial_path", "publish", "published"]


def partial_path(dst: Path) -> Path:
    """A hidden sibling name: same filesystem (atomic rename) and never mistaken for output."""
    return dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}.partial{dst.suffix or '.mp4'}")


def publish(tmp: Path, dst: Path) -> Path:
    """Move the finished ``tmp`` to ``dst`` in one step (replacing an older ``dst``)."""
    os.replace(tmp, dst)
    return dst


def discard(tmp: Path) -> None:
    """Remove a partial file if it is there (failure paths: never raises for a missing file)."""
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()


@contextlib.contextmanager
def published(dst: Path) -> Iterator[Path]:
    """Yield a partial path to write; publish it as ``dst`` when the block ends normally,
    discard it when the block raises."""
    tmp = partial_path(dst)
    try:
        yield tmp
    except BaseException:
        discard(tmp)
        raise
    publish(tmp, dst)
