"""End-to-end exports (framing, overlay, annotate) on generated 1920x1080 H.264 + AAC inputs
(30 and 60 fps), CPU path.

Each round is one whole export (decode -> ops -> libx264 -> MP4 with the audio copied), in
this process. The per-stage busy seconds from ``ExportResult.timings_s`` go to
``extra_info`` (median over rounds, plus every round), with the throughput in frames/s.
The side-by-side comparison with the ffmpeg CLI is ``benchmarks/peers.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import benchlib
import pytest

import reelgpu

pytestmark = pytest.mark.export


def _export(benchmark: Any, rounds: int, run: Any) -> None:
    results: list[Any] = []
    benchmark.pedantic(lambda: results.append(run()), rounds=rounds, iterations=1, warmup_rounds=0)
    last = results[-1]
    stages = [r.timings_s for r in results]
    medians = benchlib.stage_medians(stages)
    benchmark.extra_info.update(
        frames=last.frames, out=f"{last.width}x{last.height}", backend=last.backend,
        stages_median_s=medians, stages_per_round_s=stages,
        fps=round(last.frames / medians["total"], 2) if medians.get("total") else None,
    )


@pytest.mark.parametrize("fps", [30, 60])
@pytest.mark.parametrize("kind", ["static", "pan"])
def test_framing_cpu(benchmark: Any, request: Any, out_dir: Path, bench_seconds: float, bench_rounds: int,
                      kind: str, fps: int) -> None:
    src = request.getfixturevalue(f"src_1080p{fps}")
    spec = benchlib.framing_spec(kind, bench_seconds)
    benchmark.group = f"framing 1080p{fps} {bench_seconds:g} s -> 1080x1920"
    benchmark.extra_info.update(source=f"{src.name}", crop=kind)
    _export(benchmark, bench_rounds, lambda: reelgpu.framing(src, out_dir / f"framing_{kind}.mp4", spec, device="cpu"))


@pytest.mark.gpu
@pytest.mark.parametrize("kind", ["static", "pan"])
def test_framing_cuda(benchmark: Any, out_dir: Path, src_1080p30: Path, bench_seconds: float, bench_rounds: int,
                       kind: str) -> None:
    reason = benchlib.gpu_skip_reason()
    if reason:
        pytest.skip(reason)
    spec = benchlib.framing_spec(kind, bench_seconds)
    benchmark.group = f"framing 1080p30 {bench_seconds:g} s -> 1080x1920"
    benchmark.extra_info.update(source=src_1080p30.name, crop=kind)
    _export(benchmark, bench_rounds,
            lambda: reelgpu.framing(src_1080p30, out_dir / f"framing_{kind}.mp4", spec, device="cuda"))


def test_overlay_cpu(benchmark: Any, out_dir: Path, src_1080p30: Path, bench_seconds: float,
                      bench_rounds: int) -> None:
    if importlib.util.find_spec("reelgpu.exports.overlay") is None:
        pytest.skip("reelgpu.overlay is not implemented in this checkout (no reelgpu/exports/overlay.py)")
    spec = benchlib.overlay_spec(bench_seconds)
    benchmark.group = f"overlay 1080p30 {bench_seconds:g} s"
    benchmark.extra_info.update(source=src_1080p30.name)
    _export(benchmark, bench_rounds, lambda: reelgpu.overlay(src_1080p30, out_dir / "overlay.mp4", spec, device="cpu"))



def test_annotate_cpu(benchmark: Any, out_dir: Path, src_1080p30: Path, bench_seconds: float,
                       bench_rounds: int) -> None:
    spec = benchlib.annotate_spec(bench_seconds)
    benchmark.group = f"annotate 1080p30 {bench_seconds:g} s, {benchlib.ANNOTATE_CLIPS} clips"
    benchmark.extra_info.update(source=src_1080p30.name, clips=len(spec["clips"]))
    _export(benchmark, bench_rounds,
            lambda: reelgpu.annotate(src_1080p30, out_dir / "annotate.mp4", spec, device="cpu"))
