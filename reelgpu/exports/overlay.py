"""The overlay export: a highlight spotlight that follows a player, and text layers, burned
over the framed video. Frame count and timestamps are the input's."""

from __future__ import annotations

import base64
import binascii
import bisect
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..backends import fit_to_inputs, retry_on_cpu, select_backend
from ..device import Device
from ..errors import InvalidSpec
from ..frames import Planes
from ..limits import DEFAULT_LIMITS, Limits, check_output_length, check_spec_limits
from ..media.decode_cpu import DecodedFrame
from ..media.remux import remux_faststart
from ..ops.color import rgba_to_yuva
from ..ops.highlight import HighlightDraw, fade_factor, resolve_highlight
from ..ops.sprite import YUVASprite
from ..pipeline import ClipSource
from ..render.png_layer import load_text_layer
from ..result import CancelCheck, ExportResult, ProgressCallback, StrPath
from ..specs import HighlightRegion, OverlaySpec, parse_spec
from ..timeline import OutputFrame, Pick, Track
from ._common import (
    Probes,
    cancel_stops_remote_reads,
    check_destination,
    given_inputs,
    read_input,
    render_to_mp4,
    resolve_source,
    whole_source_audio,
)

# Keyframes this close outside a region still belong to it (one frame at 30 fps; the editor's
# TIME_EPSILON), so a keyframe seeded at the region's end is not lost to float noise.
REGION_EPS_S = 0.04
# The window [start - 0.04, end + 0.04] is closed (CONTRACT.md): 0.30 + 0.04 is 0.33999999999999997
# in floating point, and a keyframe at 0.34 fell outside it. A nanosecond of slack keeps it in.
_WINDOW_SLACK_S = 1e-9
TEXT_FADE_S = 0.25


@dataclass(frozen=True)
class RegionPlan:
    start: float
    end: float
    times: tuple[float, ...]  # empty: no keyframe within the region (it is active, draws nothing)
    track: Track | None  # (x, y, radius_x, radius_y, stroke_opacity[, fill_opacity]) in output pixels
    colors: tuple[str | None, ...]
    has_fill: bool


def _plan_region(region: HighlightRegion, width: int, height: int) -> RegionPlan:
    sx = width / region.video_width if region.video_width else 1.0
    sy = height / region.video_height if region.video_height else 1.0
    keys = sorted((k for k in region.keyframes
                   if region.start_time - REGION_EPS_S - _WINDOW_SLACK_S <= k.time
                   <= region.end_time + REGION_EPS_S + _WINDOW_SLACK_S),
                  key=lambda k: k.time)
    if not keys:
        return RegionPlan(region.start_time, region.end_time, (), None, (), False)
    has_fill = all(k.fill_opacity is not None for k in keys)
    values = [(k.time, (k.x * sx, k.y * sy, k.radius_x * sx, k.radius_y * sy, k.stroke_opacity)
               + ((k.fill_opacity,) if has_fill else ())) for k in keys]
    track = Track.build(values)
    # Colour is not interpolated: it comes from the keyframe at or before t (later wins on ties).
    by_time = {k.time: k.color for k in keys}
    return RegionPlan(region.start_time, region.end_time, track.times, track,
                      tuple(by_time[t] for t in track.times), has_fill)


def highlight_at(t: float, regions: Sequence[RegionPlan], spec: OverlaySpec, height: int) -> HighlightDraw | None:
    """What to draw at time ``t``: the first region (by start) holding t, or nothing. That region
    draws nothing when it has no keyframe, or after its last one; a later region overlapping it
    does not take over (the editor's rule)."""
    for region in regions:
        if not region.start <= t <= region.end:
            continue
        if region.track is None or t > region.times[-1]:
            return None
        values = region.track.at(t, "catmull_rom")
        # The colour of the keyframe at or before t (the first one before it), not interpolated.
        color = region.colors[max(0, bisect.bisect_right(region.times, t) - 1)]
        if spec.highlight_color is not None:
            color = None if spec.highlight_color == "none" else spec.highlight_color
        return resolve_highlight(
            x=values[0], y=values[1], radius_x=max(values[2], 0.0), radius_y=max(values[3], 0.0),
            stroke_opacity=min(max(values[4], 0.0), 1.0),
            fill_opacity=min(max(values[5], 0.0), 1.0) if region.has_fill else None,
            color=color, settings=spec.overlay_settings, effect_type=spec.effect_type, frame_height=height,
            fade=fade_factor(t, region.start, region.end))
    return None


@dataclass(frozen=True)
class TextPlan:
    start: float
    end: float
    sprite: YUVASprite

    def opacity(self, t: float) -> float:
        """Shown while start <= t < end, fading out over the last 0.25 s."""
        if not self.start <= t < self.end:
            return 0.0
        return min(1.0, (self.end - t) / TEXT_FADE_S)


