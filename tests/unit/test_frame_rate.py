"""A stream's frame rate (reelgpu.media.frame_rate), and frame times put back on its grid.

Streams are stand-ins with FFmpeg's two guesses (``average_rate``, ``base_rate``) and a time
base; the files these numbers come from are in tests/integration/test_frame_accuracy.py.
"""

from __future__ import annotations

import os
import random
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import pytest

from reelgpu.media.frame_rate import GridSnapper, nominal_rate, typical_period
from reelgpu.media.probe import video_rate
from reelgpu.media.samples import make_sample_video


def stream(average: Fraction, base: Fraction | None = None, time_base: Fraction = Fraction(1, 90000)) -> SimpleNamespace:
    return SimpleNamespace(time_base=time_base, average_rate=average, guessed_rate=average, base_rate=base or average)


def snapper(time_base: Fraction, rate: Fraction, base: Fraction | None = None) -> GridSnapper:
    return GridSnapper(stream(rate, base, time_base))


# --------------------------------------------------------------------------- GridSnapper
def test_millisecond_times_go_back_on_the_frame_grid() -> None:
    snap = snapper(Fraction(1, 1000), Fraction(30))
    assert [snap(t) for t in (0.0, 0.033, 0.067, 0.1, 0.134)] == pytest.approx([n / 30 for n in range(5)], abs=1e-12)


@pytest.mark.parametrize(("tb", "rate"), [(Fraction(1, 600), Fraction(240)), (Fraction(1, 100), Fraction(30)),
                                          (Fraction(1, 100), Fraction(220, 7)), (Fraction(1, 100), Fraction(60)),
                                          (Fraction(1, 1000), Fraction(240))])
def test_a_grid_rounded_to_coarse_ticks_goes_back_on_it(tb: Fraction, rate: Fraction) -> None:
    """240 fps on MP4's 1/600 s (an iPhone's slow motion) stores frames 2 and 3 ticks apart,
    every odd one half a tick (a fifth of a frame) late: the frame loop dropped all of those.
    60 fps on 1/100 s: a tick is 0.6 of a frame, rounding moves frames up to 0.3 of one."""
    snap = snapper(tb, rate)
    grid = [n / rate for n in range(50)]
    assert [snap(float(round(g / tb) * tb)) for g in grid] == pytest.approx([float(g) for g in grid], abs=1e-12)


def test_jittered_capture_times_go_back_on_the_grid() -> None:
    """A phone's 30 fps frames ±1 ms around the grid, on 1/90000 s: one stored a little late
    and the next a little early left the first on screen at no n / 30 (a quarter dropped)."""
    rnd = random.Random(5)
    times = [0.0] + [n / 30 + rnd.uniform(-0.001, 0.001) for n in range(1, 150)]
    snap = snapper(Fraction(1, 90000), Fraction(30))
    assert [snap(t) for t in times] == pytest.approx([n / 30 for n in range(150)], abs=1e-12)


@pytest.mark.parametrize(("tb", "rate"), [(Fraction(1, 90000), Fraction(30)), (Fraction(1, 600), Fraction(240)),
                                          (Fraction(1, 100), Fraction(60))])
def test_times_further_than_a_quarter_frame_stay(tb: Fraction, rate: Fraction) -> None:
    """A variable rate's frame 0.4 of a frame past a slot is where it is."""
    snap = snapper(tb, rate)
    off_grid = float(3 / rate + Fraction(2, 5) / rate)
    assert [snap(float(1 / rate)), snap(off_grid)] == [pytest.approx(float(1 / rate)), off_grid]


def test_ticks_over_a_frame_are_left_alone() -> None:
    snap = snapper(Fraction(1, 10), Fraction(30))  # a tick is three frames: no grid point is meant
    assert [snap(t) for t in (0.0, 0.1, 0.2, 0.31)] == [0.0, 0.1, 0.2, 0.31]


def test_variable_rate_frames_never_merge() -> None:
    """Two frames within reach of the same grid point: only the first goes there."""
    snap = snapper(Fraction(1, 1000), Fraction(30))
    assert snap(0.0) == 0.0
    first, second = snap(0.033), snap(0.034)
    assert first == pytest.approx(1 / 30) and second == 0.034 and first < second


