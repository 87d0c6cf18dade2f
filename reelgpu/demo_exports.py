"""The overlay and annotate parts of ``reelgpu demo`` (see :mod:`reelgpu.demo`)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from .cli import ProgressBar
from .media.probe import probe
from .media.snapshot import before_after
from .render.banner import draw_text


def text_layer_png(width: int, height: int, text: str) -> bytes:
    """A full-frame RGBA PNG with a caption near the bottom, as the editor's app would send."""
    img = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    size = max(12, height // 24)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, height - 3 * size, width, height - size // 2), fill=(0, 0, 0, 140))
    draw_text(draw, width * 0.06, height - 2.6 * size, text, size, (255, 235, 59, 255))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def overlay_spec(width: int, height: int) -> dict[str, Any]:
    """A spotlight on the framed marker (kept near the centre by the framing demo) + a caption."""
    cx, cy = width / 2, height / 2
    keys = [{"time": t, "x": cx + dx, "y": cy, "radiusX": width * 0.16, "radiusY": height * 0.1,
             "strokeOpacity": 0.85, "fillOpacity": 0.05, "color": "#FFEB3B"} for t, dx in ((0.0, -20), (2.0, 0), (3.5, 20))]
    return {"effect_type": "dark_overlay", "overlay_settings": {"dim_strength": 0.35, "stroke_width": 3},
            "highlight_regions": [{"id": "demo", "start_time": 0.0, "end_time": 3.5, "keyframes": keys}],
            "text_layers": [{"start_time": 0.5, "end_time": 4.5,
                             "png_b64": base64.b64encode(text_layer_png(width, height, "Zoë Müller #10")).decode()}]}


def run_overlay(out: Path, game: Path, framed: Path, device: str, progress: bool,
                log: Callable[[str], None]) -> dict[str, Any]:
    import reelgpu

    info = probe(framed)
    spec = overlay_spec(info.width, info.height)
    (out / "overlay_spec.json").write_text(json.dumps(spec, indent=2))
    result = reelgpu.overlay(framed, out / "overlay.mp4", spec, device=device, progress=ProgressBar("overlay", progress))
    before_after(framed, 1.0, result.output, 1.0, out / "overlay_before_after.png")
    log(f"overlay  -> {result.output} ({result.frames} frames, {result.timings_s['total']:.1f} s)")
    return result.to_dict()


def annotate_spec() -> dict[str, Any]:
    return {"clips": [
        {"start_time": 0.5, "end_time": 2.0, "name": "Brilliant run — Zoë Müller", "notes": "Beats two defenders",
         "rating": 5, "tags": ["Dribble"]},
        {"start_time": 2.5, "end_time": 3.5, "name": "", "notes": "", "rating": 2, "tags": ["Pass", "Turnover"]},
    ]}


def run_annotate(out: Path, game: Path, framed: Path, device: str, progress: bool,
                 log: Callable[[str], None]) -> dict[str, Any]:
    import reelgpu

    spec = annotate_spec()
    (out / "annotate_spec.json").write_text(json.dumps(spec, indent=2))
    result = reelgpu.annotate(game, out / "annotate.mp4", spec, device=device, progress=ProgressBar("annotate", progress))
    before_after(game, 1.0, result.output, 0.5, out / "annotate_before_after.png")
    log(f"annotate -> {result.output} ({result.frames} frames, chapters + {result.extra_outputs[0].name})")
    return result.to_dict()
