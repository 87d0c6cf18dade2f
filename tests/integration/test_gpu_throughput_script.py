"""benchmarks/gpu_throughput.py, the GPU path's throughput report, checked on the CPU.

The script's GPU side can only run on a GPU machine (scripts/gpu_run.sh runs it there); here
its ``--device cpu`` mode runs every stage on a short input, so a broken script is found before
a GPU session is spent on it, and its target verdicts are checked on made-up GPU numbers.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def load_script() -> ModuleType:
    sys.path.insert(0, str(BENCH))  # the script imports benchlib (benchmarks/ is not a package)
    try:
        spec = importlib.util.spec_from_file_location("gpu_throughput", BENCH / "gpu_throughput.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_cpu_mode_measures_every_stage(tmp_path: Path) -> None:
    out = tmp_path / "throughput.json"
    proc = subprocess.run(
        [sys.executable, "gpu_throughput.py", "--device", "cpu", "--seconds", "0.5", "--passes", "1",
         "--iters", "2", "--json", str(out)],
        cwd=BENCH, env={**os.environ, "REELGPU_BENCH_MEDIA": str(tmp_path / "media")},
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert set(report["kernels_ms"]) >= {"crop_scale static 1080p", "draw_highlight", "blend_sprite 1080x240",
                                          "dissolve", "fade_to_black"}
    assert all(ms > 0 for ms in report["kernels_ms"].values())
    assert all(report["fps"][k] > 0 for k in ("decode", "source", "framing", "encode"))
    assert report["fps"]["encode_backend"] == "libx264"
    pipeline = report["pipeline"]["cpu"]
    assert pipeline["frames"] == 15 and pipeline["fps"] > 0
    assert pipeline["steady_fps"] is None  # the 0.5 s input is shorter than the 1 s short export
    assert pipeline["backend"] == {"decode": "pyav", "process": "numpy", "encode": "libx264"}
    assert report["targets"] == []  # the targets are the GPU path's


def test_cuda_mode_refuses_without_a_gpu(tmp_path: Path) -> None:
    script = load_script()
    if script.benchlib.gpu_skip_reason() is None:
        pytest.skip("this machine can run device='cuda'")
    proc = subprocess.run([sys.executable, "gpu_throughput.py", "--device", "cuda"], cwd=BENCH,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "cannot measure the GPU path here" in proc.stderr


def gpu_report(**fps: float) -> dict[str, Any]:
    return {"gpu": "NVIDIA H200", "kernels_ms": {"crop_scale static 1080p": 0.08, "draw_highlight": 0.25},
            "fps": {"decode": 1000.0, "framing": fps.get("framing", 950.0), "encode": fps.get("encode", 400.0)},
            "pipeline": {"cuda": {"fps": 300.0, "steady_fps": fps.get("pipeline", 380.0)}}}


def test_target_verdicts() -> None:
    script = load_script()
    cuda = SimpleNamespace(name="cuda")
    verdicts = {t["target"]: t for t in script.targets(cuda, gpu_report(), nvenc=True)}
    assert verdicts["crop_scale static 1080p < 0.2 ms"]["met"] is True
    assert verdicts["draw_highlight < 0.2 ms"]["met"] is False
    framing = next(t for name, t in verdicts.items() if name.startswith("decode + framing"))
    assert framing["value"] == 0.95 and framing["met"] is True
    pipeline = next(t for name, t in verdicts.items() if name.startswith("full pipeline"))
    assert pipeline["value"] == 0.95 and pipeline["met"] is True  # 380 / min(1000, 400)

    slow = {t["target"]: t for t in script.targets(cuda, gpu_report(framing=850.0, pipeline=300.0), nvenc=True)}
    assert [t["met"] for name, t in slow.items() if not name.endswith("ms")] == [False, False]

    no_frames = script.targets(cuda, {**gpu_report(), "fps": {"decode": 1000.0}}, nvenc=True)
    assert [(t["met"], "why" in t) for t in no_frames[-2:]] == [(None, True), (None, True)]  # no KeyError

    no_nvenc = script.targets(cuda, gpu_report(), nvenc=False)[-1]
    assert no_nvenc["met"] is None and "NVENC remains unverified" in no_nvenc["why"]
    assert script.targets(SimpleNamespace(name="cpu"), gpu_report(), nvenc=False) == []


def test_kernels_are_timed_where_only_nvdec_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A GPU whose container lacks the `video` driver capability: CuPy and NVRTC work, NVDEC not.
    # The kernel timings need no decoder; the whole report used to be skipped.
    script = load_script()
    monkeypatch.setattr(script.benchlib, "gpu_skip_reason", lambda: "no NVDEC codec usable")
    assert script.kernels_only_reason(SimpleNamespace(cupy=True, nvrtc=True)) == "no NVDEC codec usable"
    assert script.kernels_only_reason(SimpleNamespace(cupy=True, nvrtc=False)) is None  # nothing can run
    monkeypatch.setenv("REELGPU_BENCH_MEDIA", str(tmp_path / "media"))
    report = script.run("cpu", 0.5, 1, 2, kernels_only="no NVDEC codec usable")
    assert all(ms > 0 for ms in report["kernels_ms"].values()) and report["fps"] == {}
    assert report["stages_skipped"] == "no NVDEC codec usable" and report["input"] is None
    assert not (tmp_path / "media").exists()  # no input generated for timings that need none