def test_times_never_go_backwards() -> None:
    """A frame snapped forward (0.026 -> 1/30) overtook the next, unsnapped one (0.031)."""
    snap = snapper(Fraction(1, 90000), Fraction(30))
    got = [snap(t) for t in (0.0, 0.026, 0.031, 0.07)]
    assert got == sorted(got) and got == pytest.approx([0.0, 1 / 30, 1 / 30, 2 / 30], abs=1e-12)


def test_the_grid_is_the_base_rate_when_the_average_is_near_it() -> None:
    """59.94 fps averages to 19001/317 over a short file; an hour in, that grid is 0.2 ms off."""
    snap = snapper(Fraction(1, 1000), Fraction(19001, 317), base=Fraction(60000, 1001))
    hour = 3600 * 60000 // 1001  # a frame about an hour in
    assert snap(round(hour * 1001 / 60000, 3)) == pytest.approx(hour * 1001 / 60000, abs=1e-9)


def test_an_explicit_rate_is_the_grid() -> None:
    """The decoders pass the file's rate (probe.video_rate), not FFmpeg's guesses."""
    snap = GridSnapper(stream(Fraction(28), Fraction(60), Fraction(1, 600)), Fraction(30))
    assert [snap(t) for t in (0.0, 0.035, 0.065)] == pytest.approx([0.0, 1 / 30, 2 / 30], abs=1e-12)


# --------------------------------------------------------------------------- typical_period
def test_the_period_of_gaps_of_two_and_three_ticks_is_their_mean() -> None:
    times = [int(2.5 * n + 0.5) / 600 for n in range(300)]  # 240 fps on 1/600 s, rounded as FFmpeg does
    assert typical_period(times) == pytest.approx(1 / 240, rel=2e-3)


def test_missing_frames_and_a_still_do_not_count() -> None:
    times = [n / 30 for n in range(90) if n % 10 != 3] + [149 / 30]  # gaps, then a 2 s still
    assert typical_period(times) == pytest.approx(1 / 30, rel=1e-9)


def test_jitter_with_missing_frames_is_trimmed_evenly() -> None:
    """30 fps ±8 ms (a quarter frame) with one frame in ten missing, 40 clips: trimmed around
    the median, the estimate leaned slow (1.35 % on average, 4 % at worst: 30 fps read as 29.3
    and the rate fell back to FFmpeg's field rate, 60). Trimmed around itself: unbiased, and
    within 2 % (the standard-rate match) on every clip (1.8 % at worst)."""
    errors = []
    for seed in range(40):
        rnd = random.Random(seed)
        times = [0.0] + [n / 30 + rnd.uniform(-1 / 120, 1 / 120) for n in range(1, 150) if rnd.random() > 0.1]
        errors.append(1 / typical_period(times[:120]) / 30 - 1)
    assert abs(sum(errors) / len(errors)) < 0.003 and max(map(abs, errors)) < 0.02


def test_a_burst_at_twice_the_spacing_stays_out() -> None:
    """60 fps keeping every other frame but for a burst: the spacing is 2/60 (slower than the
    average, so FFmpeg's guesses decide: 60). Trimmed at half a period, the burst's 1/60 gaps
    came back in: 33.8 fps, the average, and 14 frames of the burst dropped."""
    times = [i / 60 for i in range(240) if i % 2 == 0 or 100 <= i < 130][:120]
    period = typical_period(times)
    assert period == pytest.approx(2 / 60)
    assert nominal_rate(stream(Fraction(8100, 239), Fraction(60)), period) == 60


def test_decode_order_and_repeated_times_do_not_matter() -> None:
    times = [0, 3, 1, 2, 6, 4, 5, 5, 9, 7, 8]  # B-frames: decode order
    assert typical_period([t / 25 for t in times]) == pytest.approx(1 / 25)


def test_too_few_frames_say_nothing() -> None:
    assert typical_period([0.0, 0.04, 0.08, 0.12]) is None  # three gaps
    assert typical_period([]) is None


