"""The GPU ops, written once against a :class:`~._launch.KernelBackend`.

Each function mirrors the numpy reference of the same name (reelgpu/ops/crop_scale.py,
highlight.py, sprite.py, mix.py): same signature semantics, same validation, same clipping
rectangles, and kernels that copy the reference's float32 arithmetic (see kernels/*.cu).
Nothing here synchronises with the host or copies frames to it; small per-frame tables (the
resampling taps of a new crop box) are the only uploads, and they are cached.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...frames import BLACK_Y, NEUTRAL_C, Planes
from ..crop_scale import Box, _check_box, _normalise_angle, _rotation_cos_sin
from ..highlight import _ARC_HALF_GAP, HighlightDraw, _radii
from ..resample import AxisTaps, axis_taps, vertical_first
from ..sprite import YUVASprite, visible_rect
from ._launch import BLOCK, KernelBackend, f32, f64, grid_for, i32, pitch_of

__all__ = [
    "DeviceSprite",
    "blend_sprite",
    "copy_planes",
    "crop_scale",
    "crop_scale_plane",
    "dissolve",
    "draw_highlight",
    "fade_to_black",
    "planes_from_nv12",
    "planes_to_nv12",
    "upload_sprite",
]

# --------------------------------------------------------------------------- device tables


@dataclass(frozen=True)
class _DeviceTaps:
    """One axis's taps on the device: ``index``/``weight`` (out_size x taps) and ``valid`` (bytes)."""

    taps: AxisTaps
    index: Any
    weight: Any
    valid: Any
    k: int


class _TapCache:
    """Device copies of resample tap tables, LRU over the (plane, box edge, size) key.

    A static crop uploads its four tables (x/y, luma/chroma) once; a moving crop uploads four
    small tables per frame (tens of KB), in stream order, never a frame.
    """

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[int, float, float, int], _DeviceTaps] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, b: KernelBackend, in_size: int, start: float, length: float, out_size: int) -> _DeviceTaps:
        key = (int(in_size), float(np.float32(start)), float(np.float32(start + length)), int(out_size))
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                return hit
        taps = axis_taps(in_size, start, length, out_size)
        entry = _DeviceTaps(taps, b.upload(taps.index), b.upload(taps.weight),
                            b.upload(taps.valid.astype(np.uint8)), int(taps.index.shape[1]))
        with self._lock:
            self._entries[key] = entry
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return entry


_tap_caches: weakref.WeakKeyDictionary[Any, _TapCache] = weakref.WeakKeyDictionary()
_tap_caches_lock = threading.Lock()


def _taps(b: KernelBackend) -> _TapCache:
    with _tap_caches_lock:
        cache = _tap_caches.get(b)
        if cache is None:
            cache = _tap_caches[b] = _TapCache()
        return cache


# --------------------------------------------------------------------------- crop_scale


@dataclass(frozen=True)
class _View:
    """Plane sample (row r, col c) lives at ``array[r - row0, c - col0]``."""

    array: Any
    row0: int
    col0: int


def _check_plane(src: Any) -> None:
    if src.ndim != 2 or src.dtype != np.uint8:
        raise ValueError(f"a plane must be a 2-D uint8 array, got {src.ndim}-D {src.dtype}")
    if src.shape[0] < 1 or src.shape[1] < 1:
        raise ValueError(f"a plane must not be empty, got shape {src.shape}")


def _fill(b: KernelBackend, dst: Any, value: int) -> None:
    h, w = dst.shape
    b.launch("crop_scale", "rg_fill", grid_for(w, h), BLOCK, (dst, pitch_of(dst), i32(w), i32(h), i32(value)))


def _pass_h(b: KernelBackend, view: _View, row_abs0: int, rows: int, tx: _DeviceTaps, dst: Any) -> None:
    """Horizontal pass: output row r reads plane row ``row_abs0 + r``; columns via the taps."""
    out_w = tx.taps.out_size
    b.launch("crop_scale", "rg_resample_h", grid_for(out_w, rows), BLOCK,
             (view.array, pitch_of(view.array), i32(row_abs0 - view.row0), i32(view.col0),
              dst, pitch_of(dst), i32(rows), i32(out_w), tx.index, tx.weight, i32(tx.k)))


