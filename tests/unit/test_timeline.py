"""Keyframe interpolation, trims/speed pieces and the output-frame schedule."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reelgpu.timeline import (
    Piece,
    Track,
    clamp_box,
    clip_time_at,
    default_crop,
    frame_count,
    output_duration,
    output_size,
    schedule,
    speed_pieces,
)


def track(*keys: tuple[float, float]) -> Track:
    return Track.build([(t, (v,)) for t, v in keys])


def test_exact_values_at_keyframes() -> None:
    tr = track((0, 10), (1, 50), (3, 20), (4, 80))
    for t, v in [(0, 10), (1, 50), (3, 20), (4, 80)]:
        assert tr.at(t)[0] == pytest.approx(v)
        assert tr.at(t, "linear")[0] == pytest.approx(v)


def test_holds_before_first_and_after_last() -> None:
    tr = track((1, 10), (2, 30))
    assert tr.at(0.0) == (10.0,)
    assert tr.at(-5) == (10.0,)
    assert tr.at(2.5) == (30.0,)
    assert tr.at(100) == (30.0,)


def test_single_keyframe_is_held_everywhere() -> None:
    tr = track((2, 7))
    assert tr.at(0) == tr.at(2) == tr.at(9) == (7.0,)


def test_catmull_rom_differs_from_linear_at_u_021() -> None:
    # Two keyframes, clamped neighbours: a + (b-a)(0.5u + 1.5u^2 - u^3), not linear.
    tr = track((0, 0), (1, 100))
    u = 0.21
    expected = 100 * (0.5 * u + 1.5 * u**2 - u**3)
    assert tr.at(u)[0] == pytest.approx(expected)
    assert tr.at(u, "linear")[0] == pytest.approx(21.0)
    assert abs(tr.at(u)[0] - 21.0) > 4.0  # about 4.8 % of the delta
    assert tr.at(0.5)[0] == pytest.approx(50.0)  # equal at the midpoint


def test_catmull_rom_uses_neighbours() -> None:
    tr = track((0, 0), (1, 10), (2, 40), (3, 90))
    p0, p1, p2, p3 = 0, 10, 40, 90
    u = 0.3
    cr = 0.5 * (2 * p1 + (-p0 + p2) * u + (2 * p0 - 5 * p1 + 4 * p2 - p3) * u**2 + (-p0 + 3 * p1 - 3 * p2 + p3) * u**3)
    assert tr.at(1.3)[0] == pytest.approx(cr)


def test_duplicate_keyframe_times_later_wins() -> None:
    tr = Track.build([(1.0, (5.0,)), (1.0, (9.0,))])
    assert tr.at(1.0) == (9.0,)


def test_clamp_box_shifts_then_shrinks() -> None:
    assert clamp_box((300, -5, 100, 50), 320, 180) == (220, 0, 100, 50)
    assert clamp_box((10, 10, 500, 50), 320, 180) == (0, 10, 320, 50)


def test_default_crop_is_largest_centred_box_of_aspect() -> None:
    x, y, w, h = default_crop(1920, 1080, Fraction(9, 16))
    assert (w, h) == (pytest.approx(607.5), 1080)
    assert x == pytest.approx((1920 - 607.5) / 2) and y == 0


def test_output_size_rule_matches_editor() -> None:
    # CONTRACT: 205x365 at 9:16, x4 -> 820x1457.8 -> capped into 2560x1440 -> 810x1440.
    assert output_size(205, 365, Fraction(9, 16), 4) == (810, 1440)
    assert output_size(640, 360, Fraction(16, 9), 4) == (2560, 1440)



@pytest.mark.parametrize(("w", "h", "aspect", "upscale", "expected"), [
    (5e-324, 64, Fraction(9, 16), 0.001, (2, 2)),  # was ZeroDivisionError (KNOWN_BUG_CROP_COLLAPSE)
    (0.25, 0.5, Fraction(9, 16), 4, (2, 4)),  # sub-pixel sizes count as 1 px: 4x4, conformed to 2.25x4
    (1, 1, Fraction(1, 999999), 5e-324, (2, 2)),  # underflow to 0 after conforming to the ratio
    (1, 1, Fraction(999999, 1), 5e-324, (2, 2)),
    (1e6, 1, Fraction(999999, 1), 16, (2560, 2)),
    (1, 1e6, Fraction(1, 999999), 16, (2, 1440)),
])
def test_output_size_never_divides_by_zero(w: float, h: float, aspect: Fraction, upscale: float,
                                           expected: tuple[int, int]) -> None:
    assert output_size(w, h, aspect, upscale) == expected


def test_clamp_box_keeps_at_least_one_pixel() -> None:
    assert clamp_box((10.0, 10.0, 5e-324, -3.0), 96, 64) == (10.0, 10.0, 1.0, 1.0)

def test_speed_pieces_trim_and_slow_motion() -> None:
    pieces = speed_pieces(0.5, 2.5, [(1.0, 2.0, 0.5)])
    assert pieces == [Piece(0.5, 1.0, 1.0), Piece(1.0, 2.0, 0.5), Piece(2.0, 2.5, 1.0)]
    assert output_duration(pieces) == pytest.approx(0.5 + 2.0 + 0.5)
    assert clip_time_at(pieces, 0.0) == pytest.approx(0.5)
    assert clip_time_at(pieces, 1.5) == pytest.approx(1.5)  # 1 s into the 0.5x piece = 0.5 clip s
    assert clip_time_at(pieces, 2.75) == pytest.approx(2.25)


def test_segments_outside_trim_are_dropped() -> None:
    assert speed_pieces(1.0, 2.0, [(0.0, 0.5, 0.5), (3, 4, 0.5)]) == [Piece(1.0, 2.0, 1.0)]


segments_st = st.lists(
    st.tuples(st.floats(0, 10), st.floats(0.05, 3), st.sampled_from([0.5, 1.0, 2.0, 0.25, 4.0])), max_size=4
)


@settings(max_examples=150, deadline=None)
@given(trim=st.tuples(st.floats(0, 5), st.floats(0.1, 8)), segs=segments_st,
       fps=st.sampled_from([Fraction(25), Fraction(30), Fraction(30000, 1001), Fraction(50), Fraction(60)]))
def test_schedule_is_monotonic_and_duration_is_sum_of_length_over_speed(trim, segs, fps) -> None:
    start, length = trim
    end = start + length
    # Non-overlapping segments built from (start, length, speed) triples.
    cursor, segments = 0.0, []
    for s0, ln, sp in segs:
        s0 = cursor + s0
        segments.append((s0, s0 + ln, sp))
        cursor = s0 + ln
    pieces = speed_pieces(start, end, segments)
    expected = sum((min(e, end) - max(s, start)) / sp for s, e, sp in segments if min(e, end) > max(s, start))
    expected += (end - start) - sum(min(e, end) - max(s, start) for s, e, _ in segments if min(e, end) > max(s, start))
    assert output_duration(pieces) == pytest.approx(expected, rel=1e-6, abs=1e-6)
    frames = schedule([pieces], fps)
    assert len(frames) == frame_count(expected, fps)
    times = [f.picks[0].clip_t for f in frames]
    assert all(b >= a - 1e-9 for a, b in zip(times, times[1:]))
    assert all(start - 1e-9 <= t <= end + 1e-9 for t in times)


@pytest.mark.parametrize("fps", [24, 25, 30, 50, 60])
@pytest.mark.parametrize("tenths", range(1, 31))
def test_frame_count_rounds_halves_up(fps: int, tenths: int) -> None:
    """The nearest whole frame count, halves up: a cut [0, 0.5) at 25 fps keeps the 13 frames
    that start in it, as [0, 0.7) keeps 18 (Python's round() went to the even neighbour: 12 and
    18). Compared with exact fractions, so the float duration's noise must not matter."""
    exact = Fraction(tenths, 10) * fps
    assert frame_count(tenths / 10, Fraction(fps)) == math.floor(exact + Fraction(1, 2))


