"""Per-frame cost of the frame operations, on synthetic I420 planes (no decode, no encode).

* crop_scale: the framing op, 1080p and 2160p sources to a 1080x1920 reel, a static box
  (tap tables cached) and a sub-pixel pan (new tap tables every frame): the compiled passes
  (``reelgpu.ops._resample``, what runs when it was built), the numpy fallback (with one BLAS
  thread, as the frame loop runs it, and with BLAS's default threads) and CuPy
  (``reelgpu.ops.cuda``);
* highlight and sprite (overlay/annotate ops) on a 1080x1920 frame, when the modules exist;
* the transition mixes (dissolve, fade to black).

Planes hold a moving-detail pattern like the sample videos; the cost of these ops does not
depend on the pixel values.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
from collections.abc import Callable
from types import ModuleType
from typing import Any

import benchlib
import numpy as np
import pytest

from reelgpu.frames import Planes
from reelgpu.ops.crop_scale import crop_scale

SOURCES = {"1080p": (1920, 1080), "2160p": (3840, 2160)}
OUT_W, OUT_H = 1080, 1920


def make_planes(width: int, height: int, xp: ModuleType = np) -> Planes:
    return Planes(*(xp.asarray(p) for p in benchlib.pattern_planes(width, height)))


def _box(width: int, height: int, x_offset: float = 0.0) -> tuple[float, float, float, float]:
    """The centred 9:16 box of the source (608x1080 at 1080p), shifted by ``x_offset``."""
    w = height * 9 / 16
    return (width - w) / 2 + x_offset, 0.0, w, float(height)


def _pan_boxes(width: int, height: int) -> Callable[[], tuple[float, float, float, float]]:
    """A new sub-pixel x on every call, so the tap tables are rebuilt as in a real pan."""
    counter = itertools.count()
    return lambda: _box(width, height, (next(counter) % 4000) * 0.137 - 274.0)


def _optional(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pytest.skip(f"{module} is not available in this checkout ({exc})")


# --------------------------------------------------------------------------- crop_scale
def _blas_limit(threads: str) -> contextlib.AbstractContextManager[Any]:
    """``1``: one BLAS thread, as reelgpu.pipeline runs the ops; ``default``: BLAS's own choice."""
    if threads == "default":
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        pytest.skip("threadpoolctl is not installed (needed to limit BLAS to one thread)")
    return threadpool_limits(limits=int(threads), user_api="blas")


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("motion", ["static", "pan"])
def test_crop_scale_compiled(benchmark: Any, source: str, motion: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from reelgpu.ops import resample_native

    if not resample_native.AVAILABLE:
        pytest.skip("reelgpu.ops._resample was not built (no C compiler when reelgpu was installed)")
    monkeypatch.setenv("REELGPU_RESAMPLER", "auto")
    width, height = SOURCES[source]
    planes = make_planes(width, height)
    next_box = _pan_boxes(width, height) if motion == "pan" else (lambda: _box(width, height))
    benchmark.group = f"crop_scale {source} -> {OUT_W}x{OUT_H}"
    benchmark.extra_info.update(source=f"{width}x{height}", out=f"{OUT_W}x{OUT_H}", backend="compiled", motion=motion)
    out = benchmark(lambda: crop_scale(planes, next_box(), OUT_W, OUT_H))
    assert out.y.shape == (OUT_H, OUT_W)


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("motion", ["static", "pan"])
@pytest.mark.parametrize("blas", ["1", "default"])
def test_crop_scale_numpy(benchmark: Any, source: str, motion: str, blas: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REELGPU_RESAMPLER", "numpy")
    width, height = SOURCES[source]
    planes = make_planes(width, height)
    next_box = _pan_boxes(width, height) if motion == "pan" else (lambda: _box(width, height))
    benchmark.group = f"crop_scale {source} -> {OUT_W}x{OUT_H}"
    benchmark.extra_info.update(source=f"{width}x{height}", out=f"{OUT_W}x{OUT_H}", backend="numpy", motion=motion,
                                blas_threads=blas)
    with _blas_limit(blas):
        out = benchmark(lambda: crop_scale(planes, next_box(), OUT_W, OUT_H))
    assert out.y.shape == (OUT_H, OUT_W)


def _cupy_or_skip() -> ModuleType:
    try:
        import cupy
    except ImportError:
        pytest.skip("CuPy is not installed (pip install 'reelgpu[gpu]' on a machine with an NVIDIA GPU)")
    try:
        usable = bool(cupy.is_available())
    except Exception as exc:  # a broken driver raises instead of answering
        pytest.skip(f"CuPy cannot reach a GPU: {exc.__class__.__name__}: {exc}")
    if not usable:
        pytest.skip("no usable CUDA GPU (cupy.is_available() is False)")
    return cupy


def _cupy_crop_scale() -> Callable[..., Planes]:
    """The CuPy implementation: ``reelgpu.ops.cuda.crop_scale`` (same signature as the numpy op)."""
    return _optional("reelgpu.ops.cuda").crop_scale


@pytest.mark.gpu
@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("motion", ["static", "pan"])
def test_crop_scale_cupy(benchmark: Any, source: str, motion: str) -> None:
    cupy = _cupy_or_skip()
    fn = _cupy_crop_scale()
    width, height = SOURCES[source]
    gpu = _optional("reelgpu.ops.cuda")
    with gpu.backend().using():  # uploaded on the reelgpu stream, so the kernels see them written
        planes = make_planes(width, height, cupy)
    next_box = _pan_boxes(width, height) if motion == "pan" else (lambda: _box(width, height))
    try:
        fn(planes, next_box(), OUT_W, OUT_H)
    except (TypeError, ValueError) as exc:
        pytest.skip(f"reelgpu.ops.crop_scale has no CuPy path in this build ({exc})")
    stream = gpu.stream()  # the ops' own non-blocking stream: the default one would not wait for them

    def run() -> Planes:
        out = fn(planes, next_box(), OUT_W, OUT_H)
        stream.synchronize()
        return out

    benchmark.group = f"crop_scale {source} -> {OUT_W}x{OUT_H}"
    benchmark.extra_info.update(source=f"{width}x{height}", out=f"{OUT_W}x{OUT_H}", backend="cupy", motion=motion)
    benchmark(run)


# --------------------------------------------------------------------------- overlay ops
def _fresh(planes: Planes) -> Callable[[], tuple[tuple[Planes], dict[str, Any]]]:
    """pedantic() setup: a fresh copy per round (the ops draw in place)."""
    return lambda: ((Planes(*(p.copy() for p in planes)),), {})


def test_highlight_numpy(benchmark: Any) -> None:
    highlight = _optional("reelgpu.ops.highlight")
    planes = make_planes(OUT_W, OUT_H)
    draw = highlight.HighlightDraw(cx=540.0, cy=1100.0, rx=140.0, ry=60.0, arc="ground", dim=0.35,
                                   fill_opacity=0.15, fill_yuv=(180, 100, 140), stroke_opacity=0.85,
                                   stroke_width=4.0, outline_width=6.0, outline_opacity=0.5,
                                   stroke_yuv=(180, 100, 140), outline_yuv=(60, 120, 130))
    benchmark.group = f"overlay ops {OUT_W}x{OUT_H}"
    benchmark.extra_info.update(op="draw_highlight", backend="numpy", ellipse="280x120 ground, dim+fill+rings")
    benchmark.pedantic(lambda p: highlight.draw_highlight(p, draw), setup=_fresh(planes), rounds=100)


def test_sprite_numpy(benchmark: Any) -> None:
    sprite = _optional("reelgpu.ops.sprite")
    color = _optional("reelgpu.ops.color")
    planes = make_planes(OUT_W, OUT_H)
    rgba = np.zeros((240, OUT_W, 4), np.uint8)  # a full-width banner, soft-edged
    rgba[..., 0], rgba[..., 1], rgba[..., 2] = 20, 40, 200
    rgba[..., 3] = np.linspace(0, 230, OUT_W, dtype=np.float32).astype(np.uint8)[None, :]
    banner = color.rgba_to_yuva(rgba, x=0, y=1600)
    benchmark.group = f"overlay ops {OUT_W}x{OUT_H}"
    benchmark.extra_info.update(op="blend_sprite", backend="numpy", sprite=f"{OUT_W}x240")
    benchmark.pedantic(lambda p: sprite.blend_sprite(p, banner, 0.9), setup=_fresh(planes), rounds=100)


# --------------------------------------------------------------------------- transitions
def test_dissolve_numpy(benchmark: Any) -> None:
    mix = _optional("reelgpu.ops.mix")
    a, b = make_planes(OUT_W, OUT_H), make_planes(OUT_W, OUT_H)
    benchmark.group = f"transitions {OUT_W}x{OUT_H}"
    benchmark.extra_info.update(op="dissolve", backend="numpy")
    benchmark(mix.dissolve, a, b, 0.4)


def test_fade_to_black_numpy(benchmark: Any) -> None:
    mix = _optional("reelgpu.ops.mix")
    a = make_planes(OUT_W, OUT_H)
    benchmark.group = f"transitions {OUT_W}x{OUT_H}"
    benchmark.extra_info.update(op="fade_to_black", backend="numpy")
    benchmark(mix.fade_to_black, a, 0.6)
