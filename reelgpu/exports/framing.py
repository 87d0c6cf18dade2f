"""The framing export: keyframed crop/zoom of one or more clips into a (vertical) reel."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..backends import fit_to_inputs, retry_on_cpu, select_backend
from ..device import Device
from ..errors import InvalidSpec
from ..frames import Planes
from ..limits import DEFAULT_LIMITS, Limits, check_output_length, check_spec_limits
from ..media.audio_feed import AudioFeed
from ..media.decode_cpu import DecodedFrame
from ..media.prefetch import prefetch_cuts
from ..media.probe import MediaInfo
from ..pipeline import ClipSource
from ..result import CancelCheck, ExportResult, ProgressCallback, StrPath
from ..specs import FramingClip, FramingSpec, parse_spec
from ..timeline import (
    Box,
    OutputFrame,
    Pick,
    Piece,
    Track,
    clamp_box,
    default_crop,
    frame_count,
    is_identity_timing,
    output_duration,
    output_size,
    schedule,
    speed_pieces,
)
from ._common import (
    AudioClip,
    Probes,
    assemble_audio,
    cancel_stops_remote_reads,
    check_destination,
    clip_cut,
    encoded_audio,
    given_inputs,
    render_to_mp4,
    resolve_source,
    whole_source_audio,
)

# The upscaler stage: (planes, crop box, out_w, out_h, rotation) -> planes of out_w x out_h.
# Bicubic resampling (the backend's crop_scale) is built in; a super-resolution model can be
# plugged in with the same geometry (the output size never depends on which upscaler runs).
Upscaler = Callable[[Planes, Box, int, int, float], Planes]


def _checked(upscaler: Upscaler) -> Upscaler:
    """A caller's upscaler, whose planes must be what the encoder takes: a wrong size or type
    was encoded as a grey picture, without an error."""

    def run(planes: Planes, box: Box, out_w: int, out_h: int, rotation: float) -> Planes:
        out = upscaler(planes, box, out_w, out_h, rotation)
        kind = type(planes.y)  # numpy on the CPU path, CuPy on the GPU path: the output stays there
        want = ((out_h, out_w), (out_h // 2, out_w // 2), (out_h // 2, out_w // 2))
        got = tuple(tuple(getattr(p, "shape", ())) for p in out) if isinstance(out, tuple) and len(out) == 3 else None
        dtypes = {str(getattr(p, "dtype", "")) for p in out} if got else set()
        kinds = {type(p) for p in out} if got else set()
        if got != want or dtypes != {"uint8"} or kinds != {kind}:
            shown = (f"planes of shapes {got}, dtypes {sorted(dtypes)}, types {sorted(k.__name__ for k in kinds)}"
                     if got else f"{type(out).__name__}")
            raise ValueError(f"upscaler: returned {shown}; expected reelgpu.Planes (y, u, v) of uint8 "
                             f"{kind.__module__}.{kind.__name__} with shapes {want} (I420, {out_w}x{out_h})")
        return Planes(*out)

    return run


@dataclass(frozen=True)
class ClipPlan:
    """One clip, resolved against its probed source."""

    path: Path
    info: MediaInfo
    origin_s: float  # source time of clip time 0
    duration_s: float  # untrimmed clip length
    pieces: list[Piece]
    track: Track | None  # crop keyframes (x, y, w, h) on clip time; None = default crop
    rotation: float


def _plan_clip(i: int, clip: FramingClip, path: Path, info: MediaInfo) -> ClipPlan:
    where = f"params.clips[{i}]"
    source_end = info.duration_s if clip.source_end_time is None else min(clip.source_end_time, info.duration_s)
    if clip.source_start_time >= source_end:
        raise InvalidSpec(f"{where}.source_start_time ({clip.source_start_time}) is not before the end of "
                          f"{path.name} ({source_end:.3f} s)", field=f"{where}.source_start_time")
    duration = source_end - clip.source_start_time
    seg = clip.segment_data
    trim_start, trim_end = seg.trim if seg else (0.0, None)
    trim_end = duration if trim_end is None else min(trim_end, duration)
    if trim_start >= trim_end:
        raise InvalidSpec(f"{where}.segment_data: trim start ({trim_start}) is not before the clip's end "
                          f"({trim_end:.3f} s)", field=f"{where}.segment_data")
    segments = [(s.start, s.end, s.speed) for s in (seg.segments if seg else [])]
    fps = float(info.fps)
    keys = [((k.time if k.time is not None else k.frame / fps), (k.x, k.y, k.width, k.height)) for k in clip.keyframes]
    return ClipPlan(path, info, clip.source_start_time, duration, speed_pieces(trim_start, trim_end, segments),
                    Track.build(keys) if keys else None, clip.rotation)


def _target_size(spec: FramingSpec, plans: list[ClipPlan]) -> tuple[int, int]:
    if spec.target_width and spec.target_height:
        return spec.target_width, spec.target_height
    boxes = [v for p in plans if p.track for v in p.track.values]
    boxes += [default_crop(*p.info.picture_size, spec.aspect) for p in plans if p.track is None]
    return output_size(min(b[2] for b in boxes), min(b[3] for b in boxes), spec.aspect, spec.upscale_factor)


def _audio(spec: FramingSpec, plans: list[ClipPlan], fps: Fraction) -> AudioFeed | None:
    if not spec.include_audio or not any(p.info.has_audio for p in plans):
        return None
    only = plans[0]
    if (len(plans) == 1 and only.origin_s == 0 and abs(only.duration_s - only.info.duration_s) < 1e-3
            and is_identity_timing(only.pieces, only.duration_s)):
        # Timing unchanged: AAC packets copied bit-exactly, other audio streamed into AAC.
        seconds = frame_count(output_duration(only.pieces), fps) / float(fps)
        return whole_source_audio(only.path, only.info, seconds, spec.encode)
    clips = [AudioClip(p.path, p.info.has_audio, p.origin_s, p.pieces) for p in plans]
    return encoded_audio(assemble_audio(clips, fps, spec.transition.type, spec.transition.duration), spec.encode)


@retry_on_cpu
@cancel_stops_remote_reads
def framing(src: StrPath, dst: StrPath, spec: FramingSpec | Mapping[str, Any], *, device: Device = "auto",
            progress: ProgressCallback | None = None, cancel: CancelCheck | None = None,
            sources: Mapping[str, StrPath] | None = None, limits: Limits | None = None,
            upscaler: Upscaler | None = None) -> ExportResult:
    """Render the framing export of ``src`` to the MP4 ``dst``: each clip's keyframed crop
    (Catmull-Rom), trims and slow-motion segments, joined by cut/fade/dissolve (docs/framing.md).

    ``spec``: a dict of the params (snake_case or camelCase; ``reelgpu schema framing``) or a
    :class:`~reelgpu.specs.FramingSpec`. ``sources`` maps each clip ``source_key`` to a local
    file. ``device``: ``"cpu"``, ``"cuda"`` or ``"auto"`` (the GPU where it can, per stage;
    ``result.backend`` says what ran). ``progress(done, total)`` is called from the frame loop
    after each frame (the file is finished after the last call); ``cancel()`` is asked between
    frames and True raises :class:`~reelgpu.Cancelled`. ``limits``: a :class:`~reelgpu.Limits`
    (default: the contract's). ``upscaler``: replaces the crop's resampling (``Upscaler``).

    Everything is validated and probed before the first frame is decoded (``InvalidSpec``,
    ``LimitExceeded``, ``InputNotFound``, ``UnsupportedMedia``, ``CorruptMedia``); ``dst`` appears
    only when complete. Returns an :class:`~reelgpu.ExportResult`.
    """
    started = time.perf_counter()
    limits = limits or DEFAULT_LIMITS
    spec = parse_spec("framing", spec)
    check_spec_limits(spec, limits)
    check_destination(Path(dst), given_inputs(src, sources))
    backend = select_backend(device)  # fails here, before any work, if the device cannot run
    probes = Probes(limits)
    plans = []
    for i, clip in enumerate(spec.clips):
        path = resolve_source(clip.source_key, Path(src), sources, f"params.clips[{i}].source_key")
        plans.append(_plan_clip(i, clip, path, probes(path)))
    backend = fit_to_inputs(backend, device, [p.info for p in plans])
    out_w, out_h = _target_size(spec, plans)
    fps = spec.fps_rational or plans[0].info.fps
    total_s = sum(output_duration(p.pieces) for p in plans)  # before building the schedule it bounds
    check_output_length(total_s, total_s * float(fps), "params.clips", limits)
    frames = schedule([p.pieces for p in plans], fps, spec.transition.type, spec.transition.duration)
    aspect = Fraction(out_w, out_h)
    defaults = [default_crop(*p.info.picture_size, aspect) for p in plans]
    ops = backend.ops
    upscale = _checked(upscaler) if upscaler else \
        (lambda planes, box, w, h, rotation: ops.crop_scale(planes, box, w, h, rotation_deg=rotation))
    last: dict[int, tuple[float, Planes]] = {}  # slow motion repeats frames: render each once

    def render_pick(pick: Pick, frame: DecodedFrame) -> Planes:
        cached = last.get(pick.clip)
        if cached and cached[0] == frame.pts_s:
            return cached[1]
        plan = plans[pick.clip]
        clip_t = frame.pts_s - plan.origin_s  # crop follows the shown frame, before any speed change
        box = plan.track.at(clip_t, spec.interpolation) if plan.track else defaults[pick.clip]
        # Clamped to the decoded picture: an odd-sized source's last column/row is not in it.
        out = upscale(frame.planes, clamp_box(box, *plan.info.picture_size), out_w, out_h, plan.rotation)
        last[pick.clip] = (frame.pts_s, out)
        return out

    def render(of: OutputFrame, chosen: list[tuple[Pick, DecodedFrame]]) -> Planes:
        layers = [render_pick(p, f) for p, f in chosen]
        out = layers[0] if len(layers) == 1 else ops.dissolve(layers[0], layers[1], chosen[1][0].weight)
        return ops.fade_to_black(out, of.brightness)

    clips = [ClipSource(p.path, p.origin_s, p.info.rotation) for p in plans]
    with prefetch_cuts([clip_cut(p.path, p.origin_s, p.pieces) for p in plans]):  # inputs read by range only
        result = render_to_mp4(dst=Path(dst), frames=frames, clips=clips, render=render, size=(out_w, out_h),
                               fps=fps, encode=spec.encode, audio=_audio(spec, plans, fps), backend=backend,
                               limits=limits, progress=progress, cancel=cancel, started=started)
    result.meta = spec.meta
    return result