def _pass_v(b: KernelBackend, view: _View, col_abs0: int, cols: int, ty: _DeviceTaps, dst: Any) -> None:
    """Vertical pass: output column c reads plane column ``col_abs0 + c``; rows via the taps."""
    out_h = ty.taps.out_size
    b.launch("crop_scale", "rg_resample_v", grid_for(cols, out_h), BLOCK,
             (view.array, pitch_of(view.array), i32(view.row0), i32(col_abs0 - view.col0),
              dst, pitch_of(dst), i32(out_h), i32(cols), ty.index, ty.weight, i32(ty.k)))


def crop_scale_plane(b: KernelBackend, src: Any, box: Box, out_w: int, out_h: int, *,
                     rotation_deg: float = 0.0, fill: int = BLACK_Y) -> Any:
    """:func:`reelgpu.ops.crop_scale.crop_scale_plane` on the device; returns a pooled array.

    Same two passes in Pillow's order, each rounded to 8 bits, over the same window of the
    plane (or of the rotated plane, computed by ``rg_rotate_window`` exactly as the reference).
    """
    _check_plane(src)
    x, y, w, h = _check_box(box)
    if int(out_w) != out_w or int(out_h) != out_h or out_w < 1 or out_h < 1:
        raise ValueError(f"output size must be positive integers, got {out_w}x{out_h}")
    if not 0 <= fill <= 255:
        raise ValueError(f"fill must be an 8-bit level, got {fill}")
    out_w, out_h = int(out_w), int(out_h)
    height, width = (int(s) for s in src.shape)
    cache = _taps(b)
    tx = cache.get(b, width, x, w, out_w)
    ty = cache.get(b, height, y, h, out_h)
    xt, yt = tx.taps, ty.taps
    out = b.pool.take((out_h, out_w), np.uint8)
    if xt.hi <= xt.lo or yt.hi <= yt.lo:  # the box lies entirely outside the plane
        _fill(b, out, fill)
        return out

    angle = _normalise_angle(rotation_deg)
    if angle == 0.0:
        view = _View(src, 0, 0)
    else:
        rows, cols = yt.hi - yt.lo, xt.hi - xt.lo
        window = b.pool.take((rows, cols), np.uint8)
        cos_a, sin_a = _rotation_cos_sin(angle)
        b.launch("crop_scale", "rg_rotate_window", grid_for(cols, rows), BLOCK,
                 (src, pitch_of(src), i32(width), i32(height), window, pitch_of(window),
                  i32(yt.lo), i32(xt.lo), i32(rows), i32(cols), f64(cos_a), f64(sin_a), i32(fill)))
        view = _View(window, yt.lo, xt.lo)

    if vertical_first(width, height, out_w, out_h):
        if yt.identity and xt.identity:
            _copy_window(b, view, out)
        elif yt.identity:
            _pass_h(b, view, 0, out_h, tx, out)
        elif xt.identity:
            _pass_v(b, view, 0, out_w, ty, out)
        else:
            inter = b.pool.take((out_h, xt.hi - xt.lo), np.uint8)
            _pass_v(b, view, xt.lo, xt.hi - xt.lo, ty, inter)
            _pass_h(b, _View(inter, 0, xt.lo), 0, out_h, tx, out)
    else:
        if yt.identity and xt.identity:
            _copy_window(b, view, out)
        elif xt.identity:
            _pass_v(b, view, 0, out_w, ty, out)
        elif yt.identity:
            _pass_h(b, view, 0, out_h, tx, out)
        else:
            inter = b.pool.take((yt.hi - yt.lo, out_w), np.uint8)
            _pass_h(b, view, yt.lo, yt.hi - yt.lo, tx, inter)
            _pass_v(b, _View(inter, yt.lo, 0), 0, out_w, ty, out)

    if not (xt.all_valid and yt.all_valid):
        b.launch("crop_scale", "rg_fill_invalid", grid_for(out_w, out_h), BLOCK,
                 (out, pitch_of(out), i32(out_w), i32(out_h), tx.valid, ty.valid, i32(fill)))
    return out


def _copy_window(b: KernelBackend, view: _View, out: Any) -> None:
    """Both axes are identities: the output is the (possibly rotated) plane itself, copied
    (``rg_y_from_nv12`` with no quarter turn is a plain pitched plane copy)."""
    h, w = out.shape
    src = view.array
    b.launch("nv12", "rg_y_from_nv12", grid_for(w, h), BLOCK,
             (src, pitch_of(src), i32(w), i32(h), out, pitch_of(out), i32(0)))


