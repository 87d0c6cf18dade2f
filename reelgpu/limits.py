"""Configurable size limits, checked before any decoding.

Exceeding one raises :class:`LimitExceeded` naming the limit and the value. Defaults follow
CONTRACT.md; a service can pass its own :class:`Limits` to any export.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import LimitExceeded
from .specs import AnnotateSpec, ExportSpec, FramingSpec, OverlaySpec


@dataclass(frozen=True)
class Limits:
    max_input_width: int = 8192
    max_input_height: int = 8192
    max_input_duration_s: float = 4 * 3600
    max_output_width: int = 4096
    max_output_height: int = 4096
    max_keyframes_per_clip: int = 10_000
    max_clips: int = 200
    max_text_layers: int = 64
    max_text_chars: int = 500
    max_payload_bytes: int = 10 * 1024 * 1024


DEFAULT_LIMITS = Limits()


def _check(value: float, limit: float, what: str) -> None:
    if value > limit:
        raise LimitExceeded(f"{what} is {value:g}, over the limit of {limit:g}")


def check_spec_limits(spec: ExportSpec, limits: Limits = DEFAULT_LIMITS) -> None:
    """Counts and lengths in the spec itself (no media needed)."""
    if isinstance(spec, FramingSpec):
        _check(len(spec.clips), limits.max_clips, "params.clips (count)")
        for i, clip in enumerate(spec.clips):
            _check(len(clip.keyframes), limits.max_keyframes_per_clip, f"params.clips[{i}].keyframes (count)")
        if spec.target_width is not None:
            _check(spec.target_width, limits.max_output_width, "params.target_width")
            _check(spec.target_height or 0, limits.max_output_height, "params.target_height")
    elif isinstance(spec, OverlaySpec):
        _check(len(spec.text_layers), limits.max_text_layers, "params.text_layers (count)")
        for i, region in enumerate(spec.highlight_regions):
            _check(len(region.keyframes), limits.max_keyframes_per_clip,
                   f"params.highlight_regions[{i}].keyframes (count)")
    elif isinstance(spec, AnnotateSpec):
        _check(len(spec.clips), limits.max_clips, "params.clips (count)")
        for i, clip in enumerate(spec.clips):
            _check(len(clip.name), limits.max_text_chars, f"params.clips[{i}].name (characters)")
            _check(len(clip.notes), limits.max_text_chars, f"params.clips[{i}].notes (characters)")
            _check(sum(len(t) for t in clip.tags), limits.max_text_chars, f"params.clips[{i}].tags (characters)")


def check_input_limits(width: int, height: int, duration_s: float, path: str,
                       limits: Limits = DEFAULT_LIMITS) -> None:
    """Facts from the probe of an input file."""
    _check(width, limits.max_input_width, f"{path}: video width")
    _check(height, limits.max_input_height, f"{path}: video height")
    _check(duration_s, limits.max_input_duration_s, f"{path}: duration in seconds")


def check_output_size(width: int, height: int, limits: Limits = DEFAULT_LIMITS) -> None:
    _check(width, limits.max_output_width, "output width")
    _check(height, limits.max_output_height, "output height")
