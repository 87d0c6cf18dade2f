"""``reelgpu demo``: generate sample media and run every export on it, with before/after PNGs.

Everything is made locally (no downloads): a 1280x720 30 fps clip with a moving marker, an
audio tone and textured detail. Outputs land in one folder, with a summary JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from .cli import ProgressBar
from .media.samples import make_sample_video, marker_position
from .media.snapshot import before_after

W, H, FPS, SECONDS = 1280, 720, 30, 4.0


def framing_spec() -> dict[str, Any]:
    """A 9:16 crop that follows the sample's marker, with a 0.5x slow-motion middle."""
    keys = []
    for t in (0.0, 2.0, 4.0):
        mx, my = marker_position(t, W, H)
        keys.append({"time": t, "x": mx - 180, "y": my - 320, "width": 360, "height": 640})
    return {"keyframes": keys, "target_width": 540, "target_height": 960,
            "segment_data": {"segments": [{"start": 1.5, "end": 2.5, "speed": 0.5}]}}


def run_demo(out: Path, *, device: str = "auto", progress: bool = True,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    import reelgpu

    out.mkdir(parents=True, exist_ok=True)
    src = make_sample_video(out / "sample_game.mp4", width=W, height=H, fps=FPS, seconds=SECONDS)
    log(f"sample input: {src}")
    summary: dict[str, Any] = {}

    spec = framing_spec()
    (out / "framing_spec.json").write_text(json.dumps(spec, indent=2))
    result = reelgpu.framing(src, out / "framing.mp4", spec, device=device, progress=ProgressBar("framing", progress))
    before_after(src, 1.0, result.output, 1.0, out / "framing_before_after.png")
    summary["framing"] = result.to_dict()
    log(f"framing  -> {result.output} ({result.frames} frames, {result.width}x{result.height}, "
        f"{result.timings_s['total']:.1f} s, backend {result.backend})")

    for name in ("overlay", "annotate"):
        if find_spec(f"reelgpu.exports.{name}") is None:
            log(f"{name:8} -> not available in this build yet")
            continue
        from . import demo_exports

        summary[name] = getattr(demo_exports, f"run_{name}")(out, src, result.output, device, progress, log)

    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    log(f"summary: {out / 'summary.json'}")
    return summary
