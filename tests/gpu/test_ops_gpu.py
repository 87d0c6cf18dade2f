"""Each CuPy op against its numpy reference, on random planes and on decoded video frames.

Tolerance (docs/gpu.md): max abs diff <= 2 levels and PSNR >= 48 dB per plane. The kernels
are written to reproduce the references' float32 arithmetic, so most of these are exact; the
host-compiled kernels (tests/unit/test_kernels_host.py) pin that down without a GPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from reelgpu.frames import Planes
from reelgpu.media.decode_cpu import frame_to_planes
from reelgpu.ops import mix
from reelgpu.ops.color import hex_to_yuv, rgba_to_yuva
from reelgpu.ops.crop_scale import crop_scale
from reelgpu.ops.highlight import HighlightDraw, draw_highlight
from reelgpu.ops.sprite import blend_sprite
from tests.gpu._parity import assert_planes_close


def noise_planes(h: int, w: int, seed: int) -> Planes:
    rng = np.random.default_rng(seed)
    return Planes(rng.integers(0, 256, (h, w), dtype=np.uint8), rng.integers(0, 256, (h // 2, w // 2), dtype=np.uint8),
                  rng.integers(0, 256, (h // 2, w // 2), dtype=np.uint8))


@pytest.fixture(scope="module")
def video_planes(sample_30: Path) -> list[Planes]:
    with av.open(str(sample_30)) as c:
        return [frame_to_planes(f) for _, f in zip(range(3), c.decode(video=0))]


def cases(video: list[Planes]) -> list[tuple[str, Planes]]:
    return [("noise", noise_planes(180, 320, 1)), ("noise-1080p", noise_planes(1080, 1920, 2)),
            *((f"video{i}", p) for i, p in enumerate(video))]


CROPS = [((10.3, 5.7, 200.5, 120.2), 96, 64, 0.0), ((50.25, 30.5, 60.0, 40.0), 256, 160, 0.0),
         ((-12.0, -6.5, 120.0, 90.0), 120, 90, 0.0), ((0.0, 0.0, 320.0, 180.0), 300, 40, 0.0),
         ((60.0, 30.0, 120.0, 100.0), 120, 100, 90.0), ((80.5, 20.25, 140.0, 120.0), 140, 120, 30.5)]


@pytest.mark.parametrize(("box", "out_w", "out_h", "rotation"), CROPS)
def test_crop_scale(gpu: Any, video_planes: list[Planes], box, out_w, out_h, rotation) -> None:
    for name, src in cases(video_planes):
        ref = crop_scale(src, box, out_w, out_h, rotation_deg=rotation)
        got = gpu.to_host(gpu.crop_scale(gpu.to_device(src), box, out_w, out_h, rotation_deg=rotation))
        assert_planes_close(got, ref, what=f"{name} box={box} rot={rotation}")


def test_crop_scale_1080p_to_reel(gpu: Any) -> None:
    src = noise_planes(1080, 1920, 5)
    for x in (656.0, 656.37, 700.5):
        box = (x, 0.0, 607.5, 1080.0)
        ref = crop_scale(src, box, 1080, 1920)
        got = gpu.to_host(gpu.crop_scale(gpu.to_device(src), box, 1080, 1920))
        assert_planes_close(got, ref, what=f"pan x={x}")


YELLOW = hex_to_yuv("#FFD400")
DARK = hex_to_yuv("#FFD400", scale=0.3)


@pytest.mark.parametrize("d", [
    HighlightDraw(cx=150.3, cy=80.6, rx=40.0, ry=55.5, fill_opacity=0.05, fill_yuv=YELLOW, stroke_yuv=YELLOW,
                  outline_yuv=DARK),
    HighlightDraw(cx=160.0, cy=150.0, rx=61.5, ry=9.0, arc="ground", fill_opacity=0.15, fill_yuv=YELLOW,
                  stroke_yuv=YELLOW, outline_yuv=DARK),
    HighlightDraw(cx=100.0, cy=90.0, rx=30.0, ry=30.0, dim=0.4),
    HighlightDraw(cx=3.0, cy=175.0, rx=50.0, ry=20.0, dim=0.6, effect="brightness_boost", stroke_yuv=YELLOW,
                  outline_yuv=DARK),
], ids=["body", "ground", "colour-none", "edge-boost"])
def test_highlight(gpu: Any, video_planes: list[Planes], d: HighlightDraw) -> None:
    for name, src in cases(video_planes):
        ref = Planes(*(p.copy() for p in src))
        draw_highlight(ref, d)
        dev = gpu.to_device(src)
        gpu.draw_highlight(dev, d)
        assert_planes_close(gpu.to_host(dev), ref, what=name)


@pytest.mark.parametrize(("x", "y"), [(40, 30), (-24, -16), (300, 170)])
@pytest.mark.parametrize("opacity", [1.0, 0.37])
def test_sprite(gpu: Any, video_planes: list[Planes], x: int, y: int, opacity: float) -> None:
    rgba = np.random.default_rng(3).integers(0, 256, (46, 62, 4), dtype=np.uint8)
    sprite = rgba_to_yuva(rgba, x=x, y=y, trim=False)
    for name, src in cases(video_planes):
        ref = Planes(*(p.copy() for p in src))
        blend_sprite(ref, sprite, opacity)
        dev = gpu.to_device(src)
        gpu.blend_sprite(dev, sprite, opacity)
        assert_planes_close(gpu.to_host(dev), ref, what=name)


def test_mix(gpu: Any, video_planes: list[Planes]) -> None:
    a, b = video_planes[0], noise_planes(180, 320, 9)
    for alpha in (0.0, 0.3, 0.77, 1.0):
        got = gpu.to_host(gpu.dissolve(gpu.to_device(a), gpu.to_device(b), alpha))
        assert_planes_close(got, mix.dissolve(a, b, alpha), what=f"dissolve {alpha}")
    for k in (0.0, 0.42, 0.999):
        got = gpu.to_host(gpu.fade_to_black(gpu.to_device(a), k))
        assert_planes_close(got, mix.fade_to_black(a, k), what=f"fade {k}")


def test_ops_stay_on_the_reelgpu_stream_and_reuse_outputs(gpu: Any, cp: Any) -> None:
    """Steady state allocates nothing new in the pool, and the default stream sees no work."""
    src = gpu.to_device(noise_planes(180, 320, 4))
    gpu.crop_scale(src, (10.0, 10.0, 100.0, 100.0), 64, 64)
    pool = gpu.backend().pool
    held = pool.held()
    for _ in range(5):
        gpu.crop_scale(src, (10.0, 10.0, 100.0, 100.0), 64, 64)
    assert pool.held() == held
    assert gpu.stream().ptr != cp.cuda.Stream.null.ptr
    gpu.record_ready().synchronize()