def crop_scale(b: KernelBackend, planes: Planes, box: Box, out_w: int, out_h: int, *,
               rotation_deg: float = 0.0) -> Planes:
    """:func:`reelgpu.ops.crop_scale.crop_scale` on the device: luma box on Y, halved on U/V."""
    if out_w % 2 or out_h % 2:
        raise ValueError(f"I420 output size must be even, got {out_w}x{out_h}")
    x, y, w, h = _check_box(box)
    cbox = (x / 2.0, y / 2.0, w / 2.0, h / 2.0)
    cw, ch = out_w // 2, out_h // 2
    with b.using():
        return Planes(
            crop_scale_plane(b, planes.y, (x, y, w, h), out_w, out_h, rotation_deg=rotation_deg, fill=BLACK_Y),
            crop_scale_plane(b, planes.u, cbox, cw, ch, rotation_deg=rotation_deg, fill=NEUTRAL_C),
            crop_scale_plane(b, planes.v, cbox, cw, ch, rotation_deg=rotation_deg, fill=NEUTRAL_C),
        )


# --------------------------------------------------------------------------- highlight

_HL_DIM, _HL_FILL, _HL_OUTLINE, _HL_STROKE, _HL_GROUND = 1, 2, 4, 8, 16
# Slack of the exact-coverage test, in luma px, as in highlight._row_spans.
_HL_SLACK = 1.0


def draw_highlight(b: KernelBackend, planes: Planes, d: HighlightDraw) -> None:
    """:func:`reelgpu.ops.highlight.draw_highlight` on the device, in place.

    One ``rg_highlight`` launch per plane: over the whole plane when the highlight dims, else
    over the reference's even-aligned box around the ellipse (outside it nothing changes).
    """
    if not (d.dims or d.fills or d.outlines or d.strokes):
        return
    fh, fw = planes.height, planes.width
    rx, ry = _radii(d)
    ring = max(d.outline_width if d.outlines else 0.0, d.stroke_width if d.strokes else 0.0)
    reach = ring / 2.0 + 0.5 if ring > 0 else 0.5
    margin = reach + 1.5
    x0 = max(0, int(math.floor((d.cx - rx - margin) / 2.0)) * 2)
    y0 = max(0, int(math.floor((d.cy - ry - margin) / 2.0)) * 2)
    x1 = min(fw, int(math.ceil((d.cx + rx + margin) / 2.0)) * 2)
    y1 = min(fh, int(math.ceil((d.cy + ry + margin) / 2.0)) * 2)

    rel = (reach + _HL_SLACK) / min(rx, ry)
    k_out, k_in = 1.0 + rel, 1.0 - rel  # k_in <= 0: nothing is certainly deep inside
    flags = ((_HL_DIM if d.dims else 0) | (_HL_FILL if d.fills else 0) | (_HL_OUTLINE if d.outlines else 0)
             | (_HL_STROKE if d.strokes else 0) | (_HL_GROUND if d.arc == "ground" else 0))
    aa, ab = rx * math.cos(_ARC_HALF_GAP), ry * math.sin(_ARC_HALF_GAP)
    n = math.hypot(aa, ab)
    c1, c2 = (rx * rx - ry * ry) / rx, (ry * ry - rx * rx) / ry

    def colour(yuv: tuple[int, int, int] | None, idx: int) -> np.float32:
        return f32(yuv[idx] if yuv is not None else 0)

    with b.using():
        for idx, plane in enumerate(planes):
            sub = 1 if idx == 0 else 2
            if d.dims:
                bx0, by0, bx1, by1 = 0, 0, plane.shape[1], plane.shape[0]
            else:
                bx0, by0, bx1, by1 = x0 // sub, y0 // sub, x1 // sub, y1 // sub
            bw, bh = bx1 - bx0, by1 - by0
            if bw <= 0 or bh <= 0:
                continue
            b.launch("highlight", "rg_highlight", grid_for(bw, bh), BLOCK, (
                plane, pitch_of(plane), i32(bx0), i32(by0), i32(bw), i32(bh),
                i32(sub), f64(d.cx), f64(d.cy), f32(rx), f32(ry), f32(c1), f32(c2),
                i32(flags), f32(BLACK_Y if idx == 0 else NEUTRAL_C), f32(d.dim),
                colour(d.fill_yuv, idx), f32(d.fill_opacity),
                colour(d.outline_yuv, idx), f32(d.outline_width / 2.0 + 0.5), f32(d.outline_opacity),
                colour(d.stroke_yuv, idx), f32(d.stroke_width / 2.0 + 0.5), f32(d.stroke_opacity),
                f32(aa / n), f32(ab / n), f64(k_out), f64(k_in)))


