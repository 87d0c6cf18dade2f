"""Configurable size limits, checked before any decoding.

Exceeding one raises :class:`LimitExceeded` naming the limit and the value. Defaults follow
CONTRACT.md; a service can pass its own :class:`Limits` to any export.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from dataclasses import dataclass

from .errors import LimitExceeded
from .specs import AnnotateSpec, ExportSpec, FramingSpec, OverlaySpec, SegmentData


@dataclass(frozen=True)
class Limits:
    """Sizes an export accepts, checked before any decoding; exceeding one raises
    :class:`~reelgpu.LimitExceeded` naming the field (``error.limit``). Pass your own to any
    export (``limits=Limits(max_clips=50)``); the worker reads ``REELGPU_LIMIT_<FIELD>``."""

    max_input_width: int = 8192
    max_input_height: int = 8192
    max_input_duration_s: float = 4 * 3600
    max_output_width: int = 4096
    max_output_height: int = 4096
    max_keyframes_per_clip: int = 10_000
    max_clips: int = 200
    max_text_layers: int = 64
    max_text_chars: int = 500
    max_payload_bytes: int = 10_000_000  # 10 MB, as RunPod's /run accepts
    # Long side / short side of an input. Cameras and editors stay under 4:1; a 16x2048 strip is
    # a crafted file (and under the hardware decoders' minimum width).
    max_input_aspect_ratio: float = 16.0
    # Length of one export's output, all clips and slow motion included, and its frame count: every
    # export builds its whole frame schedule in memory (~200 bytes a frame) before the first frame.
    # Speed is only bounded below by 0 (a 1 s segment at 1e-9 would schedule 30 billion frames), and
    # 200 clips of a 4 h source would be 800 h. 5 M frames is probe.MAX_VIDEO_SAMPLES, the most one
    # input may hold (4 h at 240 fps is 3.5 M).
    max_output_duration_s: float = 4 * 3600
    max_output_frames: int = 5_000_000
    # Keyframe positions and sizes (crop boxes, highlight centres and radii), in pixels: far beyond
    # any frame, yet small enough that interpolating them cannot overflow to inf/NaN.
    max_coordinate_px: float = 1_000_000.0


DEFAULT_LIMITS = Limits()
_PARAM_PATH = re.compile(r"params\.[^\s:]+")


def _check(value: float, limits: Limits, name: str, what: str) -> None:
    """Raise when ``value`` (``what``) is over the :class:`Limits` field ``name``. The message
    names the limit: it is how a service finds the setting (the worker's
    ``REELGPU_LIMIT_<NAME>``). Where ``what`` starts with a parameter's path
    (``"params.clips[0].keyframes (count)"``) that path is the error's ``field``."""
    limit = getattr(limits, name)
    if value > limit:
        # "{:g}" converts to float, which overflows for ints past 1e308 (target_width=10**400).
        shown = f"{value:g}" if isinstance(value, float) or value < 1e300 else "more than 1e300"
        param = _PARAM_PATH.match(what)
        raise LimitExceeded(f"{what} is {shown}, over the limit of {limit:g} ({name})",
                            limit=name, value=value, maximum=limit, field=param.group() if param else None)


