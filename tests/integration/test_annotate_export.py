"""The annotate export end to end: compilation with banners, chapters, sidecar; clips mode."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

import reelgpu
from reelgpu import InvalidSpec
from reelgpu.media.probe import probe
from reelgpu.media.samples import make_sample_video
from reelgpu.ops.color import hex_to_yuv


@pytest.fixture(scope="module")
def games(media_dir: Path) -> tuple[Path, Path]:
    return (make_sample_video(media_dir / "half1.mp4", width=320, height=180, fps=30, seconds=3.0),
            make_sample_video(media_dir / "half2.mp4", width=320, height=180, fps=30, seconds=2.0, tone_hz=660))


SPEC = {"input_keys": {"1": "games/half1.mp4", "2": "games/half2.mp4"}, "clips": [
    {"start_time": 0.5, "end_time": 1.5, "name": "Brilliant Goal — Zoë", "notes": "Top corner 田中", "rating": 5,
     "tags": ["Goal"], "video_sequence": 1},
    {"start_time": 0.2, "end_time": 0.9, "name": "", "rating": 2, "tags": ["Pass", "Turnover"], "video_sequence": 2},
    {"start_time": 2.0, "end_time": 2.5, "rating": 4, "video_sequence": "1"},
]}


def sources(games: tuple[Path, Path]) -> dict[str, Path]:
    return {"games/half1.mp4": games[0], "games/half2.mp4": games[1]}


def test_compilation_duration_chapters_sidecar_audio(games, tmp_path: Path) -> None:
    r = reelgpu.annotate(games[0], tmp_path / "comp.mp4", SPEC, sources=sources(games), device="cpu")
    info = probe(r.output)
    assert r.frames == 30 + 21 + 15 == info.frame_count
    assert info.duration_s == pytest.approx(1.0 + 0.7 + 0.5, abs=3 / 30)
    assert info.has_audio and info.faststart
    with av.open(str(r.output)) as c:
        titles = [ch["metadata"]["title"] for ch in c.chapters()]
    assert titles == ["Brilliant Goal — Zoë", "Mistake Pass and Turnover", "Clip 3"]
    sidecar = json.loads((tmp_path / "comp.mp4.json").read_text())["clips"]
    assert r.extra_outputs == [tmp_path / "comp.mp4.json"]
    assert [(c["start"], c["end"]) for c in sidecar] == [(0.0, 1.0), (1.0, 1.7), (1.7, 2.2)]
    assert [c["rating"] for c in sidecar] == [5, 2, 4] and sidecar[0]["notes"] == "Top corner 田中"
    # Each clip's video as the caller named it: its input_keys key, or src as given.
    assert [c["source"] for c in sidecar] == ["games/half1.mp4", "games/half2.mp4", "games/half1.mp4"]


def banner_pixels(path: Path, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == n:
                planes = [np.frombuffer(p, np.uint8).reshape(-1, p.line_size) for p in f.planes]
                return planes[0][:f.height, :f.width], planes[1][:f.height // 2, :f.width // 2], planes[2][:f.height // 2, :f.width // 2]
    raise AssertionError("frame not found")


@pytest.mark.parametrize(("frame", "rating"), [(10, 5), (40, 2), (55, 4)])
def test_banner_of_the_rating_colour_at_the_top_of_each_clip(games, tmp_path: Path, frame: int, rating: int) -> None:
    r = reelgpu.annotate(games[0], tmp_path / "comp.mp4", {**SPEC, "encode": {"crf": 8}}, sources=sources(games),
                         device="cpu")
    colour = {5: "#66BB6A", 2: "#F9A825", 4: "#2E7D32"}[rating]
    ey, eu, ev = hex_to_yuv(colour)
    y, u, v = banner_pixels(r.output, frame)
    # Scaled to 180 lines the outer box starts at y = 6 * 180/1080 = 1; its left border column
    # sits just left of x = 0.1 W. Look for the rating colour in the top rows' chroma.
    top_u, top_v = u[0:2, 14:146].astype(int), v[0:2, 14:146].astype(int)
    match = (np.abs(top_u - eu) <= 8) & (np.abs(top_v - ev) <= 8)
    assert match.mean() > 0.3, f"rating colour {colour} not found at the top"
    assert y[6:10, 60:260].mean() > 200  # the white inner box


def test_clips_mode_writes_good_clips_with_metadata(games, tmp_path: Path) -> None:
    r = reelgpu.annotate(games[0], tmp_path / "clips", {**SPEC, "mode": "clips"}, sources=sources(games), device="cpu")
    names = sorted(p.name for p in r.extra_outputs)
    assert names == ["clip_000_Brilliant_Goal_Zoe.mp4", "clip_002_Clip_3.mp4"]
    with av.open(str(tmp_path / "clips" / names[0])) as c:
        assert c.metadata["title"] == "Brilliant Goal — Zoë" and c.metadata["description"] == "Top corner 田中"
    assert probe(tmp_path / "clips" / names[0]).frame_count == 30
    assert r.output == tmp_path / "clips"
    # the stages of every file, summed: not "total" alone
    assert {"decode", "encode", "total"} <= set(r.timings_s) and r.timings_s["encode"] > 0


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"clips": [{"start_time": 2, "end_time": 1}]}, r"params.clips\[0\]"),
        ({"clips": [{"start_time": 0, "end_time": 1, "video_sequence": 3}]}, r"params.clips\[0\].video_sequence"),
        ({"clips": [{"start_time": 0, "end_time": 1, "video_sequence": 1}, {"start_time": 1, "end_time": 2.9, "video_sequence": 2}]},
         r"params.clips\[1\]: range .* beyond the end of half2.mp4"),
        # within a frame of the end, but starting where the video ends: nothing of it is there
        ({"clips": [{"start_time": 0, "end_time": 1, "video_sequence": 1}, {"start_time": 2.0, "end_time": 2.03, "video_sequence": 2}]},
         r"params.clips\[1\]: range 2.0-2.03 s is beyond the end of half2.mp4"),
    ],
)
def test_bad_clips_fail_before_work_naming_the_clip(games, tmp_path: Path, change: dict, match: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InvalidSpec, match=match):
        reelgpu.annotate(games[0], out / "c.mp4", {**SPEC, **change}, sources=sources(games), device="cpu")
    assert list(out.iterdir()) == []


def test_clip_file_names_keep_latin_letters_as_ascii() -> None:
    from reelgpu.exports.annotate import _slug

    assert _slug("Ödegaard goal!") == "Odegaard_goal"
    assert _slug("Ødegaard — Straße, Łódź, Æsir") == "Odegaard_Strasse_Lodz_AEsir"
    assert _slug("田中 ⚽") == "clip"  # nothing Latin left


def test_a_file_name_that_is_not_utf8_is_written_to_the_sidecar(games, tmp_path: Path) -> None:
    """Linux file names are bytes: ``game\\xff.mp4`` reaches Python as ``game\\udcff.mp4``,
    which UTF-8 cannot encode. The sidecar failed with a bare UnicodeEncodeError after the
    whole render, and left the MP4 without it (helper-40). JSON's own escape carries it."""
    import os
    import shutil

    src = os.fsdecode(os.fsencode(tmp_path) + b"/game\xff.mp4")
    shutil.copyfile(games[0], src)
    r = reelgpu.annotate(src, tmp_path / "c.mp4", {"clips": [{"start_time": 0, "end_time": 0.5}]}, device="cpu")
    assert b"\\udcff" in r.extra_outputs[0].read_bytes()
    assert json.loads(r.extra_outputs[0].read_text(encoding="utf-8"))["clips"][0]["source"] == src


