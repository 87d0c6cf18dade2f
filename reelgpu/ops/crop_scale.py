"""Crop + rotate + resample of I420 planes: the CPU reference the CUDA kernel copies.

Semantics (DESIGN.md "Pixel rules", CONTRACT.md "Framing"):

* Geometry is in source pixels with pixel centres at +0.5; the crop box ``(x, y, w, h)`` is
  real-valued (sub-pixel pans must move smoothly, so no rounding to whole pixels).
* Resampling is separable bicubic (a = -0.5) with antialiasing when downscaling, defined to be
  Pillow's ``Image.resize((out_w, out_h), BICUBIC, box=(x, y, x + w, y + h))`` on the plane
  as an 'L' image. The taps come from :mod:`reelgpu.ops.resample`. Like Pillow we round and
  clip the first pass to 8 bits before the second, in Pillow's pass order (horizontal first
  unless the plane loses far more rows than columns): bicubic overshoots, and clipping in
  between is what keeps us within 1 level of Pillow on sharp content (noise, text), not just
  on smooth pictures.
* Rotation (``rotation_deg`` counter-clockwise as seen on screen) turns the FULL plane about its
  centre on a canvas of the same size, sampling bicubic (a = -0.5, taps clamped to the plane)
  and painting ``fill`` where the pixel centre maps outside the plane, rounding to 8 bits;
  the crop/resample then runs on that rotated plane. Only the rotated pixels the crop reads
  are computed, which gives the same values as rotating everything. ``rotation_deg == 0``
  takes the plain path, so an unrotated export is bit-identical with or without this code.
* Output pixels whose centre maps outside the plane (a box sticking out of it) get ``fill``.

The tap tables are cached per (plane size, box, output size), so a static crop only pays for
applying them. Two implementations apply them (``REELGPU_RESAMPLER=numpy`` forces the second):

* the compiled passes (:mod:`reelgpu.ops.resample_native`, built from ``_resample.c`` at
  install time): Pillow's fixed-point arithmetic, vectorised, so Pillow's exact bytes; ~2 ms
  per 1080p frame, Y+U+V, for a 608x1080 box to 1080x1920 on one core (AVX2);
* the numpy fallback when the module was not built (no C compiler): a handful of float32 BLAS
  products over the part of the plane the box touches, within 1 level of Pillow; ~6 ms for
  the same frame. The products are small, so a multi-threaded BLAS gains little and suffers
  badly when the cores are busy with decode/encode: a pipeline should run it single-threaded
  (``OPENBLAS_NUM_THREADS=1``).
Rotation is per-pixel 4x4 gathers and costs far more (~0.2 s per such frame); it is rare.
"""

from __future__ import annotations

import math

import numpy as np

from ..frames import BLACK_Y, NEUTRAL_C, Planes
from . import resample_native
from .resample import AxisTaps, axis_taps, cubic_weights, vertical_first

Box = tuple[float, float, float, float]
"""x, y, w, h: real-valued crop box in LUMA source pixels, top-left origin, pixel centres at +0.5."""

__all__ = ["Box", "crop_scale", "crop_scale_plane", "rotate_plane"]


def crop_scale_plane(
    src: np.ndarray,
    box: Box,
    out_w: int,
    out_h: int,
    *,
    rotation_deg: float = 0.0,
    fill: int = BLACK_Y,
) -> np.ndarray:
    """Resample the ``box`` of one uint8 plane (optionally rotated first) to ``out_h x out_w``.

    ``box`` is in this plane's own pixels (callers halve it for chroma, see :func:`crop_scale`).
    Returns a new C-contiguous uint8 array of shape ``(out_h, out_w)``.
    """
    src = _check_plane(src)
    x, y, w, h = _check_box(box)
    if int(out_w) != out_w or int(out_h) != out_h or out_w < 1 or out_h < 1:
        raise ValueError(f"output size must be positive integers, got {out_w}x{out_h}")
    if not 0 <= fill <= 255:
        raise ValueError(f"fill must be an 8-bit level, got {fill}")
    height, width = src.shape
    tx = axis_taps(width, x, w, int(out_w))
    ty = axis_taps(height, y, h, int(out_h))
    if tx.hi <= tx.lo or ty.hi <= ty.lo:  # the box lies entirely outside the plane
        return np.full((int(out_h), int(out_w)), fill, dtype=np.uint8)

    angle = _normalise_angle(rotation_deg)
    if angle == 0.0:
        window = src[ty.lo : ty.hi, tx.lo : tx.hi]
    else:
        window = _rotate_window(src, angle, fill, ty.lo, ty.hi, tx.lo, tx.hi)
    return _apply_taps(window, tx, ty, fill)


