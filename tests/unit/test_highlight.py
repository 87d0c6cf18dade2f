"""The overlay highlight: contract rules (resolve_highlight, fade_factor) and the drawing op.

The op is checked against a slow per-pixel pure-Python implementation written from the
formulas in the contract and the module docstring (float64, no numpy), on small planes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from reelgpu.frames import Planes
from reelgpu.ops.color import hex_to_yuv
from reelgpu.ops.highlight import (
    HighlightDraw,
    draw_highlight,
    draw_highlight_dense,
    ellipse_distance,
    fade_factor,
    resolve_highlight,
)
from reelgpu.specs import OverlaySettings

W, H = 64, 48


# --------------------------------------------------------------------------- reference
def _ref_root(r0: float, z0: float, z1: float, g: float) -> float:
    # Bisection for the root of F(s) = (r0 z0/(s + r0))^2 + (z1/(s + 1))^2 - 1 (Eberly 2013).
    n0 = r0 * z0
    s0, s1 = z1 - 1.0, (0.0 if g < 0 else math.hypot(n0, z1) - 1.0)
    s = 0.0
    for _ in range(200):
        s = (s0 + s1) / 2.0
        if s in (s0, s1):
            break
        g = (n0 / (s + r0)) ** 2 + (z1 / (s + 1.0)) ** 2 - 1.0
        if g > 0:
            s0 = s
        elif g < 0:
            s1 = s
        else:
            break
    return s


def _ref_distance(dx: float, dy: float, rx: float, ry: float) -> float:
    """Exact signed distance to the ellipse: D. Eberly, "Distance from a point to an ellipse,
    an ellipsoid, or a hyperellipsoid" (2013), robust bisection variant."""
    y0, y1, e0, e1 = abs(dx), abs(dy), rx, ry
    if e0 < e1:  # the method wants e0 >= e1
        y0, y1, e0, e1 = y1, y0, e1, e0
    if y1 > 0:
        if y0 > 0:
            z0, z1 = y0 / e0, y1 / e1
            g = z0 * z0 + z1 * z1 - 1.0
            if g == 0:
                return 0.0
            r0 = (e0 / e1) ** 2
            sbar = _ref_root(r0, z0, z1, g)
            x0, x1 = r0 * y0 / (sbar + r0), y1 / (sbar + 1.0)
            dist = math.hypot(x0 - y0, x1 - y1)
        else:
            dist = abs(y1 - e1)
    else:
        numer0, denom0 = e0 * y0, e0 * e0 - e1 * e1
        if numer0 < denom0:
            xde0 = numer0 / denom0
            dist = math.hypot(e0 * xde0 - y0, e1 * math.sqrt(1.0 - xde0 * xde0))
        else:
            dist = abs(y0 - e0)
    inside = (dx / rx) ** 2 + (dy / ry) ** 2 < 1.0
    return -dist if inside else dist


def _ref_in_arc(dx: float, dy: float, rx: float, ry: float) -> float:
    # Parametric angle like OpenCV's ellipse (y down); the ground arc spans -30..210 degrees.
    # Signed distance into the excluded top wedge, bounded by the rays at -30 and 210 degrees.
    ax, ay = rx * math.cos(math.radians(-30)), ry * math.sin(math.radians(-30))
    n = math.hypot(ax, ay)
    # normals pointing into the wedge for the right and the left ray
    e_right = -(ax * dy - ay * dx) / n
    e_left = -(ax * dy + ay * dx) / n
    e = min(e_right, e_left)
    return min(1.0, max(0.0, 0.5 - e))


