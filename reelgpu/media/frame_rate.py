"""A video stream's frame rate, and its frame times put back on that rate's grid.

Containers do not state a frame rate; FFmpeg guesses two: the *average* (frames over duration)
and the *base* rate (from the codec's timing info and the first frames' times). Neither is
always the rate the frames were captured at:

* averages over millisecond times are off (a browser's 30 fps WebM averages 1000/33, the export
  ran at 30.3 fps), and an average falls under the rate wherever frames are missing or held
  (a phone under load, a clip ending on a still: at 27 or 18.2 fps, frames were dropped);
* the base rate is often H.264's field rate, twice the frame rate (480 for 240 fps slow
  motion on 1/600 s ticks; 60 for a 30 fps stream whose times jitter), or film's 59.94 fields
  for 23.976 frames.

So the rate is taken from the frames' own spacing (:func:`typical_period`, over packets at
the start, a third and two thirds of the way in: :func:`sampled_period`) and matched, in this
order, to FFmpeg's base rate (or half of it), a standard rate or the average; without that
spacing (too few frames), from the guesses alone (:func:`nominal_rate`). Exports and both
decoders use the same rate: :func:`reelgpu.media.probe.video_rate`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from fractions import Fraction

import av

__all__ = ["STANDARD_RATES", "GridSnapper", "nominal_rate", "sample_times", "sampled_period", "typical_period"]

# Frame rates cameras, encoders and browsers record at (240: phones' slow motion).
STANDARD_RATES = frozenset(Fraction(r) for r in (Fraction(24000, 1001), 24, 25, Fraction(30000, 1001), 30, 48, 50,
                                                 Fraction(60000, 1001), 60, 100, Fraction(120000, 1001), 120,
                                                 Fraction(240000, 1001), 240))
_NEAR_STANDARD = 0.005  # an average this close to a standard rate is that rate
_NEAR_BASE = 0.005  # FFmpeg's base rate (or half) this close to the frames' spacing is the rate
_NEAR_SPACING = 0.02  # else a standard rate (or the average) this close to it
SAMPLE_PACKETS = 120  # packets read from the start for the frames' spacing (4 s at 30 fps; 2 ms)
WINDOW_PACKETS = 60  # and from a third and two thirds of the way in (sampled_period),
WINDOW_FRACTIONS = (1 / 3, 2 / 3)
_WINDOW_MIN_GAPS = 40  # where one with at least this many gaps
_FASTER = 1.3  # is this much faster
_MIN_GAPS = 4  # fewer frame-to-frame gaps than this say nothing about a rate


def typical_period(times: Iterable[float]) -> float | None:
    """The frame period in seconds that most of ``times`` (presentation times, any order) are
    spaced by: the mean of the gaps between consecutive times within 0.6-1.55 times their
    median, then, twice, the mean of those within 0.52-1.48 times the last estimate (so
    jittered times are trimmed evenly on both sides: with one frame in ten missing the median
    leans long, and 30 fps read as 29.3). Longer gaps (missing frames, stills) and shorter
    ones (a burst) do not count; gaps of 2 and 3 ticks average to 2.5. None for fewer than
    four gaps."""
    ordered = sorted(set(times))
    gaps = [b - a for a, b in zip(ordered, ordered[1:])]
    if len(gaps) < _MIN_GAPS:
        return None
    median = statistics.median(gaps)
    if median <= 0:
        return None
    low, high = 0.6 * median, 1.55 * median
    period = median
    for _ in range(3):
        kept = [g for g in gaps if low <= g <= high]
        if not kept:
            break
        period = sum(kept) / len(kept)
        low, high = 0.52 * period, 1.48 * period  # not 0.5: half-period gaps (a burst) stay out
    return period


def sample_times(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                 limit: int = SAMPLE_PACKETS) -> list[float]:
    """Presentation times (seconds) of the stream's first ``limit`` packets that hold a picture,
    read from where ``container`` is (a freshly opened one: the start)."""
    tb, times = stream.time_base, []
    for n, packet in enumerate(container.demux(stream)):
        if n >= limit:
            break
        if packet.pts is not None and packet.size:
            times.append(float(packet.pts * tb))
    return times


def sampled_period(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    """The stream's :func:`typical_period`: over its first ``SAMPLE_PACKETS`` packets
    (``container`` freshly opened), unless a window of ``WINDOW_PACKETS`` a third or two
    thirds of the way in is clearly faster (by 1.3 times or more, over at least 40 gaps). A
    file joined from clips of two rates (30 fps, then 60) renders at the faster one: at the
    first clip's rate, every other frame of the second was dropped. Small differences are
    jitter, not a second rate (a late window's few gaps read a 15 fps clip as 15.1, and the
    rate went to 30). None where no window says anything. Leaves the demuxer where the last
    window ended."""
    period = typical_period(sample_times(container, stream))
    file_s = container.duration / av.time_base if container.duration else 0.0  # a live stream has none
    first_s = (container.start_time or 0) / av.time_base
    for fraction in WINDOW_FRACTIONS:
        target = (first_s + fraction * file_s) / stream.time_base if file_s > 0 else None
        # A forged duration can put the seek beyond 64-bit ticks: the first window then decides.
        if target is None or not math.isfinite(target) or abs(target) >= 2**62:
            break
        try:
            # Any packet, not the key frame before (a GOP can span the window): only times are read.
            container.seek(int(target), stream=stream, backward=True, any_frame=True)
        except av.error.FFmpegError:
            break
        times = sample_times(container, stream, WINDOW_PACKETS)
        later = typical_period(times) if len(set(times)) > _WINDOW_MIN_GAPS else None
        if later and (period is None or later * _FASTER <= period):
            period = later
    return period


def avi_average(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> Fraction | None:
    """An AVI's average frame rate from its index: the pictures (non-empty chunks) over the
    stream's duration; None for other containers or without an index. FFmpeg's average counts
    the header's frames, and an H.264 stream that the ffmpeg CLI copied into AVI (time base
    1/60 for 30 fps) declares a frame per tick, twice its pictures: it read as 60 fps and every
    picture was rendered twice (helper-49)."""
    if container.format.name != "avi" or not stream.duration or not stream.time_base:
        return None
    pictures = sum(1 for entry in stream.index_entries if entry.size > 0)
    seconds = Fraction(stream.duration) * Fraction(stream.time_base)
    return Fraction(pictures) / seconds if pictures and seconds > 0 else None


def nominal_rate(stream: av.video.stream.VideoStream, period_s: float | None = None,
                 average: Fraction | None = None) -> Fraction | None:
    """The stream's frame rate: from the frames' spacing ``period_s`` (:func:`typical_period`)
    where that names one (:func:`_rate_from_spacing`), else from FFmpeg's guesses alone
    (:func:`_rate_from_guesses`). ``average`` replaces FFmpeg's average rate where it is known
    better (:func:`avi_average`)."""
    average, base = (Fraction(r) if r else None
                     for r in (average or stream.average_rate or stream.guessed_rate or stream.base_rate,
                               stream.base_rate))
    # A spacing slower than the average is no frame rate: more frames came than it allows (60
    # fps on 1/100 s ticks: gaps of 1 and 2 ticks, the median of 2 leaves the 1s out). 3 %
    # spare: averages over millisecond times run up to 2 % high.
    if period_s and period_s > 0 and not (average and 1 / period_s < 0.97 * average):
        rate = _rate_from_spacing(1 / period_s, base, average)
        if rate is not None:
            return rate
    return _rate_from_guesses(base, average)


def _off(rate: Fraction, target: float) -> float:
    return abs(float(rate) / target - 1)


def _rate_from_spacing(spacing: float, base: Fraction | None, average: Fraction | None) -> Fraction | None:
    """The rate nearest to ``spacing`` frames per second: FFmpeg's base rate or half of it (an
    exact fraction) within 0.5 %, else a standard rate within 2 %, else the average within 2 %;
    None when none is that near."""
    for guesses, within in (([base, base / 2] if base else [], _NEAR_BASE), (sorted(STANDARD_RATES), _NEAR_SPACING),
                            ([average] if average else [], _NEAR_SPACING)):
        if guesses:
            nearest = min(guesses, key=lambda r: _off(r, spacing))
            if _off(nearest, spacing) <= within:
                return nearest
    return None


def _rate_from_guesses(base: Fraction | None, average: Fraction | None) -> Fraction | None:
    """The rate from FFmpeg's guesses alone: the base rate where it is within 1 % of the
    average, or is a standard rate within 5 %; half of it within 1 % (H.264's field rate); a
    standard rate within 0.5 % of the average; a standard base rate above the average (gaps or
    held pictures; at most 60 fps, or twice the average); else the average (a phone's 1/90000
    base says nothing)."""
    if average and base:
        if _off(base, float(average)) < 0.01 or (base in STANDARD_RATES and _off(base, float(average)) <= 0.05):
            return base
        if _off(base / 2, float(average)) < 0.01:
            return base / 2
    if not average:
        return None
    nearest = min(STANDARD_RATES, key=lambda r: _off(r, float(average)))
    if _off(nearest, float(average)) <= _NEAR_STANDARD:
        return nearest
    if base and base in STANDARD_RATES and average < base and (base <= 60 or 2 * average >= base):
        return base
    return average


class GridSnapper:
    """Puts frame times (seconds from the first frame) near the frame-rate grid back on it.

    Coarse time bases round: Matroska stores milliseconds (at 30 fps frame 2 is stored at
    0.067 s, after 2/30 s, and the frame loop, which shows the frame on screen at each n / fps,
    dropped every third frame); mkvmerge rounds the first frame's time too, so times from it
    are up to a whole tick off; 240 fps on MP4's 1/600 s ticks stores every odd frame half a
    tick late (all of those were dropped), 60 fps on 1/100 s a third of a frame. And capture
    times jitter: a phone's 30 fps frames ±1 ms around the grid lost one in four (one stored a
    little late, the next a little early: the first was never on screen at any n / fps).

    A time within a quarter of a frame of a grid point (or half a tick, where that is more)
    becomes that point, unless that would not put it after the frame before (variable-rate
    frames never merge or swap). Frames further off (a variable rate's) are left alone, as are
    all times when a tick is over a frame (the time base cannot say which frame is meant).
    """

    def __init__(self, stream: av.video.stream.VideoStream, rate: Fraction | None = None) -> None:
        rate = rate or nominal_rate(stream)
        tick = Fraction(stream.time_base) if stream.time_base else None
        self._on = bool(rate and tick and tick * rate <= 1)
        self._fps = float(rate) if rate else 0.0
        self._reach = float(max(1 / (4 * rate), tick / 2)) + 1e-6 if self._on and rate and tick else 0.0
        self._last = float("-inf")

    def __call__(self, t: float) -> float:
        if self._on:
            on_grid = round(t * self._fps) / self._fps
            if abs(t - on_grid) <= self._reach and on_grid > self._last:
                t = on_grid
        # Never before the frame before: one snapped forward can overtake the next (variable-
        # rate frames under half a frame apart); that one then shares its time (the frame loop
        # showed it in that slot anyway, the overtaken one in none).
        t = max(t, self._last)
        self._last = t
        return t