# --------------------------------------------------------------------------- sprites


@dataclass(frozen=True, eq=False)
class DeviceSprite:
    """A :class:`~reelgpu.ops.sprite.YUVASprite` whose float32 planes live on the device."""

    y_premult: Any
    u_premult: Any
    v_premult: Any
    alpha: Any
    alpha_c: Any
    x: int
    y: int
    width: int
    height: int


_sprite_cache: weakref.WeakKeyDictionary[YUVASprite, tuple[Any, DeviceSprite]] = weakref.WeakKeyDictionary()
_sprite_lock = threading.Lock()


def upload_sprite(b: KernelBackend, sprite: YUVASprite | DeviceSprite) -> DeviceSprite:
    """The device copy of ``sprite``, uploaded on first use and cached for the sprite's lifetime
    (sprites are rasterised once per export and blended on every frame they show)."""
    if isinstance(sprite, DeviceSprite):
        return sprite
    with _sprite_lock:
        hit = _sprite_cache.get(sprite)
        if hit is not None and hit[0] is b:
            return hit[1]
    with b.using():
        dev = DeviceSprite(*(b.upload(np.ascontiguousarray(p, dtype=np.float32)) for p in (
            sprite.y_premult, sprite.u_premult, sprite.v_premult, sprite.alpha, sprite.alpha_c)),
            x=sprite.x, y=sprite.y, width=sprite.width, height=sprite.height)
    with _sprite_lock:
        _sprite_cache[sprite] = (b, dev)
    return dev


def _blend_rect(b: KernelBackend, dst: Any, premult: Any, alpha: Any, opacity: float) -> None:
    h, w = dst.shape
    if h <= 0 or w <= 0:
        return
    b.launch("sprite", "rg_blend", grid_for(w, h), BLOCK,
             (dst, pitch_of(dst), premult, alpha, pitch_of(premult), i32(w), i32(h), f32(opacity),
              i32(1 if np.float32(opacity) != 1.0 else 0)))


def blend_sprite(b: KernelBackend, planes: Planes, sprite: YUVASprite | DeviceSprite, opacity: float = 1.0) -> None:
    """:func:`reelgpu.ops.sprite.blend_sprite` on the device, in place (same clipping)."""
    rect = visible_rect(planes, sprite, opacity)
    if rect is None:
        return
    x0, y0, x1, y1 = rect
    s = upload_sprite(b, sprite)
    sx, sy = x0 - s.x, y0 - s.y
    cy0, cy1, cx0, cx1 = y0 // 2, (y1 + 1) // 2, x0 // 2, (x1 + 1) // 2
    csy, csx = sy // 2, sx // 2
    ch, cw = cy1 - cy0, cx1 - cx0
    with b.using():
        _blend_rect(b, planes.y[y0:y1, x0:x1], s.y_premult[sy:sy + y1 - y0, sx:sx + x1 - x0],
                    s.alpha[sy:sy + y1 - y0, sx:sx + x1 - x0], opacity)
        ca = s.alpha_c[csy:csy + ch, csx:csx + cw]
        _blend_rect(b, planes.u[cy0:cy1, cx0:cx1], s.u_premult[csy:csy + ch, csx:csx + cw], ca, opacity)
        _blend_rect(b, planes.v[cy0:cy1, cx0:cx1], s.v_premult[csy:csy + ch, csx:csx + cw], ca, opacity)


# --------------------------------------------------------------------------- mix


def dissolve(b: KernelBackend, a: Planes, c: Planes, alpha: float) -> Planes:
    """:func:`reelgpu.ops.mix.dissolve` on the device: ``(1 - alpha) * a + alpha * c``, rounded."""
    wa, wb = f32(1.0 - alpha), f32(alpha)
    out = []
    with b.using():
        for pa, pb in zip(a, c):
            if pa.shape != pb.shape:
                raise ValueError(f"dissolve needs planes of one size, got {pa.shape} and {pb.shape}")
            h, w = pa.shape
            dst = b.pool.take((h, w), np.uint8)
            b.launch("mix", "rg_dissolve", grid_for(w, h), BLOCK,
                     (pa, pitch_of(pa), pb, pitch_of(pb), dst, pitch_of(dst), i32(w), i32(h), wa, wb))
            out.append(dst)
    return Planes(*out)