# --------------------------------------------------------------------------- nominal_rate
@pytest.mark.parametrize(("average", "base", "rate"), [
    (Fraction(1000, 33), Fraction(30), Fraction(30)),  # a browser's 30 fps WebM
    (Fraction(125, 2), Fraction(60000, 1001), Fraction(60000, 1001)),  # its 59.94, 4.3 % off
    (Fraction(30005, 1001), Fraction(30000, 1001), Fraction(30000, 1001)),  # 29.97 at timescale 600
    (Fraction(19001, 317), Fraction(19001, 317), Fraction(19001, 317)),  # nothing better known
    (Fraction(25), Fraction(50), Fraction(25)),  # interlaced: the base is the field rate
    (Fraction(2697, 100), Fraction(30), Fraction(30)),  # variable rate, 10 % under its base (gaps)
    (Fraction(91, 5), Fraction(30), Fraction(30)),  # 3 s at 30 fps ending on a 2 s still
    (Fraction(24000, 1001), Fraction(60000, 1001), Fraction(24000, 1001)),  # film in 59.94 fields
    (Fraction(27), Fraction(120), Fraction(27)),  # a base over 60 fps and twice the average: not the rate
    (Fraction(70), Fraction(120), Fraction(120)),  # 120 fps slow motion with gaps
    (Fraction(33), Fraction(30), Fraction(33)),  # 10 % above its base: the average
    (Fraction(311, 10), Fraction(90000), Fraction(311, 10)),  # a phone's 1/90000 base
    (Fraction(40000, 167), Fraction(480), Fraction(240)),  # 240 fps on 1/600 s: H.264's field rate as base
    (Fraction(4000, 127), Fraction(440, 7), Fraction(220, 7)),  # the same for any rate
    (Fraction(2999, 100), Fraction(90000), Fraction(30)),  # a standard rate 0.03 % from the average
    (Fraction(2398, 100), Fraction(90000), Fraction(24000, 1001)),  # the nearest of two standard rates
])
def test_nominal_rate_from_ffmpegs_guesses(average: Fraction, base: Fraction, rate: Fraction) -> None:
    """Without the frames' spacing (fewer than five frames): FFmpeg's guesses alone."""
    assert nominal_rate(stream(average, base)) == rate


@pytest.mark.parametrize(("average", "base", "period", "rate"), [
    # A 30 fps clip ending on a still whose average lands on a standard rate (25, 15): the
    # guesses alone give 25 or 15, and frames were dropped.
    (Fraction(25), Fraction(30), 1 / 30, Fraction(30)),
    (Fraction(15), Fraction(30), 1 / 30, Fraction(30)),
    (Fraction(121, 4), Fraction(60), 1 / 60, Fraction(60)),  # 60 fps, a still: averages 30.25
    (Fraction(121, 2), Fraction(120), 1 / 120, Fraction(120)),  # 120 fps, a still: averages 60.5
    # x264's 30 fps with jittered times and missing frames: FFmpeg's base is the field rate.
    (Fraction(142, 5), Fraction(60), 0.03331, Fraction(30)),
    (Fraction(25), Fraction(50), 1 / 25, Fraction(25)),  # interlaced
    (Fraction(24000, 1001), Fraction(60000, 1001), 1001 / 24000, Fraction(24000, 1001)),  # film in fields
    (Fraction(40000, 167), Fraction(480), 2.5 / 600, Fraction(240)),
    (Fraction(1000, 33), Fraction(1000, 33), 0.033334, Fraction(30)),  # a browser's WebM, ms times
    (Fraction(2997, 100), Fraction(90000), 1001 / 30000, Fraction(30000, 1001)),
    (Fraction(157, 5), Fraction(314, 5), 5 / 157, Fraction(157, 5)),  # 31.4 fps: half the base
    (Fraction(311, 10), Fraction(90000), 1 / 12.2, Fraction(311, 10)),  # spacing near nothing: the guesses
])
def test_nominal_rate_from_the_frames_spacing(average: Fraction, base: Fraction, period: float, rate: Fraction) -> None:
    assert nominal_rate(stream(average, base), period) == rate


def test_the_rate_cache_sees_a_replaced_file(tmp_path: Path) -> None:
    """``probe.video_rate`` is cached per file version: a file replaced by one of the same size
    and modification time (``cp -p``, ``rsync -t``) is read again."""
    first = make_sample_video(tmp_path / "a.mp4", fps=30, seconds=1.0, audio=False)
    second = make_sample_video(tmp_path / "b.mp4", fps=24, seconds=1.0, audio=False)
    size = max(first.stat().st_size, second.stat().st_size)
    for f in (first, second):  # the same size: trailing bytes after the last box
        f.write_bytes(f.read_bytes().ljust(size, b"\0"))
    path = tmp_path / "clip.mp4"
    path.write_bytes(first.read_bytes())
    stamp = path.stat().st_mtime_ns
    assert video_rate(path) == 30
    path.write_bytes(second.read_bytes())
    os.utime(path, ns=(stamp, stamp))
    assert video_rate(path) == 24
