"""Colour conversion, RGBA -> premultiplied YUVA sprites, sprite blending, and PNG text layers."""

from __future__ import annotations

import io
import math
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from reelgpu.errors import InvalidSpec
from reelgpu.frames import Planes
from reelgpu.ops.color import hex_to_yuv, rgba_to_yuva
from reelgpu.ops.sprite import YUVASprite, blend_sprite
from reelgpu.render import png_layer
from reelgpu.render.png_layer import load_text_layer

W, H = 64, 48


def _bt709(r: float, g: float, b: float) -> tuple[float, float, float]:
    """BT.709 limited range from the textbook definition (written out again, on purpose)."""
    r, g, b = r / 255, g / 255, b / 255
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return 16 + 219 * y, 128 + 224 * (b - y) / 1.8556, 128 + 224 * (r - y) / 1.5748


def _frame(seed: int = 0) -> Planes:
    rng = np.random.default_rng(seed)
    return Planes(rng.integers(0, 256, (H, W), dtype=np.uint8),
                  rng.integers(0, 256, (H // 2, W // 2), dtype=np.uint8),
                  rng.integers(0, 256, (H // 2, W // 2), dtype=np.uint8))


def _rgba(h: int, w: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 4), dtype=np.uint8)


def _reference_blend(planes: Planes, rgba: np.ndarray, x: int, y: int, opacity: float) -> list[np.ndarray]:
    """float64, straight from the definition: luma per pixel, chroma from the premultiplied
    2x2 average with the 2x2 mean alpha; out = src*(1 - a*op) + premult*op."""
    h, w = rgba.shape[:2]
    a = rgba[:, :, 3] / 255.0
    yuv = np.stack(_bt709(*(rgba[:, :, i].astype(np.float64) for i in range(3))), axis=-1)
    out = [p.astype(np.float64) for p in planes]
    for i in range(h):
        for j in range(w):
            fy, fx = y + i, x + j
            if 0 <= fy < H and 0 <= fx < W:
                out[0][fy, fx] = out[0][fy, fx] * (1 - a[i, j] * opacity) + yuv[i, j, 0] * a[i, j] * opacity
    for i in range(h // 2):
        for j in range(w // 2):
            fy, fx = y // 2 + i, x // 2 + j
            if 0 <= fy < H // 2 and 0 <= fx < W // 2:
                block = (slice(2 * i, 2 * i + 2), slice(2 * j, 2 * j + 2))
                ca = a[block].mean()
                for k in (1, 2):
                    pre = (yuv[block][..., k] * a[block]).mean()
                    out[k][fy, fx] = out[k][fy, fx] * (1 - ca * opacity) + pre * opacity
    return [np.clip(np.floor(o + 0.5), 0, 255).astype(np.uint8) for o in out]


# --------------------------------------------------------------------------- colour
@pytest.mark.parametrize(
    ("color", "expected"),
    [("#FFFFFF", (235, 128, 128)), ("#000000", (16, 128, 128)), ("#FF0000", (63, 102, 240)),
     ("#00FF00", (173, 42, 26)), ("#0000FF", (32, 240, 118))],
)
def test_hex_to_yuv_bt709_limited(color: str, expected: tuple[int, int, int]) -> None:
    assert hex_to_yuv(color) == expected


def test_hex_to_yuv_matches_formula_and_scale() -> None:
    for color in ("#C62828", "#F9A825", "#1565C0", "#abcdef"):
        r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
        assert hex_to_yuv(color) == tuple(math.floor(c + 0.5) for c in _bt709(r, g, b))
        assert hex_to_yuv(color, scale=0.3) == tuple(math.floor(c + 0.5) for c in _bt709(r * .3, g * .3, b * .3))


@pytest.mark.parametrize("bad", ["FFFFFF", "#FFF", "#GGGGGG", "red"])
def test_hex_to_yuv_rejects_bad_colours(bad: str) -> None:
    with pytest.raises(ValueError, match="RRGGBB"):
        hex_to_yuv(bad)


# --------------------------------------------------------------------------- rgba -> yuva
def test_rgba_to_yuva_premultiplied_with_2x2_chroma() -> None:
    rgba = _rgba(6, 8)
    s = rgba_to_yuva(rgba, x=2, y=4, trim=False)
    a = rgba[:, :, 3] / 255.0
    yuv = np.stack(_bt709(*(rgba[:, :, i].astype(np.float64) for i in range(3))), axis=-1)
    assert (s.x, s.y, s.width, s.height) == (2, 4, 8, 6)
    np.testing.assert_allclose(s.alpha, a, atol=1e-6)
    np.testing.assert_allclose(s.y_premult, yuv[..., 0] * a, atol=1e-3)
    pooled_a = a.reshape(3, 2, 4, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(s.alpha_c, pooled_a, atol=1e-6)
    for k, plane in ((1, s.u_premult), (2, s.v_premult)):
        pooled = (yuv[..., k] * a).reshape(3, 2, 4, 2).mean(axis=(1, 3))
        np.testing.assert_allclose(plane, pooled, atol=1e-3)


def test_transparent_neighbour_does_not_tint_chroma() -> None:
    # A red opaque pixel next to three transparent *green* pixels: straight averaging would
    # mix in green; the premultiplied average must give pure red chroma at 1/4 coverage.
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 1] = 255
    rgba[0, 0] = (255, 0, 0, 255)
    s = rgba_to_yuva(rgba, trim=False)
    _, u_red, v_red = _bt709(255, 0, 0)
    assert s.alpha_c[0, 0] == pytest.approx(0.25)
    assert s.u_premult[0, 0] / s.alpha_c[0, 0] == pytest.approx(u_red, abs=1e-3)
    assert s.v_premult[0, 0] / s.alpha_c[0, 0] == pytest.approx(v_red, abs=1e-3)


def test_odd_size_is_padded_and_odd_placement_refused() -> None:
    s = rgba_to_yuva(_rgba(5, 7), trim=False)
    assert (s.height, s.width) == (6, 8)
    assert (s.alpha[5, :] == 0).all() and (s.alpha[:, 7] == 0).all()
    with pytest.raises(ValueError, match="even"):
        rgba_to_yuva(_rgba(4, 4), x=1)


def test_trim_keeps_result_identical() -> None:
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[11:20, 7:30] = (200, 30, 90, 180)
    trimmed = rgba_to_yuva(rgba)
    assert (trimmed.x, trimmed.y) == (6, 10) and trimmed.width < W and trimmed.height < H
    full = rgba_to_yuva(rgba, trim=False)
    a, b = _frame(3), _frame(3)
    blend_sprite(a, trimmed, 0.8)
    blend_sprite(b, full, 0.8)
    for pa, pb in zip(a, b):
        np.testing.assert_array_equal(pa, pb)
    empty = rgba_to_yuva(np.zeros((4, 4, 4), np.uint8))
    assert empty.width == 0
    c = _frame(3)
    blend_sprite(c, empty)
    np.testing.assert_array_equal(c.y, _frame(3).y)


# --------------------------------------------------------------------------- blending
@pytest.mark.parametrize(("x", "y"), [(10, 6), (-6, -4), (52, 40), (-8, 30)])
@pytest.mark.parametrize("opacity", [1.0, 0.37])
def test_blend_matches_float64_reference(x: int, y: int, opacity: float) -> None:
    rgba = _rgba(14, 20, seed=abs(x) + 100 * abs(y))
    planes = _frame(5)
    expected = _reference_blend(planes, rgba, x, y, opacity)
    blend_sprite(planes, rgba_to_yuva(rgba, x=x, y=y, trim=False), opacity)
    for name, got, exp in zip("yuv", planes, expected):
        diff = np.abs(got.astype(int) - exp.astype(int))
        assert diff.max() <= 1, name
        assert (diff == 0).mean() > 0.99, name


def test_blend_touches_only_the_sprite_rectangle() -> None:
    planes, before = _frame(6), _frame(6)
    blend_sprite(planes, rgba_to_yuva(np.full((8, 10, 4), 255, np.uint8), x=20, y=12, trim=False))
    changed = planes.y != before.y
    assert not changed[:12].any() and not changed[20:].any()
    assert not changed[:, :20].any() and not changed[:, 30:].any()
    assert (planes.y[12:20, 20:30] == 235).all()  # opaque white
    assert (planes.u[6:10, 10:15] == 128).all()
    c_changed = planes.u != before.u
    assert not c_changed[:6].any() and not c_changed[:, :10].any() and not c_changed[:, 15:].any()


def test_blend_fully_outside_is_noop_and_opacity_zero_is_noop() -> None:
    sprite = rgba_to_yuva(np.full((8, 8, 4), 255, np.uint8), trim=False)
    for placed in (YUVASprite(sprite.y_premult, sprite.u_premult, sprite.v_premult, sprite.alpha,
                              sprite.alpha_c, W, 0),
                   YUVASprite(sprite.y_premult, sprite.u_premult, sprite.v_premult, sprite.alpha,
                              sprite.alpha_c, -8, -8)):
        planes = _frame(7)
        blend_sprite(planes, placed)
        np.testing.assert_array_equal(planes.y, _frame(7).y)
    planes = _frame(7)
    blend_sprite(planes, sprite, 0.0)
    np.testing.assert_array_equal(planes.y, _frame(7).y)
    with pytest.raises(ValueError, match="opacity"):
        blend_sprite(planes, sprite, 1.5)


# --------------------------------------------------------------------------- PNG text layers
def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _forged_png(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` with a tiny (bogus) IDAT: a PNG bomb's shape."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_text_layer_loads_rgba_at_origin() -> None:
    rgba = _rgba(H, W)
    sprite = load_text_layer(_png(Image.fromarray(rgba, "RGBA")), width=W, height=H, where="params.text_layers[0]")
    assert (sprite.x, sprite.y) == (0, 0)
    np.testing.assert_array_equal(sprite.rgba, rgba)


def test_text_layer_wrong_size_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("the PNG was decoded")

    monkeypatch.setattr(png_layer.Image, "open", no_decoding)
    with pytest.raises(InvalidSpec) as exc:
        load_text_layer(_forged_png(100_000, 100_000), width=W, height=H, where="params.text_layers[3]")
    msg = str(exc.value)
    assert "params.text_layers[3]" in msg and "100000x100000" in msg and f"{W}x{H}" in msg
    assert exc.value.code == "INVALID_INPUT"


def test_text_layer_without_alpha_refused() -> None:
    with pytest.raises(InvalidSpec, match=r"layer\[1\].*alpha"):
        load_text_layer(_png(Image.new("RGB", (W, H))), width=W, height=H, where="layer[1]")


def test_text_layer_palette_with_transparency_accepted() -> None:
    img = Image.new("P", (W, H), 1)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.info["transparency"] = 0
    buf = io.BytesIO()
    img.save(buf, format="PNG", transparency=0)
    sprite = load_text_layer(buf.getvalue(), width=W, height=H, where="layer")
    assert sprite.rgba.shape == (H, W, 4) and (sprite.rgba[..., :3] == (255, 0, 0)).all()


@pytest.mark.parametrize("data", [b"GIF89a" + b"\0" * 40, b"", _forged_png(W, H)])
def test_text_layer_garbage_is_invalid_spec(data: bytes) -> None:
    with pytest.raises(InvalidSpec, match="where"):
        load_text_layer(data, width=W, height=H, where="where")
