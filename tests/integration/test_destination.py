"""Outputs never replace inputs, folders are not files, and a missing input is not a damaged
one: each refused before any frame is decoded, with the input left as it was."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import reelgpu
from reelgpu import InputNotFound, InvalidSpec

FRAMING = {"keyframes": [{"time": 0, "x": 0, "y": 0, "width": 54, "height": 96}]}
OVERLAY = {"highlight_regions": [{"start_time": 0, "end_time": 1, "keyframes": [
    {"time": 0, "x": 80, "y": 48, "radiusX": 20, "radiusY": 30}]}]}


@pytest.fixture
def src(sample_video: Path, tmp_path: Path) -> Path:
    return Path(shutil.copy(sample_video, tmp_path / "in.mp4"))


def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the frame loop starts: the check must come before any heavy work."""
    import reelgpu.pipeline

    def refuse(**_: object) -> None:
        raise AssertionError("the frame loop ran")

    monkeypatch.setattr(reelgpu.pipeline, "run", refuse)


@pytest.mark.parametrize(("export", "spec"), [("framing", FRAMING), ("overlay", OVERLAY),
                                              ("annotate", {"clips": [{"start_time": 0, "end_time": 0.5}]})])
def test_an_output_over_its_input_is_refused(export: str, spec: dict, src: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    no_decoding(monkeypatch)
    before = src.read_bytes()
    with pytest.raises(InvalidSpec, match=r"dst: .*in\.mp4 is an input of this export"):
        getattr(reelgpu, export)(src, src, spec, device="cpu")
    spelt = src.parent / "sub" / ".." / src.name  # the same entry, spelt another way
    (src.parent / "sub").mkdir()
    with pytest.raises(InvalidSpec, match="would replace it"):
        getattr(reelgpu, export)(src, spelt, spec, device="cpu")
    assert src.read_bytes() == before


def test_a_link_to_the_input_is_not_the_input(src: Path) -> None:
    # Publishing replaces the output's name (os.replace), never the file a link points to.
    before = src.read_bytes()
    link = src.with_name("link.mp4")
    os.link(src, link)
    reelgpu.framing(src, link, FRAMING, device="cpu")
    assert src.read_bytes() == before and link.read_bytes() != before


def test_a_source_key_file_is_an_input_too(src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_decoding(monkeypatch)
    second = Path(shutil.copy(src, tmp_path / "second.mp4"))
    spec = {"clips": [FRAMING, {"source_key": "b", **FRAMING}]}
    with pytest.raises(InvalidSpec, match="second.mp4"):
        reelgpu.framing(src, second, spec, sources={"b": second}, device="cpu")


def test_annotate_sidecar_and_clip_files_do_not_replace_inputs(src: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    no_decoding(monkeypatch)
    clip = {"start_time": 0, "end_time": 0.5, "name": "Goal", "rating": 5}
    # compilation: DST.json is written too
    sidecar_input = Path(shutil.copy(src, tmp_path / "out.mp4.json"))
    with pytest.raises(InvalidSpec, match=r"out\.mp4\.json is an input"):
        reelgpu.annotate(src, tmp_path / "out.mp4", {"clips": [clip]}, sources={"x": sidecar_input}, device="cpu")
    # clips mode: DST/clip_000_Goal.mp4 is named from the clip
    folder = tmp_path / "clips"
    folder.mkdir()
    inside = Path(shutil.copy(src, folder / "clip_000_Goal.mp4"))
    with pytest.raises(InvalidSpec, match="clip_000_Goal.mp4 is an input"):
        reelgpu.annotate(inside, folder, {"clips": [clip], "mode": "clips"}, device="cpu")
    with pytest.raises(InvalidSpec, match="clips mode writes into a folder"):
        reelgpu.annotate(src, inside, {"clips": [clip], "mode": "clips"}, device="cpu")


def test_a_folder_is_not_an_output_file(src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_decoding(monkeypatch)
    with pytest.raises(InvalidSpec, match="is a folder; give the output file's path"):
        reelgpu.overlay(src, tmp_path, OVERLAY, device="cpu")
    with pytest.raises(InvalidSpec, match=r"in\.mp4 is a file, not a folder"):  # mkdir failed, after the frames
        reelgpu.overlay(src, src / "deeper" / "out.mp4", OVERLAY, device="cpu")


def test_missing_inputs_are_not_corrupt_media(src: Path, tmp_path: Path) -> None:
    with pytest.raises(InputNotFound, match="nothere.mp4: file not found") as caught:
        reelgpu.framing(tmp_path / "nothere.mp4", tmp_path / "o.mp4", FRAMING, device="cpu")
    assert caught.value.code == "INPUT_NOT_FOUND" and isinstance(caught.value, FileNotFoundError)
    with pytest.raises(InputNotFound, match="a folder, not a file"):
        reelgpu.probe(tmp_path)
    layer = {"text_layers": [{"start_time": 0, "end_time": 1, "png_key": "cap.png"}]}
    with pytest.raises(InputNotFound, match=r"params.text_layers\[0\].png_key: .*cap.png: file not found"):
        reelgpu.overlay(src, tmp_path / "o.mp4", layer, sources={"cap.png": tmp_path / "cap.png"}, device="cpu")
    assert not (tmp_path / "o.mp4").exists()