def fade_to_black(b: KernelBackend, p: Planes, brightness: float) -> Planes:
    """:func:`reelgpu.ops.mix.fade_to_black` on the device (``brightness >= 1`` returns ``p``)."""
    if brightness >= 1.0:
        return p
    out = []
    with b.using():
        for plane, base in zip(p, (BLACK_Y, NEUTRAL_C, NEUTRAL_C)):
            h, w = plane.shape
            dst = b.pool.take((h, w), np.uint8)
            b.launch("mix", "rg_fade", grid_for(w, h), BLOCK,
                     (plane, pitch_of(plane), dst, pitch_of(dst), i32(w), i32(h), f32(base), f32(brightness)))
            out.append(dst)
    return Planes(*out)


def copy_planes(b: KernelBackend, p: Planes) -> Planes:
    """A pooled device copy of ``p`` (the exports draw on a copy, never on decoder buffers);
    ``rg_y_from_nv12`` with no quarter turn is a plain pitched plane copy."""
    out = []
    with b.using():
        for plane in p:
            h, w = plane.shape
            dst = b.pool.take((h, w), np.uint8)
            b.launch("nv12", "rg_y_from_nv12", grid_for(w, h), BLOCK,
                     (plane, pitch_of(plane), i32(w), i32(h), dst, pitch_of(dst), i32(0)))
            out.append(dst)
    return Planes(*out)


# --------------------------------------------------------------------------- codec layouts


def planes_from_nv12(b: KernelBackend, y: Any, uv: Any, width: int, height: int, *, quarter: int = 0,
                     pool: Any = None) -> Planes:
    """Upright I420 planes from a decoded NV12 (uint8) or P016 (uint16) surface.

    ``y`` is the luma plane (rows x samples, any pitch), ``uv`` the interleaved chroma plane
    viewed as (height/2 rows x width samples) of the same dtype. Odd sizes drop the last
    row/column (as decode_cpu does); ``quarter`` counter-clockwise quarter turns as
    ``numpy.rot90``. Buffers come from ``pool`` (default: the op pool).
    """
    w, h = int(width) - int(width) % 2, int(height) - int(height) % 2
    cw, ch = w // 2, h // 2
    q = int(quarter) % 4
    pool = pool if pool is not None else b.pool
    oy = (w, h) if q % 2 else (h, w)
    oc = (cw, ch) if q % 2 else (ch, cw)
    ten_bit = np.dtype(y.dtype).itemsize == 2
    suffix = "p016" if ten_bit else "nv12"
    with b.using():
        py, pu, pv = pool.take(oy, np.uint8), pool.take(oc, np.uint8), pool.take(oc, np.uint8)
        # The kernels take byte pitches for the source (P016 rows are pitched in bytes).
        y_pitch = i32(y.strides[0])
        uv_pitch = i32(uv.strides[0])
        b.launch("nv12", f"rg_y_from_{suffix}", grid_for(oy[1], oy[0]), BLOCK,
                 (y, y_pitch, i32(w), i32(h), py, pitch_of(py), i32(q)))
        b.launch("nv12", f"rg_uv_from_{suffix}", grid_for(oc[1], oc[0]), BLOCK,
                 (uv, uv_pitch, i32(cw), i32(ch), pu, pv, pitch_of(pu), i32(q)))
    return Planes(py, pu, pv)


def planes_to_nv12(b: KernelBackend, planes: Planes, out: Any) -> Any:
    """Interleave I420 ``planes`` into ``out``: a contiguous (3h/2) x w uint8 NV12 buffer."""
    h, w = planes.height, planes.width
    if tuple(out.shape) != (h * 3 // 2, w) or pitch_of(out) != w:
        raise ValueError(f"NV12 buffer must be contiguous {(h * 3 // 2, w)}, got {tuple(out.shape)}")
    with b.using():
        b.launch("nv12", "rg_i420_to_nv12", grid_for(w // 2, h // 2), BLOCK,
                 (planes.y, pitch_of(planes.y), planes.u, pitch_of(planes.u), planes.v, pitch_of(planes.v),
                  out, i32(w), i32(h)))
    return out