@pytest.mark.parametrize("src_fps", [25, 30, 50, 60])
def test_real_time_speed_at_any_output_fps(src_fps: int) -> None:
    # A 2 s clip at output 30 fps: frame n shows clip time n/30 whatever the source rate.
    frames = schedule([[Piece(0, 2, 1.0)]], Fraction(30))
    assert len(frames) == 60
    assert frames[45].picks[0].clip_t == pytest.approx(1.5)


def test_slow_motion_repeats_each_time_twice() -> None:
    frames = schedule([[Piece(0, 1, 0.5)]], Fraction(30))
    assert len(frames) == 60
    assert frames[31].picks[0].clip_t == pytest.approx(31 / 60)


def test_dissolve_overlaps_and_fade_dips() -> None:
    clips = [[Piece(0, 1, 1.0)], [Piece(0, 1, 1.0)]]
    dis = schedule(clips, Fraction(10), "dissolve", 0.4)
    assert len(dis) == 16  # 1 + 1 - 0.4 s
    both = [f for f in dis if len(f.picks) == 2]
    assert len(both) == 4
    assert [round(f.picks[1].weight, 3) for f in both] == [0.125, 0.375, 0.625, 0.875]
    fade = schedule(clips, Fraction(10), "fade", 0.2)
    assert len(fade) == 20
    assert fade[9].brightness < 0.5 and fade[10].brightness < 0.5 and fade[5].brightness == 1.0
    assert schedule(clips, Fraction(10), "cut")[10].picks[0].clip == 1


def test_schedule_entries_are_slotted() -> None:
    # A 10-minute schedule holds ~18,000 frames for the whole export: instance dicts would add
    # ~1.4 MB to the peak-RSS budget (docs/benchmarks.md).
    frame = schedule([speed_pieces(0.0, 1.0, [])], Fraction(30))[0]
    assert not hasattr(frame, "__dict__") and not hasattr(frame.picks[0], "__dict__")
