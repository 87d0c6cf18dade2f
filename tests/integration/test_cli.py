"""The `reelgpu` command, run as a user would (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reelgpu.media.probe import probe


def reelgpu(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reelgpu.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_schema_prints_json_schema() -> None:
    done = reelgpu("schema", "framing")
    assert done.returncode == 0
    schema = json.loads(done.stdout)
    full, shorthand = schema["anyOf"]  # the framing job, and its one-clip shorthand
    assert "clips" in full["properties"] and "keyframes" in shorthand["properties"]
    assert "CropKeyframe" in json.dumps(schema)


def test_version_is_the_installed_one() -> None:
    """One version, pyproject.toml's, read from the install's metadata (not a second copy)."""
    from importlib.metadata import version

    from reelgpu import __version__

    done = reelgpu("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"reelgpu {version('reelgpu')}"
    assert __version__ == version("reelgpu")


def test_probe_prints_facts(sample_30: Path) -> None:
    done = reelgpu("probe", str(sample_30))
    facts = json.loads(done.stdout)
    assert facts["width"] == 320 and facts["fps"] == "30/1" and facts["has_audio"] is True


def test_framing_command_with_relative_source_keys(sample_30: Path, sample_25: Path, tmp_path: Path) -> None:
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "b.mp4").write_bytes(sample_25.read_bytes())
    spec = {"clips": [{}, {"source_key": "clips/b.mp4", "segment_data": {"trimRange": [0, 1]}}],
            "target_width": 180, "target_height": 320, "fps": 30}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    done = reelgpu("framing", str(sample_30), str(tmp_path / "out.mp4"), "--spec", str(tmp_path / "spec.json"),
                   "--device", "cpu")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["frames"] == 90 and probe(tmp_path / "out.mp4").frame_count == 90


def test_bad_spec_exits_2_naming_the_field(sample_30: Path, tmp_path: Path) -> None:
    (tmp_path / "spec.json").write_text(json.dumps({"clips": [{"keyframes": [{"time": 0, "x": 0, "y": 0, "width": 0, "height": 1}]}]}))
    done = reelgpu("framing", str(sample_30), str(tmp_path / "out.mp4"), "--spec", str(tmp_path / "spec.json"))
    assert done.returncode == 2
    assert "INVALID_INPUT" in done.stderr and "params.clips[0].keyframes[0].width" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out.mp4").exists()


def test_doctor_json() -> None:
    done = reelgpu("doctor", "--json")
    caps = json.loads(done.stdout)
    assert set(caps["backends"]) == {"decode", "process", "encode"}


def test_demo_writes_every_available_export(tmp_path: Path) -> None:
    done = reelgpu("demo", "--out", str(tmp_path / "demo"), "--quiet")
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert "framing" in summary
    for name, result in summary.items():
        assert Path(result["output"]).exists(), name
        assert (tmp_path / "demo" / f"{name}_before_after.png").exists()
    info = probe(tmp_path / "demo" / "framing.mp4")
    assert (info.width, info.height) == (540, 960) and info.faststart


def test_overlay_and_annotate_commands(sample_30: Path, tmp_path: Path) -> None:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGBA", (320, 180), (255, 0, 0, 128)).save(buf, "PNG")
    (tmp_path / "caption.png").write_bytes(buf.getvalue())
    overlay_spec = {"text_layers": [{"start_time": 0, "end_time": 1, "png_key": "caption.png"}],
                    "highlight_regions": [{"start_time": 0, "end_time": 2, "keyframes": [
                        {"time": 0, "x": 100, "y": 90, "radiusX": 30, "radiusY": 40}]}]}
    (tmp_path / "overlay.json").write_text(json.dumps(overlay_spec))
    done = reelgpu("overlay", str(sample_30), str(tmp_path / "ov.mp4"), "--spec", str(tmp_path / "overlay.json"))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["frames"] == 60

    (tmp_path / "games").mkdir()
    (tmp_path / "games" / "second.mp4").write_bytes(sample_30.read_bytes())
    annotate_spec = {"input_keys": {"1": "games/second.mp4"}, "clips": [
        {"start_time": 0, "end_time": 0.5, "name": "A", "rating": 5},
        {"start_time": 1, "end_time": 1.5, "name": "B", "rating": 3, "video_sequence": 1}]}
    (tmp_path / "annotate.json").write_text(json.dumps(annotate_spec))
    done = reelgpu("annotate", str(sample_30), str(tmp_path / "comp.mp4"), "--spec", str(tmp_path / "annotate.json"))
    assert done.returncode == 0, done.stderr
    sidecar = json.loads((tmp_path / "comp.mp4.json").read_text())
    assert [c["source"] for c in sidecar["clips"]] == [str(sample_30), "games/second.mp4"]  # as the caller named them
    assert probe(tmp_path / "comp.mp4").frame_count == 30


def test_output_over_its_input_is_refused_and_the_input_kept(sample_30: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.mp4"
    src.write_bytes(sample_30.read_bytes())
    before = src.read_bytes()
    (tmp_path / "spec.json").write_text(json.dumps({"keyframes": [{"time": 0, "x": 0, "y": 0, "width": 90, "height": 160}]}))
    same = reelgpu("framing", str(src), str(src), "--spec", str(tmp_path / "spec.json"), "--device", "cpu")
    assert same.returncode == 2 and "INVALID_INPUT" in same.stderr and "would replace it" in same.stderr
    assert src.read_bytes() == before
    (tmp_path / "adir").mkdir()
    folder = reelgpu("framing", str(src), str(tmp_path / "adir"), "--spec", str(tmp_path / "spec.json"), "--device", "cpu")
    assert folder.returncode == 2 and "is a folder" in folder.stderr and "Traceback" not in folder.stderr


def test_missing_input_and_spec_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "spec.json").write_text("{}")
    missing = reelgpu("overlay", str(tmp_path / "nothere.mp4"), str(tmp_path / "o.mp4"), "--spec", str(tmp_path / "spec.json"))
    assert missing.returncode == 2 and "error [INPUT_NOT_FOUND]" in missing.stderr and "nothere.mp4" in missing.stderr
    no_spec = reelgpu("overlay", str(tmp_path / "nothere.mp4"), str(tmp_path / "o.mp4"), "--spec", str(tmp_path / "x.json"))
    assert no_spec.returncode == 2 and "cannot read spec" in no_spec.stderr and "Traceback" not in no_spec.stderr


@pytest.mark.parametrize("command", [["schema", "framing"], ["doctor"]])  # long output, and short
def test_a_closed_pipe_is_not_a_traceback(command: list[str]) -> None:
    # `reelgpu schema framing | head -c 10`: the reader has gone before the output is written. A
    # short output stays in Python's buffer until exit unless flushed inside main (exit 120).
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    try:
        done = subprocess.run([sys.executable, "-m", "reelgpu.cli", *command], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=60, env=env)
    finally:
        os.close(write_end)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
