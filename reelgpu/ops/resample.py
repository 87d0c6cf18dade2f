"""Tap tables for the bicubic (a = -0.5) resampler: which source samples feed each output
sample, and with what weight.

The tables are THE definition of the resampling math. The numpy reference
(:mod:`reelgpu.ops.crop_scale`) applies them, and the CUDA kernel uploads the same
``index``/``weight`` arrays and does one weighted sum per output pixel, so both backends agree
by construction. The formulas copy Pillow's ``precompute_coeffs`` (``libImaging/Resample.c``),
because Pillow's ``Image.resize(size, BICUBIC, box=...)`` is the oracle of the tests:

* ``scale = (in1 - in0) / out``; the filter is stretched by ``max(scale, 1)`` (antialiasing
  when downscaling, plain interpolation when upscaling), so the support is ``2 * max(scale, 1)``;
* output sample ``i`` is centred at ``in0 + (i + 0.5) * scale`` (pixel centres at +0.5);
* taps run from ``trunc(centre - support + 0.5)`` to ``trunc(centre + support + 0.5)``
  (exclusive), clipped to the plane, and the weights are renormalised to sum 1, so the plane
  edges are handled by dropping the missing taps, not by replicating pixels;
* the box edges are rounded to float32 first, as Pillow parses the box as C floats. This also
  makes float32 values exact cache keys.

One addition to Pillow (which refuses such boxes): an output sample whose centre falls outside
the plane has no taps (``valid`` is False) and gets the fill colour.

Each table holds the weights twice: float32 ``weight`` (the CUDA kernel and the numpy fallback)
and ``weight_q22``, Pillow's own 8-bit fixed point (``normalize_coeffs_8bpc``: Q22, rounded half
away from zero), which the compiled CPU passes (``reelgpu/ops/_resample.c``) apply with Pillow's
integer arithmetic, so they give the oracle's bytes.

For the numpy fallback each table can also lay its weights out as "bands": small dense
matrices over consecutive output samples, so numpy applies them with a few BLAS matrix products
instead of per-tap gathers. Bands are pure bookkeeping over ``weight``, built on first use only
(a pan builds new tables every frame, and the compiled path never needs them).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

#: Half-width of the bicubic kernel in source pixels at scale 1 (Pillow's ``BICUBIC.support``).
BICUBIC_SUPPORT = 2.0
#: Pillow's fixed-point precision for 8-bit images: ``PRECISION_BITS = 32 - 8 - 2``.
PRECISION_BITS = 22
#: Output samples per band (numpy fallback). Small bands keep the dense matrices mostly
#: non-zero (a 1.78x upscale touches ~4 of the ~24 source samples a 32-output band spans);
#: 32 measured 30 % faster than 64 on one BLAS thread, 16 and 8 no better.
BAND_SIZE = 32


def bicubic_kernel(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (Catmull-Rom), vectorised, float64.

    Same piecewise polynomials as Pillow's ``bicubic_filter``; zero for ``|x| >= 2``.
    """
    a = -0.5
    x = np.abs(np.asarray(x, dtype=np.float64))
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


