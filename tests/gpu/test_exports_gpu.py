"""Full exports on the GPU against the CPU path: the same spec, device="cuda" vs device="cpu",
decoded and compared frame by frame (PSNR >= 40 dB after two lossy encodes).

Written against the public API ahead of the wiring: skipped while
``capabilities().gpu_pipeline`` is False.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import reelgpu
from tests.conftest import decode_frames, lazy_copy, psnr

pytestmark = [pytest.mark.export, pytest.mark.nvdec]

FRAMING = {"keyframes": [{"time": 0, "x": 96, "y": 18, "width": 81, "height": 144},
                         {"time": 1.5, "x": 150.5, "y": 20.25, "width": 81, "height": 144}],
           "target_width": 180, "target_height": 320}
KEY = {"x": 160, "y": 90, "radiusX": 40, "radiusY": 50, "strokeOpacity": 0.85, "fillOpacity": 0.0, "color": "#FFD400"}
OVERLAY = {"highlight_regions": [{"start_time": 0.2, "end_time": 1.6, "keyframes": [
    {**KEY, "time": 0.2}, {**KEY, "time": 1.6, "x": 200}]}]}


def compare(cpu: Path, gpu: Path, min_psnr: float = 40.0) -> None:
    a, b = decode_frames(cpu), decode_frames(gpu)
    assert len(a) == len(b)
    assert [round(t, 4) for t, _ in a] == [round(t, 4) for t, _ in b]
    worst = min(psnr(x, y) for (_, x), (_, y) in zip(a, b))
    assert worst >= min_psnr, f"worst frame PSNR {worst:.1f} dB"


@pytest.mark.parametrize(("export", "spec"), [("framing", FRAMING), ("overlay", OVERLAY)])
def test_export_gpu_matches_cpu(sample_30: Path, tmp_path: Path, export: str, spec: dict[str, Any]) -> None:
    run = getattr(reelgpu, export)
    cpu = run(sample_30, tmp_path / "cpu.mp4", spec, device="cpu")
    gpu = run(sample_30, tmp_path / "gpu.mp4", spec, device="cuda")
    assert gpu.backend["decode"] == "nvdec" and gpu.backend["process"] == "cupy"
    assert gpu.backend["encode"] in ("h264_nvenc", "libx264")
    assert gpu.frames == cpu.frames and gpu.has_audio == cpu.has_audio
    compare(cpu.output, gpu.output)


def test_annotate_of_a_lazy_input_on_the_gpu(sample_30: Path, tmp_path: Path) -> None:
    """NVDEC's source reads through the same demuxer as the CPU's: a remote input read by byte
    range (its placeholder full of garbage) renders as the file does, on the GPU too."""
    spec = {"clips": [{"start_time": 0.3, "end_time": 1.2, "name": "Goal", "rating": 5},
                      {"start_time": 1.4, "end_time": 1.9, "rating": 2}]}
    direct = reelgpu.annotate(sample_30, tmp_path / "direct.mp4", spec, device="cuda")
    with lazy_copy(sample_30, tmp_path / "in") as (lazy, remote):
        ranged = reelgpu.annotate(lazy.path, tmp_path / "lazy.mp4", spec, device="cuda")
        assert remote.calls
    assert ranged.backend == direct.backend and ranged.backend["decode"] == "nvdec"
    compare(direct.output, ranged.output, min_psnr=50.0)  # the same frames; a garbage read is < 20 dB
