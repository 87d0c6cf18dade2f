"""Time: keyframe interpolation, trims, speed segments and the output-frame schedule.

Pure functions over floats, no media and no pixels, so every rule of the contract is testable
on its own. Times are seconds; "clip time" is measured from the clip's start on the untrimmed
clip timeline (where crop keyframes live), "output time" on the rendered video.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

Method = Literal["catmull_rom", "linear"]


# --------------------------------------------------------------------------- interpolation
def catmull_rom(p0: float, p1: float, p2: float, p3: float, u: float) -> float:
    """Uniform Catmull-Rom between p1 and p2 (the editor's formula, CONTRACT.md)."""
    return 0.5 * (
        2 * p1
        + (-p0 + p2) * u
        + (2 * p0 - 5 * p1 + 4 * p2 - p3) * u * u
        + (-p0 + 3 * p1 - 3 * p2 + p3) * u * u * u
    )


@dataclass(frozen=True)
class Track:
    """Keyframed values on a time axis: ``times`` ascending, ``values[i]`` a tuple per key."""

    times: tuple[float, ...]
    values: tuple[tuple[float, ...], ...]

    @classmethod
    def build(cls, keys: Sequence[tuple[float, tuple[float, ...]]]) -> Track:
        """Sort by time; on duplicate times the later keyframe (in input order) wins."""
        by_time: dict[float, tuple[float, ...]] = {}
        for t, vals in keys:
            by_time[float(t)] = tuple(float(v) for v in vals)
        times = tuple(sorted(by_time))
        return cls(times, tuple(by_time[t] for t in times))

    def __len__(self) -> int:
        return len(self.times)

    def segment(self, t: float) -> int:
        """Index i of the interval [times[i], times[i+1]) holding t (clamped to valid intervals)."""
        return min(max(bisect.bisect_right(self.times, t) - 1, 0), len(self.times) - 2)

    def at(self, t: float, method: Method = "catmull_rom") -> tuple[float, ...]:
        """Value at ``t``: hold the first before it, the last after it, interpolate between."""
        if not self.times:
            raise ValueError("empty track")
        if len(self.times) == 1 or t <= self.times[0]:
            return self.values[0]
        if t >= self.times[-1]:
            return self.values[-1]
        i = self.segment(t)
        t1, t2 = self.times[i], self.times[i + 1]
        u = (t - t1) / (t2 - t1)
        v1, v2 = self.values[i], self.values[i + 1]
        if method == "linear":
            return tuple(a + (b - a) * u for a, b in zip(v1, v2))
        # Clamped end neighbours: p0 = p1 at the start, p3 = p2 at the end.
        v0 = self.values[max(i - 1, 0)]
        v3 = self.values[min(i + 2, len(self.values) - 1)]
        return tuple(catmull_rom(a, b, c, d, u) for a, b, c, d in zip(v0, v1, v2, v3))


# --------------------------------------------------------------------------- crop boxes
Box = tuple[float, float, float, float]


# Crop sizes below one source pixel sample nothing more than one pixel does; the contract only asks
# for width, height > 0, so a smaller (real-valued, even 5e-324) size is treated as 1 px, both when
# cropping and when deriving the output size, rather than refused.
MIN_CROP_PX = 1.0


def clamp_box(box: Box, frame_w: int, frame_h: int) -> Box:
    """Shift the box inside the frame, then shrink it only if it is larger than the frame."""
    x, y, w, h = box
    # Catmull-Rom overshoots between a zoom-in and a zoom-out: never let a box collapse.
    w, h = max(w, MIN_CROP_PX), max(h, MIN_CROP_PX)
    x = max(0.0, min(x, frame_w - w))
    y = max(0.0, min(y, frame_h - h))
    return x, y, min(w, float(frame_w)), min(h, float(frame_h))


def default_crop(frame_w: int, frame_h: int, aspect: Fraction) -> Box:
    """The largest box of ``aspect`` (w/h) centred in the frame."""
    if frame_w / frame_h > aspect:
        h = float(frame_h)
        w = h * float(aspect)
    else:
        w = float(frame_w)
        h = w / float(aspect)
    return (frame_w - w) / 2, (frame_h - h) / 2, w, h


def output_size(min_crop_w: float, min_crop_h: float, aspect: Fraction, upscale: float,
                cap: tuple[int, int] = (2560, 1440)) -> tuple[int, int]:
    """The editor's output-size rule: smallest crop x upscale, conformed to the aspect ratio,
    scaled down to fit ``cap``, rounded down to even (810x1440 for a 205x365 9:16 crop).

    Never divides by a size: with sub-pixel crops, tiny ``upscale`` or extreme ratios the
    products underflow towards 0, which rounds to the 2 px minimum instead of raising.
    """
    w = max(min_crop_w, MIN_CROP_PX) * upscale
    h = max(min_crop_h, MIN_CROP_PX) * upscale
    if w * aspect.denominator > h * aspect.numerator:
        w = h * aspect.numerator / aspect.denominator  # wider than the ratio: keep the height
    else:
        h = w * aspect.denominator / aspect.numerator  # otherwise keep the width
    s = min(1.0, cap[0] / w if w > cap[0] else 1.0, cap[1] / h if h > cap[1] else 1.0)
    even = lambda v: max(2, int(v * s) // 2 * 2)  # noqa: E731
    return even(w), even(h)


# --------------------------------------------------------------------------- trims and speed
@dataclass(frozen=True)
class Piece:
    """A stretch of clip time [start, end) played at ``speed``."""

    start: float
    end: float
    speed: float

    @property
    def out_duration(self) -> float:
        return (self.end - self.start) / self.speed


def speed_pieces(trim_start: float, trim_end: float,
                 segments: Sequence[tuple[float, float, float]]) -> list[Piece]:
    """Split the trimmed range [trim_start, trim_end) into pieces of constant speed.

    ``segments`` are (start, end, speed) in clip seconds; time they do not cover plays at 1x,
    and the parts outside the trim are dropped.
    """
    pieces: list[Piece] = []
    cursor = trim_start
    for start, end, speed in sorted(segments):
        start, end = max(start, trim_start), min(end, trim_end)
        if end <= start:
            continue
        if start > cursor:
            pieces.append(Piece(cursor, start, 1.0))
        pieces.append(Piece(max(start, cursor), end, speed))
        cursor = max(cursor, end)
    if cursor < trim_end:
        pieces.append(Piece(cursor, trim_end, 1.0))
    # Merge neighbours of equal speed so unchanged timing stays one piece.
    merged: list[Piece] = []
    for p in pieces:
        if p.end - p.start <= 1e-9:
            continue
        if merged and abs(merged[-1].speed - p.speed) < 1e-12 and abs(merged[-1].end - p.start) < 1e-9:
            merged[-1] = Piece(merged[-1].start, p.end, p.speed)
        else:
            merged.append(p)
    return merged


def output_duration(pieces: Sequence[Piece]) -> float:
    return sum(p.out_duration for p in pieces)


def clip_time_at(pieces: Sequence[Piece], out_t: float) -> float:
    """Clip time shown at output time ``out_t`` (seconds from the clip's first output frame)."""
    acc = 0.0
    for p in pieces:
        if out_t < acc + p.out_duration or p is pieces[-1]:
            return min(p.start + (out_t - acc) * p.speed, p.end)
        acc += p.out_duration
    return pieces[-1].end if pieces else 0.0


# --------------------------------------------------------------------------- frame schedule
# slots: a 10-minute schedule holds ~18,000 of each, and its size counts against the
# peak-RSS budget for the whole export (6.0 -> 4.6 MB with slots).
@dataclass(frozen=True, slots=True)
class Pick:
    """Show the frame of clip ``clip`` that is on screen at clip time ``clip_t``, times ``weight``."""

    clip: int
    clip_t: float
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class OutputFrame:
    index: int
    time: float  # output seconds
    picks: tuple[Pick, ...]  # one, or two during a dissolve (weights sum to 1)
    brightness: float = 1.0  # < 1 while fading to/from black


def frame_count(duration_s: float, fps: Fraction) -> int:
    """Output frames for ``duration_s`` at ``fps``: halves round up, so a cut [0, 0.5) at 25 fps
    keeps all 13 frames that start in it, as [0, 0.7) keeps 18 (Python's round() goes to the
    even neighbour: 12 there, 18 here). The epsilon absorbs float noise in ``duration x fps``."""
    return max(1, math.floor(float(duration_s * fps) + 0.5 + 1e-9))


def clip_lengths(clips: Sequence[Sequence[Piece]], fps: Fraction) -> list[float]:
    """Each clip's rendered length in seconds: its whole frames at ``fps``."""
    return [frame_count(output_duration(p), fps) / float(fps) for p in clips]


def dissolve_overlap(lengths: Sequence[float], transition_s: float) -> float:
    """How long neighbouring clips overlap in a dissolve: the transition, but never more than
    half the shortest clip (an overlap never eats a whole clip). Video and audio both take it
    from here (the audio sized each join on its own once, and ran ahead of the picture)."""
    return min(transition_s, *(length / 2 for length in lengths)) if len(lengths) > 1 else 0.0


def schedule(clips: Sequence[Sequence[Piece]], fps: Fraction, transition: str = "cut",
             transition_s: float = 0.0) -> list[OutputFrame]:
    """Every output frame of a multi-clip render, chosen by presentation time.

    Each clip gets ``frame_count(duration, fps)`` frames (halves round up); output frame n of
    a clip shows the clip time reached at n / fps, so 25/50/60 fps and variable-rate sources keep real-time speed at
    any output rate, 0.5x segments repeat frames and fps down-conversion drops them.
    ``fade`` dips to black over ``transition_s`` at each join (durations unchanged);
    ``dissolve`` overlaps neighbouring clips by ``transition_s`` (total shortened).
    """
    step = 1 / float(fps)
    durations = clip_lengths(clips, fps)
    d = 0.0 if transition == "cut" or len(clips) < 2 else transition_s
    if transition == "dissolve":
        d = dissolve_overlap(durations, d)
    starts: list[float] = []
    cursor = 0.0
    for dur in durations:
        starts.append(cursor)
        cursor += dur - (d if transition == "dissolve" else 0.0)
    total = cursor + (d if transition == "dissolve" else 0.0)
    n_frames = frame_count(total, fps)
    frames: list[OutputFrame] = []
    c = 0
    for n in range(n_frames):
        t = n * step
        while c + 1 < len(clips) and t >= starts[c + 1] - 1e-9 and (
                transition != "dissolve" or t >= starts[c] + durations[c] - 1e-9):
            c += 1
        local = t - starts[c]
        picks = [Pick(c, clip_time_at(clips[c], local))]
        brightness = 1.0
        if transition == "dissolve" and d > 0 and c + 1 < len(clips) and t >= starts[c + 1] - 1e-9:
            alpha = (t - starts[c + 1] + step / 2) / d
            alpha = min(max(alpha, 0.0), 1.0)
            picks = [Pick(c, picks[0].clip_t, 1 - alpha), Pick(c + 1, clip_time_at(clips[c + 1], t - starts[c + 1]), alpha)]
        elif transition == "fade" and d > 0:
            mid = local + step / 2
            if c > 0 and mid < d:
                brightness = mid / d
            if c + 1 < len(clips) and durations[c] - mid < d:
                brightness = min(brightness, (durations[c] - mid) / d)
        frames.append(OutputFrame(n, t, tuple(picks), brightness))
    return frames


def is_identity_timing(pieces: Sequence[Piece], clip_duration: float) -> bool:
    """True when the clip plays whole at 1x: audio can then be copied packet for packet."""
    return (len(pieces) == 1 and pieces[0].speed == 1.0 and pieces[0].start <= 1e-6
            and abs(pieces[0].end - clip_duration) <= 1e-3)


def even_floor(v: float) -> int:
    return max(2, int(math.floor(v)) // 2 * 2)