def crop_scale(planes: Planes, box: Box, out_w: int, out_h: int, *, rotation_deg: float = 0.0) -> Planes:
    """Crop/rotate/resample an I420 frame: the luma ``box`` on Y, the box halved on U and V.

    ``out_w`` and ``out_h`` must be even (4:2:0 output). Borders are black: 16 for Y, 128 for
    chroma. Chroma rotates by the same angle about the chroma plane's centre.
    """
    if out_w % 2 or out_h % 2:
        raise ValueError(f"I420 output size must be even, got {out_w}x{out_h}")
    height, width = np.shape(planes.y)
    for name, plane in (("u", planes.u), ("v", planes.v)):
        if np.shape(plane) != (height // 2, width // 2):
            raise ValueError(f"I420 {name} plane must be {height // 2}x{width // 2}, got {np.shape(plane)}")
    x, y, w, h = _check_box(box)
    cbox = (x / 2.0, y / 2.0, w / 2.0, h / 2.0)
    cw, ch = out_w // 2, out_h // 2
    return Planes(
        crop_scale_plane(planes.y, (x, y, w, h), out_w, out_h, rotation_deg=rotation_deg, fill=BLACK_Y),
        crop_scale_plane(planes.u, cbox, cw, ch, rotation_deg=rotation_deg, fill=NEUTRAL_C),
        crop_scale_plane(planes.v, cbox, cw, ch, rotation_deg=rotation_deg, fill=NEUTRAL_C),
    )


def rotate_plane(src: np.ndarray, rotation_deg: float, *, fill: int = BLACK_Y) -> np.ndarray:
    """The whole plane rotated ``rotation_deg`` counter-clockwise about its centre (same size).

    Exposed for tests and for callers that rotate without cropping; the crop path computes only
    the window it needs, with identical values.
    """
    src = _check_plane(src)
    angle = _normalise_angle(rotation_deg)
    if angle == 0.0:
        return src.copy(order="C")
    return _rotate_window(src, angle, fill, 0, src.shape[0], 0, src.shape[1])


# --------------------------------------------------------------------------- internals


def _check_plane(src: np.ndarray) -> np.ndarray:
    src = np.asarray(src)
    if src.ndim != 2 or src.dtype != np.uint8:
        raise ValueError(f"a plane must be a 2-D uint8 array, got {src.ndim}-D {src.dtype}")
    if src.shape[0] < 1 or src.shape[1] < 1:
        raise ValueError(f"a plane must not be empty, got shape {src.shape}")
    return src


def _check_box(box: Box) -> Box:
    try:
        x, y, w, h = (float(v) for v in box)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"box must be four numbers (x, y, w, h), got {box!r}") from exc
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        raise ValueError(f"box must be finite with positive width and height, got {box!r}")
    return x, y, w, h


def _normalise_angle(rotation_deg: float) -> float:
    """Angle in [0, 360); a whole number of turns is no rotation at all."""
    angle = float(rotation_deg)
    if not math.isfinite(angle):
        raise ValueError(f"rotation must be finite, got {rotation_deg!r}")
    return angle % 360.0


def _round_clip(values: np.ndarray) -> np.ndarray:
    """Round half up and clip to [0, 255] in place (Pillow's 8-bit rounding), still float32."""
    values += 0.5
    np.floor(values, out=values)
    np.clip(values, 0.0, 255.0, out=values)
    return values


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """Final rounding (half up) to a new C-contiguous uint8 array; modifies ``values``.

    Same result as :func:`_round_clip` followed by a cast, one pass cheaper: once the values are
    clipped to [0, 255] the cast's truncation toward zero is the floor.
    """
    values += 0.5
    np.clip(values, 0.0, 255.0, out=values)
    return np.ascontiguousarray(values, dtype=np.uint8)


def _apply_taps(window: np.ndarray, tx: AxisTaps, ty: AxisTaps, fill: int) -> np.ndarray:
    """Both passes over ``window`` = plane[ty.lo:ty.hi, tx.lo:tx.hi], then the fill.

    Pass order follows Pillow (>= 13): vertical first when the plane loses more than twice as
    many rows as columns, else horizontal first. The order matters only through the 8-bit
    rounding/clipping between the passes, but that is enough to move sharp content by several
    levels, so we copy it to stay within 1 level of the oracle.
    """
    passes = _native_passes if resample_native.enabled() else _numpy_passes
    result = passes(window, tx, ty)
    if not tx.all_valid:
        result[:, ~tx.valid] = fill
    if not ty.all_valid:
        result[~ty.valid, :] = fill
    return result


def _native_passes(window: np.ndarray, tx: AxisTaps, ty: AxisTaps) -> np.ndarray:
    """The compiled passes: Pillow's fixed-point arithmetic, so Pillow's bytes (uint8 between
    the passes, as in Pillow). Returns a new array even when both passes are identities."""
    cols = lambda plane: plane if tx.identity else resample_native.horizontal(plane, tx)
    rows = lambda plane: plane if ty.identity else resample_native.vertical(plane, ty)
    if vertical_first(tx.in_size, ty.in_size, tx.out_size, ty.out_size):
        result = cols(rows(window))
    else:
        result = rows(cols(window))
    return result.copy() if result is window else result


def _numpy_passes(window: np.ndarray, tx: AxisTaps, ty: AxisTaps) -> np.ndarray:
    """The float32 BLAS fallback (no compiled module): within 1 level of Pillow."""
    height, width = ty.in_size, tx.in_size
    src = window.astype(np.float32)
    if vertical_first(width, height, tx.out_size, ty.out_size):
        out = _pass_cols(_round_clip(_pass_rows(src, ty)), tx)
    else:
        out = _pass_rows(_round_clip(_pass_cols(src, tx)), ty)
    return _to_uint8(out)