def cubic_weights(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Weights of the 4 taps ``floor(p) - 1 .. floor(p) + 2`` around a sample point ``p`` with
    fractional part ``t`` in [0, 1): ``bicubic_kernel`` at distances t+1, t, 1-t, 2-t, written
    as the expanded Catmull-Rom polynomials (cheaper; same dtype as ``t``; exact 0, 1, 0, 0
    at t = 0, so whole-pixel positions copy pixels).
    """
    t2 = t * t
    t3 = t2 * t
    return (
        -0.5 * t3 + t2 - 0.5 * t,
        1.5 * t3 - 2.5 * t2 + 1.0,
        -1.5 * t3 + 2.0 * t2 + 0.5 * t,
        0.5 * t3 - 0.5 * t2,
    )


def vertical_first(in_w: int, in_h: int, out_w: int, out_h: int) -> bool:
    """Whether the vertical pass runs first: Pillow >= 13's rule (``ImagingResampleInner``),
    decided on the whole plane and output sizes, not the box.

    Each pass rounds and clips to 8 bits, so the order changes results on sharp content.
    """
    return (in_h - out_h) > 0 and (in_h - out_h) > (in_w - out_w) * 2


@dataclass(frozen=True)
class Band:
    """Output samples ``[out_lo, out_hi)`` read source samples ``[src_lo, src_hi)`` only;
    ``matrix[i, j]`` is the weight of source ``src_lo + j`` in output ``out_lo + i`` (float32)."""

    out_lo: int
    out_hi: int
    src_lo: int
    src_hi: int
    matrix: np.ndarray


@dataclass(frozen=True)
class AxisTaps:
    """The resampling of one axis: ``in_size`` source samples to ``out_size`` output samples.

    ``index`` (out_size, K) int32 holds absolute source indices and ``weight`` (out_size, K)
    float32 their weights (``weight_q22``: the same in Pillow's int32 Q22 fixed point); unused
    slots have weight 0 and an index inside ``[lo, hi)``, so a
    kernel may read all K slots without bounds checks. ``valid[i]`` is False when output ``i``
    lies outside the plane (fill colour). ``[lo, hi)`` is the range of source samples that any
    valid output reads: only that part of the plane needs to be touched. ``identity`` is True
    when the axis maps every sample onto itself (the pass can be skipped, as Pillow does).
    """

    in_size: int
    out_size: int
    index: np.ndarray
    weight: np.ndarray
    weight_q22: np.ndarray
    valid: np.ndarray
    lo: int
    hi: int
    identity: bool

    @property
    def all_valid(self) -> bool:
        return bool(self.valid.all())

    @property
    def taps(self) -> int:
        """K, the number of tap slots per output sample."""
        return int(self.index.shape[1])

    @cached_property
    def bands(self) -> tuple[Band, ...]:
        """The weights as dense band matrices (numpy fallback; built once per table)."""
        return _bands(self.index, self.weight, self.valid)


def axis_taps(in_size: int, start: float, length: float, out_size: int) -> AxisTaps:
    """Taps mapping the source span ``[start, start + length)`` of an axis of ``in_size``
    samples onto ``out_size`` output samples (cached: a static crop computes them once)."""
    in0 = float(np.float32(start))
    in1 = float(np.float32(start + length))
    return _axis_taps(int(in_size), in0, in1, int(out_size))


# A frame needs 4 tables (x and y, luma and chroma), ~0.4 MB each at 1080x1920: 32 entries
# keep a few static crops warm without letting a moving crop hoard memory.
@lru_cache(maxsize=32)
def _axis_taps(in_size: int, in0: float, in1: float, out_size: int) -> AxisTaps:
    # (in1 - in0) is a float32 subtraction in Pillow (both operands are C floats).
    scale = float(np.float32(in1) - np.float32(in0)) / out_size
    filterscale = max(scale, 1.0)
    support = BICUBIC_SUPPORT * filterscale

    centre = in0 + (np.arange(out_size, dtype=np.float64) + 0.5) * scale
    xmin = np.maximum(np.trunc(centre - support + 0.5), 0.0).astype(np.int64)
    xmax = np.minimum(np.trunc(centre + support + 0.5), float(in_size)).astype(np.int64)
    valid = (centre >= 0.0) & (centre < in_size)
    count = np.where(valid, np.maximum(xmax - xmin, 0), 0)

    k = max(int(count.max(initial=0)), 1)
    slot = np.arange(k, dtype=np.int64)[None, :]
    used = slot < count[:, None]
    # Multiplying by the reciprocal, as Pillow does, keeps the doubles (and so the Q22 weights)
    # bit-identical to Pillow's.
    raw = bicubic_kernel((xmin[:, None] + slot - centre[:, None] + 0.5) * (1.0 / filterscale))
    raw = np.where(used, raw, 0.0)
    total = raw.sum(axis=1, keepdims=True)
    weight = np.divide(raw, total, out=np.zeros_like(raw), where=total != 0.0)

    if valid.any():
        lo = int(xmin[valid].min())
        hi = int((xmin + count)[valid].max())
    else:
        lo = hi = 0
    index = np.where(used, xmin[:, None] + slot, np.where(valid, xmin, lo)[:, None])

    identity = in0 == 0.0 and in1 == float(in_size) and out_size == in_size
    return AxisTaps(
        in_size=in_size,
        out_size=out_size,
        index=_frozen(index.astype(np.int32)),
        weight=_frozen(weight.astype(np.float32)),
        weight_q22=_frozen(_to_q22(weight)),
        valid=_frozen(valid),
        lo=lo,
        hi=hi,
        identity=identity,
    )


def _to_q22(weight: np.ndarray) -> np.ndarray:
    """Pillow's ``normalize_coeffs_8bpc``: ``(int)(w * 2**22 +- 0.5)``, truncating toward zero."""
    scaled = weight * float(1 << PRECISION_BITS)
    return np.trunc(np.where(weight < 0.0, scaled - 0.5, scaled + 0.5)).astype(np.int32)


def _bands(index: np.ndarray, weight: np.ndarray, valid: np.ndarray) -> tuple[Band, ...]:
    """Group consecutive outputs into dense band matrices (outputs without taps are skipped;
    their values are overwritten by the fill colour anyway). Zero-weight slots are left out:
    they add nothing to a product."""
    bands: list[Band] = []
    for out_lo in range(0, index.shape[0], BAND_SIZE):
        out_hi = min(out_lo + BAND_SIZE, index.shape[0])
        rows = slice(out_lo, out_hi)
        if not valid[rows].any():
            continue
        taps = (weight[rows] != 0.0) & valid[rows, None]
        if not taps.any():  # every weight zero (a lone tap at a zero of the kernel): outputs 0
            taps = valid[rows, None] & (np.arange(index.shape[1]) == 0)
        src_lo = int(index[rows][taps].min())
        src_hi = int(index[rows][taps].max()) + 1
        matrix = np.zeros((out_hi - out_lo, src_hi - src_lo), dtype=np.float64)
        r, c = np.nonzero(taps)
        np.add.at(matrix, (r, index[rows][r, c] - src_lo), weight[rows][r, c])
        bands.append(Band(out_lo, out_hi, src_lo, src_hi, _frozen(matrix.astype(np.float32))))
    return tuple(bands)


def _frozen(array: np.ndarray) -> np.ndarray:
    """C-contiguous and read-only: cached tables are shared by every caller."""
    array = np.ascontiguousarray(array)
    array.flags.writeable = False
    return array
