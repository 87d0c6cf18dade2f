"""Alpha-blend of a pre-rasterised sprite (banner, text layer) onto I420 planes, in place.

Sprites are rasterised once as RGBA on the CPU (:mod:`reelgpu.render`), converted once to a
premultiplied :class:`YUVASprite` (:func:`reelgpu.ops.color.rgba_to_yuva`) and blended on every
frame they are shown. Premultiplying at conversion time makes the per-frame work one
multiply-add per sample, and lets the chroma alpha be a plain 2x2 average.

Per sample (numpy reference; a CUDA kernel mirrors it one sample per thread)::

    out = floor(src * (1 - a * opacity) + premult * opacity + 0.5), clipped to 0..255

computed in float32, with ``a`` the luma alpha on Y and the chroma alpha on U and V.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..frames import Planes

# Rows blended per strip: small enough for the float32 temporaries to stay in the L2 cache at
# 1080-1920 px wide (a whole 1080x1920 plane of float32 is 8 MB), big enough that the Python
# loop costs nothing.
_STRIP_ROWS = 64


@dataclass(frozen=True)
class RenderedSprite:
    """An RGBA uint8 raster (H x W x 4, straight alpha) and where its top-left goes, in luma px."""

    rgba: np.ndarray
    x: int
    y: int


@dataclass(frozen=True, eq=False)
class YUVASprite:
    """A sprite ready to blend: premultiplied float32 planes and alphas, and its placement.

    ``y_premult`` is ``Y * alpha`` (h x w); ``u_premult``/``v_premult`` are the 2x2 averages of
    ``U * alpha`` / ``V * alpha`` (h/2 x w/2); ``alpha`` is 0..1 (h x w) and ``alpha_c`` its
    2x2 average. ``x``, ``y`` are the even luma coordinates of the top-left corner; the sprite
    may hang over any frame edge (it is clipped when blended).
    """

    y_premult: np.ndarray
    u_premult: np.ndarray
    v_premult: np.ndarray
    alpha: np.ndarray
    alpha_c: np.ndarray
    x: int
    y: int

    def __post_init__(self) -> None:
        h, w = self.alpha.shape
        if h % 2 or w % 2 or self.x % 2 or self.y % 2:
            raise ValueError(f"sprite size and placement must be even, got {w}x{h} at ({self.x}, {self.y})")
        if self.y_premult.shape != (h, w) or any(
            p.shape != (h // 2, w // 2) for p in (self.u_premult, self.v_premult, self.alpha_c)
        ):
            raise ValueError("sprite planes disagree in size")

    @property
    def width(self) -> int:
        return int(self.alpha.shape[1])

    @property
    def height(self) -> int:
        return int(self.alpha.shape[0])

    @classmethod
    def empty(cls, x: int = 0, y: int = 0) -> YUVASprite:
        """A 0x0 sprite (a fully transparent raster): blending it is a no-op."""
        z = np.zeros((0, 0), dtype=np.float32)
        return cls(z, z, z, z, z, x, y)


def _blend_plane(dst: np.ndarray, premult: np.ndarray, alpha: np.ndarray, opacity: float) -> None:
    """``dst = floor(dst*(1 - a*op) + premult*op + 0.5)`` clipped, strip by strip, in place.

    Written as ``dst + op*(premult - dst*a)`` to save a pass: the same value up to float32
    rounding.
    """
    op = np.float32(opacity)
    h = dst.shape[0]
    for r0 in range(0, h, _STRIP_ROWS):
        d = dst[r0 : r0 + _STRIP_ROWS]
        t = np.multiply(d, alpha[r0 : r0 + _STRIP_ROWS], dtype=np.float32)
        np.subtract(premult[r0 : r0 + _STRIP_ROWS], t, out=t)
        if op != 1.0:
            t *= op
        t += d
        t += np.float32(0.5)
        np.clip(t, 0.0, 255.0, out=t)
        d[...] = t  # float -> uint8 truncates; with the +0.5 above that is floor(x + 0.5)


def visible_rect(planes: Planes, sprite: Any, opacity: float) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1): the sprite's rectangle clipped to the frame, in luma pixels, or None
    when nothing would change. Shared by the numpy op and the CUDA wrapper, so both clip alike."""
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be within 0..1, got {opacity!r}")
    if opacity == 0.0 or sprite.width == 0 or sprite.height == 0:
        return None
    x0, y0 = max(sprite.x, 0), max(sprite.y, 0)
    x1, y1 = min(sprite.x + sprite.width, planes.width), min(sprite.y + sprite.height, planes.height)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def blend_sprite(planes: Planes, sprite: YUVASprite, opacity: float = 1.0) -> None:
    """Blend ``sprite`` onto ``planes`` in place, at ``opacity`` (0..1) times its own alpha.

    Only the sprite's rectangle, clipped to the frame, is read or written.
    """
    rect = visible_rect(planes, sprite, opacity)
    if rect is None:
        return
    x0, y0, x1, y1 = rect
    sx, sy = x0 - sprite.x, y0 - sprite.y  # even, since both placements are even
    _blend_plane(planes.y[y0:y1, x0:x1], sprite.y_premult[sy : sy + y1 - y0, sx : sx + x1 - x0],
                 sprite.alpha[sy : sy + y1 - y0, sx : sx + x1 - x0], opacity)
    cy0, cy1, cx0, cx1 = y0 // 2, (y1 + 1) // 2, x0 // 2, (x1 + 1) // 2
    csy, csx = sy // 2, sx // 2
    ca = sprite.alpha_c[csy : csy + cy1 - cy0, csx : csx + cx1 - cx0]
    _blend_plane(planes.u[cy0:cy1, cx0:cx1], sprite.u_premult[csy : csy + cy1 - cy0, csx : csx + cx1 - cx0],
                 ca, opacity)
    _blend_plane(planes.v[cy0:cy1, cx0:cx1], sprite.v_premult[csy : csy + cy1 - cy0, csx : csx + cx1 - cx0],
                 ca, opacity)