def check_spec_limits(spec: ExportSpec, limits: Limits = DEFAULT_LIMITS) -> None:
    """Counts and lengths in the spec itself (no media needed)."""
    if isinstance(spec, FramingSpec):
        _check(len(spec.clips), limits, "max_clips", "params.clips (count)")
        slowed = 0.0
        for i, clip in enumerate(spec.clips):
            _check(len(clip.keyframes), limits, "max_keyframes_per_clip", f"params.clips[{i}].keyframes (count)")
            for j, k in enumerate(clip.keyframes):
                _check_coordinates(k, ("x", "y", "width", "height"), limits, f"params.clips[{i}].keyframes[{j}]")
            slowed += _segments_output_s(clip.segment_data)
        # An upper bound from the params alone, so a hopeless job fails before any download;
        # check_output_length checks the real total once the inputs are probed.
        _check(slowed, limits, "max_output_duration_s", "output duration of params.clips[].segment_data.segments (s)")
        if spec.target_width is not None:
            _check(spec.target_width, limits, "max_output_width", "params.target_width")
            _check(spec.target_height or 0, limits, "max_output_height", "params.target_height")
    elif isinstance(spec, OverlaySpec):
        _check(len(spec.text_layers), limits, "max_text_layers", "params.text_layers (count)")
        for i, layer in enumerate(spec.text_layers):
            size = _png_b64_size(layer.png_b64)
            if size:  # read from the IHDR header: a "PNG bomb" is refused before any inflating
                _check(size[0], limits, "max_output_width", f"params.text_layers[{i}]: PNG width")
                _check(size[1], limits, "max_output_height", f"params.text_layers[{i}]: PNG height")
        for i, region in enumerate(spec.highlight_regions):
            _check(len(region.keyframes), limits, "max_keyframes_per_clip",
                   f"params.highlight_regions[{i}].keyframes (count)")
            for j, k in enumerate(region.keyframes):
                _check_coordinates(k, ("x", "y", "radius_x", "radius_y"), limits,
                                   f"params.highlight_regions[{i}].keyframes[{j}]")
    elif isinstance(spec, AnnotateSpec):
        _check(len(spec.clips), limits, "max_clips", "params.clips (count)")
        for i, clip in enumerate(spec.clips):
            _check(len(clip.name), limits, "max_text_chars", f"params.clips[{i}].name (characters)")
            _check(len(clip.notes), limits, "max_text_chars", f"params.clips[{i}].notes (characters)")
            _check(sum(len(t) for t in clip.tags), limits, "max_text_chars", f"params.clips[{i}].tags (characters)")


def _check_coordinates(keyframe: object, fields: tuple[str, ...], limits: Limits, where: str) -> None:
    for name in fields:
        _check(abs(getattr(keyframe, name)), limits, "max_coordinate_px", f"{where}.{name} (pixels, absolute)")


def _segments_output_s(seg: SegmentData | None) -> float:
    """Output seconds of a clip's speed segments, bounded from the spec alone (segments are
    clipped to the trim range, never to the unknown clip length: an upper bound)."""
    if seg is None:
        return 0.0
    trim_start, trim_end = seg.trim
    total = 0.0
    for s in seg.segments:
        end = s.end if trim_end is None else min(s.end, trim_end)
        total += max(0.0, end - max(s.start, trim_start)) / s.speed
    return total


def _png_b64_size(data: str | None) -> tuple[int, int] | None:
    """(width, height) from the IHDR of a base64 PNG, decoding only its first 33 bytes."""
    if not data:
        return None
    try:
        head = base64.b64decode(data[:44], validate=False)
    except (binascii.Error, ValueError):
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def check_input_limits(width: int, height: int, duration_s: float, path: str,
                       limits: Limits = DEFAULT_LIMITS) -> None:
    """Facts from the probe of an input file."""
    _check(width, limits, "max_input_width", f"{path}: video width")
    _check(height, limits, "max_input_height", f"{path}: video height")
    _check(duration_s, limits, "max_input_duration_s", f"{path}: duration in seconds")
    if width > 0 and height > 0:
        _check(round(max(width, height) / min(width, height), 2), limits, "max_input_aspect_ratio",
               f"{path}: aspect ratio (long side / short side)")


def check_output_length(duration_s: float, frames: float, where: str, limits: Limits = DEFAULT_LIMITS) -> None:
    """Length of the output an export is about to schedule: after probing, before the schedule."""
    _check(duration_s, limits, "max_output_duration_s", f"output duration of {where} (s)")
    _check(frames, limits, "max_output_frames", f"output frames of {where}")


def check_output_size(width: int, height: int, limits: Limits = DEFAULT_LIMITS) -> None:
    _check(width, limits, "max_output_width", "output width")
    _check(height, limits, "max_output_height", "output height")
