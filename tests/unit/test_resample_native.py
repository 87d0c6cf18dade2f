"""The compiled resampler passes (reelgpu/ops/_resample.c) on their own: Pillow's fixed-point
weights, byte equality with Pillow on 1080p geometry, argument checking before any memory is
touched, and the scratch buffer that is reused per thread. crop_scale's own tests
(test_crop_scale.py) run every case through both this module and the numpy fallback.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from reelgpu.ops import resample_native
from reelgpu.ops.resample import PRECISION_BITS, axis_taps

pytestmark = pytest.mark.skipif(
    not resample_native.AVAILABLE, reason="reelgpu.ops._resample was not built (no C compiler at install time)"
)


def noise(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)


def test_q22_weights_are_pillows_rounding_of_the_float_weights() -> None:
    taps = axis_taps(1920, 656.37, 608.0, 1080)
    exact = taps.weight.astype(np.float64) * (1 << PRECISION_BITS)
    # Within one float32 ulp of the rounded value, and rows still sum to ~1.0 in Q22.
    assert np.abs(taps.weight_q22 - exact).max() <= 1.0 + np.abs(exact).max() * 2**-23
    assert np.abs(taps.weight_q22.sum(axis=1) - (1 << PRECISION_BITS)).max() <= taps.taps
    assert taps.weight_q22.dtype == np.int32 and not taps.weight_q22.flags.writeable


@pytest.mark.parametrize(
    ("plane", "box", "out"),
    [
        ((1080, 1920), (656.37, 0.0, 608.0, 1080.0), (1080, 1920)),  # the framing reel, luma
        ((540, 960), (328.185, 0.0, 304.0, 540.0), (540, 960)),  # ... and its chroma
        ((2160, 3840), (1312.5, 10.25, 1216.0, 2149.0), (1080, 1920)),  # 4K source, downscaled
        ((1080, 1920), (0.0, 0.0, 1920.0, 1080.0), (640, 360)),  # thumbnail, strong antialias
    ],
)
def test_passes_equal_pillow_byte_for_byte(plane: tuple[int, int], box: tuple, out: tuple[int, int]) -> None:
    src = noise(*plane, seed=plane[0])
    x, y, w, h = box
    tx, ty = axis_taps(plane[1], x, w, out[0]), axis_taps(plane[0], y, h, out[1])
    window = src[ty.lo : ty.hi, tx.lo : tx.hi]
    got = resample_native.vertical(resample_native.horizontal(window, tx), ty)
    ref = np.asarray(Image.fromarray(src).resize(out, Image.BICUBIC, box=(x, y, x + w, y + h)))
    np.testing.assert_array_equal(got, ref)


@pytest.fixture(params=["simd", "portable"])
def simd_mode(request: pytest.FixtureRequest) -> Iterator[bool]:
    """Run with the AVX2 pass (where the CPU has it) and with the portable pass."""
    from reelgpu.ops import _resample

    before = _resample.simd()
    active = _resample.simd(request.param == "simd")
    if request.param == "simd" and not active:
        pytest.skip("this CPU or build has no AVX2 pass (the portable pass is what runs)")
    yield active
    _resample.simd(before)


@pytest.mark.parametrize("seed", range(4))
def test_simd_and_portable_passes_equal_pillow(simd_mode: bool, seed: int) -> None:
    """Both vertical-pass implementations, over random geometry: upscales (4 taps), downscales
    (up to ~60 taps, split into pairs for AVX2), widths that are not multiples of 16 (the SIMD
    pass's scalar tail), saturated black/white content (clipping), and >64 taps (portable)."""
    rng = np.random.default_rng(seed)
    for case in range(25):
        h, w = (int(v) for v in rng.integers(1, 260, 2))
        if case == 0:
            h = 2400  # to 7 rows: ~700 taps per output, beyond the SIMD pass's 64
        src = noise(h, w, seed=case) if case % 2 else np.where(noise(h, w, seed=case) < 128, 0, 255).astype(np.uint8)
        bh = float(h) if case == 0 else float(rng.uniform(0.3, h))
        by = float(rng.uniform(0.0, h - bh))
        out_h = 7 if case == 0 else int(rng.integers(1, 400))
        ty = axis_taps(h, by, bh, out_h)
        assert case != 0 or ty.taps > 64
        got = resample_native.vertical(src[ty.lo : ty.hi], ty)
        ref = np.asarray(Image.fromarray(src).resize((w, out_h), Image.BICUBIC, box=(0, by, w, by + bh)))
        np.testing.assert_array_equal(got, ref, err_msg=f"simd={simd_mode} plane={w}x{h} box_h={bh} out_h={out_h}")


def test_wrong_window_size_is_refused() -> None:
    tx = axis_taps(100, 10.0, 50.0, 80)
    with pytest.raises(ValueError, match="the window has 99 columns"):
        resample_native.horizontal(noise(10, 99, seed=1), tx)
    with pytest.raises(ValueError, match="2-D uint8"):
        resample_native.vertical(np.zeros((10, 10), np.float32), tx)


def test_the_c_module_checks_every_length_and_index() -> None:
    """Called directly (bypassing the wrapper), bad tables raise instead of reading out of bounds."""
    from reelgpu.ops import _resample

    src = noise(8, 8, seed=2)
    out = np.empty((4, 8), np.uint8)
    scratch = np.empty(4096, np.uint8)
    index = np.array([[0, 1], [2, 3], [4, 5], [6, 7]], np.int32)
    weight = np.full((4, 2), 1 << 21, np.int32)
    _resample.vertical(src, 8, 8, out, index, weight, 2, 0, scratch)  # the valid call
    np.testing.assert_array_equal(out, ((src[0::2].astype(int) + src[1::2] + 1) // 2).astype(np.uint8))
    bad_index = index.copy()
    bad_index[3, 1] = 8
    with pytest.raises(ValueError, match="tap index 8 outside"):
        _resample.vertical(src, 8, 8, out, bad_index, weight, 2, 0, scratch)
    with pytest.raises(ValueError, match="tap index 0 outside"):
        _resample.vertical(src, 8, 8, out, index, weight, 2, 1, scratch)
    with pytest.raises(ValueError, match="src must be"):
        _resample.vertical(src, 9, 8, out, index, weight, 2, 0, scratch)
    with pytest.raises(ValueError, match="index and weight"):
        _resample.vertical(src, 8, 8, out, index, weight[:3], 2, 0, scratch)
    with pytest.raises(ValueError, match="scratch"):
        _resample.horizontal(src, 8, 8, np.empty((8, 4), np.uint8), index, weight, 2, 0, scratch[:100])
    with pytest.raises(TypeError):
        _resample.vertical(src, 8, 8, b"read-only", index, weight, 2, 0, scratch)


def test_threads_share_nothing() -> None:
    """The render thread of each export has its own scratch buffer: parallel calls on different
    inputs give the same bytes as serial ones."""
    tx = axis_taps(640, 100.5, 300.0, 500)
    planes = [noise(360, 640, seed=s)[:, tx.lo : tx.hi] for s in range(8)]
    serial = [resample_native.horizontal(p, tx) for p in planes]
    results: list[np.ndarray | None] = [None] * len(planes)

    def work(i: int) -> None:
        for _ in range(5):
            results[i] = resample_native.horizontal(planes[i], tx)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(planes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, ref in zip(results, serial):
        np.testing.assert_array_equal(got, ref)