def _pass_cols(src: np.ndarray, tx: AxisTaps) -> np.ndarray:
    """Horizontal pass: ``out[:, i] = sum_k weight[i, k] * src[:, index[i, k] - lo]`` (unrounded).

    Each band of outputs is one float32 matrix product (the same sum, computed by BLAS).
    """
    if tx.identity:
        return src
    alloc = np.empty if tx.all_valid else np.zeros
    out = alloc((src.shape[0], tx.out_size), dtype=np.float32)
    for band in tx.bands:
        cols = src[:, band.src_lo - tx.lo : band.src_hi - tx.lo]
        np.matmul(cols, band.matrix.T, out=out[:, band.out_lo : band.out_hi])
    return out


def _pass_rows(src: np.ndarray, ty: AxisTaps) -> np.ndarray:
    """Vertical pass: ``out[i, :] = sum_k weight[i, k] * src[index[i, k] - lo, :]`` (unrounded)."""
    if ty.identity:
        return src
    alloc = np.empty if ty.all_valid else np.zeros
    out = alloc((ty.out_size, src.shape[1]), dtype=np.float32)
    for band in ty.bands:
        rows = src[band.src_lo - ty.lo : band.src_hi - ty.lo]
        np.matmul(band.matrix, rows, out=out[band.out_lo : band.out_hi])
    return out


def _rotation_cos_sin(angle: float) -> tuple[float, float]:
    """cos/sin of the angle in degrees, exact for multiples of 90 (so 90/180/270 degrees map
    pixel centres exactly onto pixel centres instead of 1e-16 beside them)."""
    quarter, rest = divmod(angle, 90.0)
    if rest == 0.0:
        return ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))[int(quarter) % 4]
    rad = math.radians(angle)
    return math.cos(rad), math.sin(rad)


def _rotate_window(
    src: np.ndarray, angle: float, fill: int, r0: int, r1: int, c0: int, c1: int
) -> np.ndarray:
    """Rows ``[r0, r1)`` x cols ``[c0, c1)`` of the plane rotated CCW by ``angle`` degrees.

    For an output pixel centre (xo, yo) the inverse rotation about the centre (cx, cy) = (W/2,
    H/2) gives the source point (screen y points down, so CCW on screen is this sign pattern)::

        xs = cx + cos(a) * (xo - cx) - sin(a) * (yo - cy)
        ys = cy + sin(a) * (xo - cx) + cos(a) * (yo - cy)

    Outside ``[0, W) x [0, H)`` the pixel is ``fill``; inside it is the 4x4 bicubic sum around
    (xs - 0.5, ys - 0.5) with tap indices clamped to the plane (edge pixels repeat), rounded
    half up to 8 bits. This is the per-pixel recipe of the CUDA kernel.
    """
    height, width = src.shape
    cos_a, sin_a = _rotation_cos_sin(angle)
    dx = np.arange(c0, c1, dtype=np.float64) + 0.5 - width / 2.0
    dy = np.arange(r0, r1, dtype=np.float64)[:, None] + 0.5 - height / 2.0
    xs = width / 2.0 + cos_a * dx - sin_a * dy
    ys = height / 2.0 + sin_a * dx + cos_a * dy
    inside = (xs >= 0.0) & (xs < width) & (ys >= 0.0) & (ys < height)
    if not inside.any():
        return np.full((r1 - r0, c1 - c0), fill, dtype=np.uint8)

    # Continuous position in pixel-index units; outside pixels are clamped only to keep their
    # (discarded) taps in range.
    u = np.clip(xs, 0.0, width) - 0.5
    v = np.clip(ys, 0.0, height) - 0.5
    x0 = np.floor(u)
    y0 = np.floor(v)
    wx = cubic_weights((u - x0).astype(np.float32))
    wy = cubic_weights((v - y0).astype(np.float32))
    x0 = x0.astype(np.intp)
    y0 = y0.astype(np.intp)

    # Taps x0-1 .. x0+2 and y0-1 .. y0+2. Gather them from an edge-replicated copy of the
    # source window they cover, which is the same as clamping every tap index to the plane.
    xa, xb = int(x0.min()) - 1, int(x0.max()) + 3
    ya, yb = int(y0.min()) - 1, int(y0.max()) + 3
    rows = np.clip(np.arange(ya, yb), 0, height - 1)
    cols = np.clip(np.arange(xa, xb), 0, width - 1)
    padded = src[rows[:, None], cols[None, :]].astype(np.float32)
    flat = padded.ravel()
    stride = padded.shape[1]
    base = (y0 - 1 - ya) * stride + (x0 - 1 - xa)

    acc = np.zeros(base.shape, dtype=np.float32)
    for m in range(4):
        line = wx[0] * flat.take(base + m * stride)
        for n in range(1, 4):
            line += wx[n] * flat.take(base + (m * stride + n))
        line *= wy[m]
        acc += line
    out = _to_uint8(acc)
    out[~inside] = fill
    return out