def _load_text_layers(spec: OverlaySpec, width: int, height: int,
                      sources: Mapping[str, StrPath] | None) -> list[TextPlan]:
    plans = []
    for i, layer in enumerate(spec.text_layers):
        where = f"params.text_layers[{i}]"
        if layer.png_b64 is not None:
            try:
                data = base64.b64decode(layer.png_b64, validate=True)
            except (binascii.Error, ValueError):
                raise InvalidSpec(f"{where}.png_b64: not valid base64", field=f"{where}.png_b64") from None
        else:
            path = resolve_source(layer.png_key, Path(), sources, f"{where}.png_key")
            data = read_input(path, f"{where}.png_key")
        rendered = load_text_layer(data, width=width, height=height, where=where)
        plans.append(TextPlan(layer.start_time, layer.end_time, rgba_to_yuva(rendered.rgba, x=rendered.x, y=rendered.y)))
    return plans


@retry_on_cpu
@cancel_stops_remote_reads
def overlay(src: StrPath, dst: StrPath, spec: OverlaySpec | Mapping[str, Any], *, device: Device = "auto",
            progress: ProgressCallback | None = None, cancel: CancelCheck | None = None,
            sources: Mapping[str, StrPath] | None = None, limits: Limits | None = None) -> ExportResult:
    """Burn the highlight regions (a spotlight ellipse following keyframes, dimming the rest)
    and the text layers (full-frame RGBA PNGs) of ``spec`` over ``src`` into the MP4 ``dst``, at
    the input's size and frame rate (docs/overlay.md). Nothing to draw: a stream copy.

    ``spec``: a dict of the params (snake_case or camelCase; ``reelgpu schema overlay``) or an
    :class:`~reelgpu.specs.OverlaySpec`. ``sources`` maps each text layer's ``png_key`` to a
    local PNG. ``device``, ``progress(done, total)``, ``cancel()`` and ``limits`` work as in
    :func:`reelgpu.framing`. Errors are raised before any decoding, except a damaged frame
    (``CorruptMedia``) and ``Cancelled``; ``dst`` appears only when complete. Returns an
    :class:`~reelgpu.ExportResult`.
    """
    started = time.perf_counter()
    limits = limits or DEFAULT_LIMITS
    spec = parse_spec("overlay", spec)
    check_spec_limits(spec, limits)
    check_destination(Path(dst), given_inputs(src, sources))
    backend = select_backend(device)  # fails here, before any work, if the device cannot run
    src, dst = Path(src), Path(dst)
    info = Probes(limits)(src)
    check_output_length(info.duration_s, info.frame_count, f"the overlay of {src.name}", limits)  # as long as its input
    regions = [_plan_region(r, info.width, info.height)
               for r in sorted((r for r in spec.highlight_regions if r.enabled), key=lambda r: r.start_time)]
    texts = _load_text_layers(spec, info.width, info.height, sources)
    include_audio = spec.include_audio and info.has_audio

    # AVI stores no presentation times: FFmpeg's guesses (late by a frame, out of order with
    # B-frames) would be copied as they are, so an AVI is decoded (its times corrected as the
    # decoders do) and encoded even with nothing to draw.
    if not any(r.track for r in regions) and not texts and info.container != "avi":
        # Nothing to draw: the video stream-copied with +faststart, no re-encode; the audio as
        # every output has it (AAC copied, other audio encoded). No frames either, so progress
        # is told once, when it is done; cancel is asked as packets go.
        dst.parent.mkdir(parents=True, exist_ok=True)
        audio = whole_source_audio(src, info, info.duration_s, spec.encode) if include_audio else None
        remux_faststart(src, dst, audio=audio, cancel=cancel)
        if progress is not None:
            progress(info.frame_count, info.frame_count)
        total = time.perf_counter() - started
        return ExportResult(output=dst, frames=info.frame_count, duration_s=info.duration_s, width=info.width,
                            height=info.height, fps=float(info.fps), has_audio=audio is not None and audio.written,
                            meta=spec.meta,
                            backend={"decode": "copy", "process": "none", "encode": "copy"},
                            timings_s={"total": round(total, 4)})

    backend = fit_to_inputs(backend, device, [info])  # only now: a stream copy decodes nothing
    fps = info.fps
    frames = [OutputFrame(n, n / float(fps), (Pick(0, n / float(fps)),)) for n in range(info.frame_count)]

    ops = backend.ops
    sprites = [ops.prepare_sprite(text.sprite) for text in texts]  # uploaded once

    def render(of: OutputFrame, chosen: list[tuple[Pick, DecodedFrame]]) -> Planes:
        # Decoded planes may be reference frames the decoder still reads: draw on a copy.
        planes = ops.copy_planes(chosen[0][1].planes)
        drawing = highlight_at(of.time, regions, spec, info.height)
        if drawing is not None:
            ops.draw_highlight(planes, drawing)
        for text, sprite in zip(texts, sprites):
            opacity = text.opacity(of.time)
            if opacity > 0:
                ops.blend_sprite(planes, sprite, opacity)
        return planes

    result = render_to_mp4(dst=dst, frames=frames, clips=[ClipSource(src, 0.0, info.rotation)], render=render,
                           size=info.picture_size, fps=fps,
                           encode=spec.encode,
                           audio=whole_source_audio(src, info, len(frames) / float(fps), spec.encode)
                           if include_audio else None,
                           backend=backend, limits=limits, progress=progress, cancel=cancel, started=started)
    result.meta = spec.meta
    return result
