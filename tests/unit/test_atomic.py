"""Atomic publication (reelgpu.media.atomic): the whole file or nothing under the output name."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelgpu.media.atomic import discard, partial_path, published


def test_published_renames_only_when_the_block_completes(tmp_path: Path) -> None:
    dst = tmp_path / "out.json"
    with published(dst) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.json.") and tmp.name.endswith(".partial.json")
        tmp.write_text("{}")
        assert not dst.exists()  # nothing visible while writing
    assert dst.read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_published_discards_on_error_and_keeps_an_older_output(tmp_path: Path) -> None:
    dst = tmp_path / "out.mp4"
    dst.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), published(dst) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert dst.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_partial_names_are_unique_and_discard_tolerates_missing_files(tmp_path: Path) -> None:
    dst = tmp_path / "a"
    assert partial_path(dst) != partial_path(dst)
    assert partial_path(dst).suffix == ".mp4"  # extensionless outputs are MP4s
    discard(tmp_path / "never-written")