def _ref_draw(planes: Planes, d: HighlightDraw) -> list[np.ndarray]:
    out = []
    rx, ry = max(d.rx, 0.5), max(d.ry, 0.5)
    for idx, plane in enumerate(planes):
        sub = 1 if idx == 0 else 2
        neutral = 16.0 if idx == 0 else 128.0
        res = plane.copy()
        for i in range(plane.shape[0]):
            for j in range(plane.shape[1]):
                px, py = j * sub + sub / 2.0, i * sub + sub / 2.0
                dx, dy = px - d.cx, py - d.cy
                dist = _ref_distance(dx, dy, rx, ry)
                cin = min(1.0, max(0.0, 0.5 - dist))
                arc = _ref_in_arc(dx, dy, rx, ry) if d.arc == "ground" else 1.0
                v = float(plane[i, j])
                if d.effect == "dark_overlay" and d.dim > 0:
                    v = neutral + (v - neutral) * (1.0 - d.dim * (1.0 - cin))
                if d.fill_yuv is not None and d.fill_opacity > 0:
                    a = d.fill_opacity * cin
                    v = v * (1 - a) + d.fill_yuv[idx] * a
                if d.outline_yuv is not None and d.outline_opacity > 0:
                    a = d.outline_opacity * arc * min(1.0, max(0.0, d.outline_width / 2 + 0.5 - abs(dist)))
                    v = v * (1 - a) + d.outline_yuv[idx] * a
                if d.stroke_yuv is not None and d.stroke_opacity > 0:
                    a = d.stroke_opacity * arc * min(1.0, max(0.0, d.stroke_width / 2 + 0.5 - abs(dist)))
                    v = v * (1 - a) + d.stroke_yuv[idx] * a
                res[i, j] = min(255, max(0, math.floor(v + 0.5)))
        out.append(res)
    return out