def test_an_input_key_that_is_not_unicode_is_refused_up_front(games, tmp_path: Path) -> None:
    with pytest.raises(InvalidSpec, match="not valid Unicode") as caught:
        reelgpu.annotate(games[0], tmp_path / "c.mp4",
                         {"input_keys": {"1": "games/\ud800.mp4"}, "clips": [{"start_time": 0, "end_time": 1}]},
                         device="cpu")
    assert caught.value.field == "params.input_keys.1" and list(tmp_path.iterdir()) == []


def test_the_mp4_goes_when_its_sidecar_cannot_be_written(games, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The pair is published together or not at all, whatever stops the sidecar (it only
    removed the MP4 on an OSError)."""
    from reelgpu.exports import annotate as module

    def refuse(path: Path, data: bytes) -> None:
        raise RuntimeError("no sidecar")

    monkeypatch.setattr(module, "_write_atomic", refuse)
    with pytest.raises(RuntimeError):
        reelgpu.annotate(games[0], tmp_path / "c.mp4", {"clips": [{"start_time": 0, "end_time": 0.5}]}, device="cpu")
    assert list(tmp_path.iterdir()) == []


def test_a_nul_in_a_name_does_not_cut_its_chapter_title_or_metadata(games, tmp_path: Path) -> None:
    """FFmpeg keeps metadata as C strings: "Great\\0Goal" became "Great" (helper-40)."""
    clip = {"start_time": 0, "end_time": 0.5, "name": "Great\x00Goal", "notes": "left\x00foot", "rating": 5}
    r = reelgpu.annotate(games[0], tmp_path / "c.mp4", {"clips": [clip]}, device="cpu")
    with av.open(str(r.output)) as c:
        assert [ch["metadata"]["title"] for ch in c.chapters()] == ["Great Goal"]
    r = reelgpu.annotate(games[0], tmp_path / "clips", {"clips": [clip], "mode": "clips"}, device="cpu")
    with av.open(str(r.extra_outputs[0])) as c:
        assert (c.metadata["title"], c.metadata["description"]) == ("Great Goal", "left foot")


@pytest.mark.parametrize("existing", [False, True], ids=["made for it", "already there"])
def test_clips_mode_leaves_no_folder_it_made_when_it_fails(games, tmp_path: Path, existing: bool) -> None:
    """All files or none, and the folder made for them goes with them (helper-40); a folder
    that was there before stays."""
    out = tmp_path / "clips"
    if existing:
        out.mkdir()
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 40  # in the second clip's file

    spec = {"mode": "clips", "clips": [{"start_time": 0, "end_time": 1, "rating": 5},
                                       {"start_time": 1, "end_time": 2, "rating": 5}]}
    with pytest.raises(reelgpu.Cancelled):
        reelgpu.annotate(games[0], out, spec, device="cpu", cancel=cancel)
    assert out.is_dir() == existing and (not existing or list(out.iterdir()) == [])
