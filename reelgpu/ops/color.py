"""Colour conversion on the host: ``#RRGGBB`` and RGBA rasters to BT.709 limited-range YUV.

Every colour a spec names is converted once here (DESIGN.md, "Pixel rules"), never per frame.
The matrix is BT.709 because that is what the outputs are tagged with; the range is limited
(Y 16..235, Cb/Cr 16..240) because that is what H.264 players assume for yuv420p.
"""

from __future__ import annotations

import numpy as np

from .sprite import YUVASprite

# BT.709 luma coefficients. Cb = (B' - Y') / 1.8556, Cr = (R' - Y') / 1.5748 with B', R', Y' in 0..1.
KR, KG, KB = 0.2126, 0.7152, 0.0722
CB_DIV = 2.0 * (1.0 - KB)  # 1.8556
CR_DIV = 2.0 * (1.0 - KR)  # 1.5748


def rgb_to_yuv_float(r: float, g: float, b: float) -> tuple[float, float, float]:
    """Full-range 8-bit R'G'B' (floats 0..255) to limited-range Y'CbCr floats (not rounded).

    Kept separate from :func:`hex_to_yuv` so a derived colour (the highlight outline is the
    stroke colour x 0.3) is rounded once, after conversion, not twice.
    """
    yn = (KR * r + KG * g + KB * b) / 255.0
    y = 16.0 + 219.0 * yn
    u = 128.0 + 224.0 * ((b / 255.0) - yn) / CB_DIV
    v = 128.0 + 224.0 * ((r / 255.0) - yn) / CR_DIV
    return y, u, v


def _round_clip(value: float) -> int:
    return int(min(255.0, max(0.0, np.floor(value + 0.5))))


def parse_hex(color: str) -> tuple[int, int, int]:
    """``'#RRGGBB'`` -> (R, G, B); a ValueError names the bad value (the specs already validate)."""
    if not (isinstance(color, str) and len(color) == 7 and color[0] == "#"):
        raise ValueError(f"colour must be '#RRGGBB', got {color!r}")
    try:
        return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)
    except ValueError:
        raise ValueError(f"colour must be '#RRGGBB', got {color!r}") from None


def hex_to_yuv(color: str, *, scale: float = 1.0) -> tuple[int, int, int]:
    """``'#RRGGBB'`` -> (Y, U, V) ints, BT.709 limited range (Y 16..235, U/V 16..240).

    ``scale`` multiplies R, G and B before conversion (the darkened outline uses 0.3), so the
    result matches "multiply the colour, then convert" with a single rounding.
    """
    r, g, b = parse_hex(color)
    y, u, v = rgb_to_yuv_float(r * scale, g * scale, b * scale)
    return _round_clip(y), _round_clip(u), _round_clip(v)


def rgba_to_yuva(rgba: np.ndarray, *, x: int = 0, y: int = 0, trim: bool = True) -> YUVASprite:
    """Convert an RGBA uint8 raster (H x W x 4, straight alpha) placed at (x, y) to a YUVASprite.

    - Luma is premultiplied per pixel: ``Y * a``.
    - Chroma is the *premultiplied* 2x2 average, ``mean(U_i * a_i)``, with chroma alpha the
      plain 2x2 mean of ``a_i``. Averaging premultiplied values (not straight ones) is what keeps
      a fully transparent neighbour from pulling the colour of an anti-aliased text edge
      towards whatever RGB that transparent pixel happens to hold (often black).
    - An odd-sized raster is padded with transparent pixels to even size; ``x`` and ``y`` must
      be even so the sprite's 2x2 chroma blocks line up with the frame's.
    - ``trim`` crops the sprite to the even-aligned bounding box of its non-transparent pixels:
      a full-frame text layer that holds one caption then costs what the caption covers,
      not the whole frame, on every frame it is shown. The pixels blended are the same.
    """
    arr = np.asarray(rgba)
    if arr.ndim != 3 or arr.shape[2] != 4 or arr.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 4 uint8 RGBA array, got shape {arr.shape} dtype {arr.dtype}")
    if x % 2 or y % 2:
        raise ValueError(f"sprite placement must be even for 4:2:0 chroma, got x={x}, y={y}")
    h, w = arr.shape[:2]
    if h % 2 or w % 2:
        padded = np.zeros((h + h % 2, w + w % 2, 4), dtype=np.uint8)
        padded[:h, :w] = arr
        arr, h, w = padded, h + h % 2, w + w % 2
    if trim:
        opaque = arr[:, :, 3] != 0
        rows = np.flatnonzero(opaque.any(axis=1))
        if rows.size == 0:
            return YUVASprite.empty(x, y)
        cols = np.flatnonzero(opaque.any(axis=0))
        r0, r1 = rows[0] & ~1, (rows[-1] + 2) & ~1
        c0, c1 = cols[0] & ~1, (cols[-1] + 2) & ~1
        arr = arr[r0:r1, c0:c1]
        x, y = x + int(c0), y + int(r0)
        h, w = arr.shape[:2]

    f = np.float32
    inv255 = f(1.0 / 255.0)
    # One contiguous float32 plane per channel (strided channel views make every later op slow).
    r, g, b = (arr[:, :, i].astype(np.float32) for i in range(3))
    a = arr[:, :, 3].astype(np.float32)
    a *= inv255
    yn = r * f(KR * inv255)  # normalised luma, 0..1
    yn += g * f(KG * inv255)
    yn += b * f(KB * inv255)
    b *= inv255  # B' and R' normalised, in place
    r *= inv255
    b -= yn  # B' - Y'
    r -= yn  # R' - Y'
    yy = yn * f(219.0)
    yy += f(16.0)
    yy *= a
    b *= f(224.0 / CB_DIV)
    b += f(128.0)
    b *= a  # premultiplied U
    r *= f(224.0 / CR_DIV)
    r += f(128.0)
    r *= a  # premultiplied V

    def pool(p: np.ndarray) -> np.ndarray:
        # 2x2 mean: chroma sample (i, j) covers luma rows 2i..2i+1 and columns 2j..2j+1.
        out = p[0::2, 0::2] + p[1::2, 0::2]
        out += p[0::2, 1::2]
        out += p[1::2, 1::2]
        out *= f(0.25)
        return out

    return YUVASprite(
        y_premult=yy,
        u_premult=pool(b),
        v_premult=pool(r),
        alpha=a,
        alpha_c=pool(a),
        x=int(x),
        y=int(y),
    )