def _frame(seed: int = 0, w: int = W, h: int = H) -> Planes:
    rng = np.random.default_rng(seed)
    return Planes(
        rng.integers(0, 256, (h, w), dtype=np.uint8),
        rng.integers(0, 256, (h // 2, w // 2), dtype=np.uint8),
        rng.integers(0, 256, (h // 2, w // 2), dtype=np.uint8),
    )


def _flat(y: int = 120, u: int = 100, v: int = 150, w: int = W, h: int = H) -> Planes:
    return Planes(np.full((h, w), y, np.uint8), np.full((h // 2, w // 2), u, np.uint8),
                  np.full((h // 2, w // 2), v, np.uint8))


def _copy(p: Planes) -> Planes:
    return Planes(p.y.copy(), p.u.copy(), p.v.copy())


def _settings(**kw: object) -> OverlaySettings:
    return OverlaySettings(**kw)


def _resolved(shape: str = "body", effect: str = "dark_overlay", color: str | None = "#FFD700",
              fade: float = 1.0, **kw: object) -> HighlightDraw:
    settings = _settings(highlight_shape=shape, fill_enabled=True, stroke_width=3.0, dim_strength=0.4)
    args = dict(x=30.3, y=21.7, radius_x=13.0, radius_y=17.0, stroke_opacity=0.85, fill_opacity=None,
                color=color, settings=settings, effect_type=effect, frame_height=1080, fade=fade)
    args.update(kw)
    return resolve_highlight(**args)


def _assert_matches_reference(planes: Planes, d: HighlightDraw) -> None:
    expected = _ref_draw(planes, d)
    got = _copy(planes)
    draw_highlight(got, d)
    for name, g, e in zip("yuv", got, expected):
        diff = np.abs(g.astype(int) - e.astype(int))
        # float32 (op) vs float64 (reference) can round a .5 tie differently: 1 level, rarely.
        assert diff.max() <= 1, f"plane {name}: max diff {diff.max()}"
        assert (diff == 0).mean() >= 0.99, f"plane {name}: only {(diff == 0).mean():.3f} exact"


# --------------------------------------------------------------------------- fade
@pytest.mark.parametrize(
    ("t", "start", "end", "expected"),
    [
        (0.0, 0.0, 2.0, 1.0),
        (1.75, 0.0, 2.0, 1.0),
        (1.875, 0.0, 2.0, 0.25),
        (2.0, 0.0, 2.0, 0.0),
        (0.1, 0.0, 0.2, 1.0),  # short region: exit = min(0.25, 0.2/2) = 0.1
        (0.15, 0.0, 0.2, 0.25),
        (0.2, 0.0, 0.2, 0.0),
        (5.0, 5.0, 5.0, 1.0),  # zero-length region: no fade window
    ],
)
def test_fade_factor(t: float, start: float, end: float, expected: float) -> None:
    assert fade_factor(t, start, end) == pytest.approx(expected)


def test_fade_is_quadratic_ease_in() -> None:
    assert fade_factor(1.8, 0.0, 2.0) == pytest.approx(0.8**2)


# --------------------------------------------------------------------------- resolve
def test_ground_geometry() -> None:
    d = resolve_highlight(x=100, y=200, radius_x=26, radius_y=52, stroke_opacity=None, fill_opacity=None,
                          color="#FFFFFF", settings=_settings(highlight_shape="ground"),
                          effect_type="dark_overlay", frame_height=1080)
    assert d.cx == 100
    assert d.cy == pytest.approx(200 + 52 / 1.3)
    assert d.rx == pytest.approx(26 * 2 / 1.3)
    assert d.ry == pytest.approx(52 * 0.3)
    assert d.arc == "ground"
    assert d.fill_opacity == pytest.approx(0.15)  # ground fills by default, at 0.15


def test_body_geometry_and_defaults() -> None:
    d = resolve_highlight(x=100, y=200, radius_x=26, radius_y=52, stroke_opacity=None, fill_opacity=0.3,
                          color="#FFFFFF", settings=_settings(), effect_type="dark_overlay", frame_height=1080)
    assert (d.cx, d.cy, d.rx, d.ry, d.arc) == (100, 200, 26, 52, "full")
    assert d.fill_opacity == 0.0  # fill off unless enabled (body)
    assert d.stroke_opacity == pytest.approx(0.85)
    assert d.dim == pytest.approx(0.15)
    assert d.outline_opacity == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("kf_fill", "settings_fill", "shape", "expected"),
    [(None, None, "body", 0.05), (None, None, "ground", 0.15), (None, 0.4, "body", 0.4), (0.7, 0.4, "body", 0.7)],
)
def test_fill_opacity_precedence(kf_fill: float | None, settings_fill: float | None, shape: str,
                                 expected: float) -> None:
    d = resolve_highlight(x=0, y=0, radius_x=5, radius_y=5, stroke_opacity=0.5, fill_opacity=kf_fill,
                          color="#FF0000", settings=_settings(highlight_shape=shape, fill_enabled=True,
                                                              fill_opacity=settings_fill),
                          effect_type="dark_overlay", frame_height=1080)
    assert d.fill_opacity == pytest.approx(expected)


@pytest.mark.parametrize(("stroke_width", "height", "expected"), [(2, 1080, 2), (2, 1920, 4), (3, 1080, 3),
                                                                    (2, 360, 2), (10, 720, 7)])
def test_stroke_width_scales_with_height(stroke_width: float, height: int, expected: int) -> None:
    d = resolve_highlight(x=0, y=0, radius_x=5, radius_y=5, stroke_opacity=1, fill_opacity=None,
                          color="#FF0000", settings=_settings(stroke_width=stroke_width),
                          effect_type="dark_overlay", frame_height=height)
    assert d.stroke_width == expected
    assert d.outline_width == expected + 2


def test_fade_multiplies_every_opacity() -> None:
    full, faded = _resolved(fade=1.0), _resolved(fade=0.25)
    for name in ("dim", "fill_opacity", "stroke_opacity", "outline_opacity"):
        assert getattr(faded, name) == pytest.approx(getattr(full, name) * 0.25), name
    assert (faded.cx, faded.rx, faded.stroke_width) == (full.cx, full.rx, full.stroke_width)


def test_colours_and_none() -> None:
    d = _resolved(color="#FF8000")
    assert d.stroke_yuv == hex_to_yuv("#FF8000") == d.fill_yuv
    # The outline is the colour x 0.3 = RGB (76.5, 38.4, 0), converted with BT.709 limited range.
    r, g, b = 76.5 / 255, 38.4 / 255, 0.0
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    expected = (16 + 219 * y, 128 + 224 * (b - y) / 1.8556, 128 + 224 * (r - y) / 1.5748)
    assert d.outline_yuv == tuple(math.floor(c + 0.5) for c in expected)
    for none in (None, "none"):
        n = _resolved(color=none)
        assert n.stroke_yuv is None and n.fill_yuv is None and n.outline_yuv is None
        assert n.stroke_opacity == n.fill_opacity == n.outline_opacity == 0.0
        assert n.dim == pytest.approx(0.4)


# --------------------------------------------------------------------------- drawing vs reference
@pytest.mark.parametrize("shape", ["body", "ground"])
@pytest.mark.parametrize("effect", ["dark_overlay", "brightness_boost", "original"])
@pytest.mark.parametrize("color", ["#FFD700", None])
def test_draw_matches_reference(shape: str, effect: str, color: str | None) -> None:
    _assert_matches_reference(_frame(1), _resolved(shape=shape, effect=effect, color=color))


def test_draw_matches_reference_faded_partly_offframe() -> None:
    d = _resolved(fade=0.3, x=58.0, y=-3.0, radius_x=20.0, radius_y=9.0)
    _assert_matches_reference(_frame(2), d)


def test_draw_matches_reference_centre_on_pixel_centre() -> None:
    # (31.5, 23.5) is a luma pixel centre: the distance is 0/0 there and must read "inside".
    d = _resolved(x=31.5, y=23.5, radius_x=6.0, radius_y=6.0)
    _assert_matches_reference(_frame(3), d)
    p = _flat()
    draw_highlight(p, HighlightDraw(cx=31.5, cy=23.5, rx=6, ry=6, stroke_yuv=(235, 128, 128),
                                    stroke_opacity=1.0, stroke_width=2, outline_opacity=0))
    assert p.y[23, 31] == 120


def test_fast_path_is_bit_identical_to_dense() -> None:
    """The tables and per-row spans must not change a single value vs the plain definition."""
    rng = np.random.default_rng(7)
    base = _frame(4, w=160, h=120)
    for _ in range(40):
        fill = (int(rng.integers(16, 236)), int(rng.integers(16, 241)), int(rng.integers(16, 241)))
        d = HighlightDraw(
            cx=float(rng.uniform(-20, 180)), cy=float(rng.uniform(-20, 140)),
            rx=float(rng.choice([0.2, 3.0, rng.uniform(1, 90)])), ry=float(rng.uniform(0.2, 70)),
            arc=str(rng.choice(["full", "ground"])), effect=str(rng.choice(["dark_overlay", "original"])),
            dim=float(rng.uniform(0, 1)), fill_opacity=float(rng.choice([0.0, rng.uniform(0, 1)])),
            fill_yuv=fill, stroke_opacity=float(rng.uniform(0, 1)), stroke_width=float(rng.integers(2, 12)),
            outline_width=float(rng.integers(4, 14)), outline_opacity=float(rng.uniform(0, 1)),
            stroke_yuv=fill, outline_yuv=(40, 120, 130),
        )
        fast, dense = _copy(base), _copy(base)
        draw_highlight(fast, d)
        draw_highlight_dense(dense, d)
        for a, b in zip(fast, dense):
            np.testing.assert_array_equal(a, b, err_msg=repr(d))


@pytest.mark.parametrize(("rx", "ry"), [(13, 17), (20, 5.1), (30, 12), (200, 30), (3, 35), (0.5, 70), (9, 9)])
def test_distance_matches_exact_solver(rx: float, ry: float) -> None:
    """The op's 3-iteration closest point vs an exact bisection solver, near the boundary
    (where coverages are fractional) and everywhere (where only the sign matters)."""
    ys, xs = np.meshgrid(np.linspace(-ry - 8, ry + 8, 71), np.linspace(-rx - 8, rx + 8, 67), indexing="ij")
    got = ellipse_distance(xs.astype(np.float32), ys.astype(np.float32), rx, ry)
    exact = np.vectorize(lambda x, y: _ref_distance(x, y, rx, ry))(xs, ys)
    band = np.abs(exact) < 8
    assert np.abs(got - exact)[band].max() < 0.06
    assert (np.sign(got) == np.sign(exact))[np.abs(exact) > 0.01].all()
    assert ellipse_distance(np.zeros(1, np.float32), np.zeros(1, np.float32), rx, ry)[0] == pytest.approx(
        -min(rx, ry), abs=0.01)


# --------------------------------------------------------------------------- properties
def test_dim_outside_only() -> None:
    p = _flat(120, 100, 150)
    d = HighlightDraw(cx=32, cy=24, rx=10, ry=8, effect="dark_overlay", dim=0.15)
    draw_highlight(p, d)
    assert p.y[24, 32] == 120 and p.u[12, 16] == 100 and p.v[12, 16] == 150  # centre untouched
    # Outside: (Y-16) and (C-128) scaled by 0.85, i.e. RGB x 0.85.
    assert p.y[0, 0] == math.floor(16 + 104 * 0.85 + 0.5)
    assert p.u[0, 0] == math.floor(128 - 28 * 0.85 + 0.5)
    assert p.v[0, 0] == math.floor(128 + 22 * 0.85 + 0.5)
    assert p.y[47, 63] == p.y[0, 0]  # the whole frame, not just the box around the ellipse


@pytest.mark.parametrize("effect", ["brightness_boost", "original"])
def test_other_effects_do_not_dim(effect: str) -> None:
    p = _flat()
    draw_highlight(p, HighlightDraw(cx=32, cy=24, rx=10, ry=8, effect=effect, dim=0.5))
    assert (p.y == 120).all() and (p.u == 100).all() and (p.v == 150).all()


def test_edges_are_antialiased() -> None:
    p = _flat(16, 128, 128)
    d = HighlightDraw(cx=32.2, cy=24.3, rx=15.3, ry=11.1, effect="original", stroke_yuv=(235, 128, 128),
                      stroke_opacity=1.0, stroke_width=2, outline_opacity=0.0)
    draw_highlight(p, d)
    values = set(np.unique(p.y).tolist())
    assert 235 in values and 16 in values
    assert any(16 < v < 235 for v in values), "no intermediate values: hard edges"
    # the dim edge is soft too
    q = _flat(200, 128, 128)
    draw_highlight(q, HighlightDraw(cx=32.2, cy=24.3, rx=15.3, ry=11.1, dim=0.5))
    dimmed, inside = math.floor(16 + 184 * 0.5 + 0.5), 200
    assert any(dimmed < v < inside for v in np.unique(q.y).tolist())


def test_ground_arc_is_bottom_only() -> None:
    p = _flat(16, 128, 128)
    d = HighlightDraw(cx=32, cy=24, rx=20, ry=12, arc="ground", effect="original",
                      stroke_yuv=(235, 128, 128), stroke_opacity=1.0, stroke_width=2, outline_opacity=0.0)
    draw_highlight(p, d)
    assert p.y[24 + 12, 32] >= 230  # bottom of the ellipse (the stroke, nearly full coverage)
    assert p.y[24 - 12, 32] == 16  # top: not drawn
    assert p.y[24, 32 + 20] > 16 and p.y[24, 32 - 20] > 16  # sides (0 and 180 degrees) drawn
    full = _flat(16, 128, 128)
    draw_highlight(full, HighlightDraw(cx=32, cy=24, rx=20, ry=12, effect="original", stroke_yuv=(235, 128, 128),
                                       stroke_opacity=1.0, stroke_width=2, outline_opacity=0.0))
    assert full.y[24 - 12, 32] >= 230


def test_outline_is_darker_and_wider_than_stroke() -> None:
    p = _flat(128, 128, 128)
    d = _resolved(effect="original", x=32, y=24, radius_x=14, radius_y=14, fill_opacity=0.0)
    draw_highlight(p, d)
    # Just outside the stroke (width 3) but within the outline (width 5): darkened.
    assert p.y[24, 32 + 14 + 2] < 128
    assert p.y[24, 32 + 14] > 128  # on the ellipse: the (yellow, bright) stroke


def test_nothing_to_draw_is_a_noop() -> None:
    p = _frame(5)
    before = _copy(p)
    draw_highlight(p, HighlightDraw(cx=10, cy=10, rx=5, ry=5, effect="original"))
    for a, b in zip(p, before):
        np.testing.assert_array_equal(a, b)


def test_ellipse_off_frame_still_dims_frame() -> None:
    p = _flat()
    draw_highlight(p, HighlightDraw(cx=-500, cy=-500, rx=10, ry=10, dim=0.15, stroke_yuv=(235, 128, 128)))
    assert (p.y == math.floor(16 + 104 * 0.85 + 0.5)).all()
