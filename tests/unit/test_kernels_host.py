"""The CUDA kernels, compiled for the CPU, against the numpy references.

No GPU is needed: every ``reelgpu/ops/kernels/*.cu`` is compiled with the system C++ compiler
and ``host_shim.h`` (CUDA built-ins as plain C++; a launch loops over grid x block) into a shared
library, with launchers generated from the kernels' own signatures. A :class:`HostBackend` then
runs the GPU op code of ``reelgpu.ops.cuda._ops`` (tap upload, pass order, clipping, launch
geometry) over numpy arrays, and the results are compared with the numpy references.

The launchers also check every argument against the kernel's C signature (pointer element type
vs array dtype, int/float/double vs numpy scalar type): CuPy passes whatever it is given, so a
wrong scalar type there would corrupt a launch silently on the GPU.

What this cannot check: anything GPU-specific (races between threads, launch limits, memory
spaces, NVRTC quirks). tests/unit/test_kernels_nvcc.py compiles the same sources with nvcc and
tests/gpu runs them for real.
"""

from __future__ import annotations

import ctypes
import math
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

import reelgpu.ops.cuda._ops as gpu_ops
from reelgpu.frames import Planes
from reelgpu.ops import mix
from reelgpu.ops.color import rgba_to_yuva
from reelgpu.ops.crop_scale import crop_scale
from reelgpu.ops.cuda._pool import BufferPool
from reelgpu.ops.cuda._runtime import KERNEL_MODULES, kernel_source
from reelgpu.ops.highlight import HighlightDraw, draw_highlight, draw_highlight_dense
from reelgpu.ops.sprite import blend_sprite

KERNELS = Path(__file__).resolve().parents[2] / "reelgpu" / "ops" / "kernels"
CXX = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")

pytestmark = pytest.mark.skipif(CXX is None, reason="no C++ compiler (g++) to build the kernels for the host")

_KERNEL_DECL = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)', re.S)

# Pointer element types -> numpy dtypes; scalar C types -> (ctypes type, numpy scalar type).
_POINTEE = {"rg_u8": np.uint8, "rg_u16": np.uint16, "float": np.float32, "int": np.int32}
_SCALAR = {"int": (ctypes.c_int, np.int32), "float": (ctypes.c_float, np.float32),
           "double": (ctypes.c_double, np.float64)}


def parse_kernels(source: str) -> dict[str, list[tuple[str, str]]]:
    """``{kernel: [(c_type, name), ...]}`` of every ``extern "C" __global__`` kernel."""
    kernels = {}
    for name, params in _KERNEL_DECL.findall(source):
        parsed = []
        for param in (p.strip() for p in params.split(",")):
            m = re.match(r"(.*?)([A-Za-z_]\w*)$", param)
            assert m, f"cannot parse parameter {param!r} of {name}"
            parsed.append((" ".join(m.group(1).split()), m.group(2)))
        kernels[name] = parsed
    return kernels


class HostKernel:
    """One kernel's generated launcher, with its C signature for argument checks."""

    def __init__(self, lib: ctypes.CDLL, name: str, params: list[tuple[str, str]]) -> None:
        self.name = name
        self.params = params
        self.fn = getattr(lib, f"rg_host_{name}")
        self.fn.restype = None
        self.fn.argtypes = [ctypes.c_uint] * 6 + [
            ctypes.c_void_p if "*" in ctype else _SCALAR[ctype][0] for ctype, _ in params]

    def __call__(self, grid: tuple[int, int, int], block: tuple[int, int, int], args: tuple[Any, ...]) -> None:
        assert len(args) == len(self.params), f"{self.name}: {len(args)} args for {len(self.params)} parameters"
        converted = []
        for (ctype, pname), arg in zip(self.params, args):
            if "*" in ctype:
                base = ctype.replace("const", "").replace("*", "").strip()
                assert isinstance(arg, np.ndarray), f"{self.name}.{pname}: expected an array, got {type(arg)}"
                assert arg.dtype == _POINTEE[base], f"{self.name}.{pname}: {ctype} given {arg.dtype}"
                converted.append(arg.ctypes.data)
            else:
                want = _SCALAR[ctype][1]
                assert type(arg) is want, f"{self.name}.{pname}: {ctype} given {type(arg).__name__}"
                converted.append(arg.item())
        self.fn(*grid, *block, *converted)


class HostBackend:
    """:class:`reelgpu.ops.cuda._launch.KernelBackend` over numpy arrays and the host build."""

    def __init__(self, kernels: dict[str, dict[str, HostKernel]]) -> None:
        self.kernels = kernels
        self.pool = BufferPool(lambda shape, dtype: np.empty(shape, dtype))
        self.launched: list[str] = []

    def launch(self, module: str, kernel: str, grid: tuple[int, int, int], block: tuple[int, int, int],
               args: tuple[Any, ...]) -> None:
        self.launched.append(kernel)
        self.kernels[module][kernel](grid, block, args)

    def upload(self, host: np.ndarray) -> np.ndarray:
        return np.array(host, copy=True)

    def using(self) -> AbstractContextManager[Any]:
        return nullcontext()

    def is_device_array(self, array: Any) -> bool:
        return isinstance(array, np.ndarray)


def build_module(module: str, out_dir: Path) -> dict[str, HostKernel]:
    """Compile ``kernels/<module>.cu`` + generated launchers into a shared library."""
    kernels = parse_kernels(kernel_source(module))
    assert kernels, f"{module}.cu declares no kernels"
    lines = [f'#include "{module}.cu"']
    for name, params in kernels.items():
        decl = ", ".join(f"{t} {n}" for t, n in params)
        names = ", ".join(n for _, n in params)
        lines.append(
            f'extern "C" void rg_host_{name}(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, '
            f"unsigned bz, {decl}) {{ rg_launch(dim3(gx, gy, gz), dim3(bx, by, bz), {name}, {names}); }}")
    src = out_dir / f"{module}_host.cpp"
    src.write_text("\n".join(lines) + "\n")
    lib = out_dir / f"{module}.so"
    cmd = [CXX, "-O2", "-shared", "-fPIC", "-std=c++14", "-include", str(KERNELS / "host_shim.h"),
           "-I", str(KERNELS), str(src), "-o", str(lib)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"host build of {module}.cu failed:\n{' '.join(cmd)}\n{done.stderr}"
    handle = ctypes.CDLL(str(lib))
    return {name: HostKernel(handle, name, params) for name, params in kernels.items()}


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> HostBackend:
    out = tmp_path_factory.mktemp("kernels_host")
    return HostBackend({m: build_module(m, out) for m in KERNEL_MODULES})


# --------------------------------------------------------------------------- helpers


def noise(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)


def smooth(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = 120 + 0.2 * xx - 0.15 * yy
    for _ in range(3):
        fx, fy = rng.uniform(0.02, 0.1, 2)
        img += rng.uniform(10, 25) * np.sin(fx * xx + fy * yy + rng.uniform(0, 2 * math.pi))
    return np.clip(img, 16, 235).astype(np.uint8)


def frame(h: int, w: int, seed: int, *, kind: str = "noise") -> Planes:
    make = noise if kind == "noise" else smooth
    return Planes(make(h, w, seed), make(h // 2, w // 2, seed + 1), make(h // 2, w // 2, seed + 2))


def max_diff(a: Planes, b: Planes) -> int:
    assert [p.shape for p in a] == [p.shape for p in b]
    return max(int(np.abs(p.astype(np.int16) - q.astype(np.int16)).max()) for p, q in zip(a, b))


def copy(p: Planes) -> Planes:
    return Planes(*(np.array(x, copy=True) for x in p))


# --------------------------------------------------------------------------- crop_scale

CROPS = [
    pytest.param((10.3, 5.7, 200.5, 120.2), 96, 64, 0.0, id="downscale"),
    pytest.param((50.25, 30.5, 60.0, 40.0), 256, 160, 0.0, id="upscale"),
    pytest.param((101.5, 40.25, 56.25, 100.0), 108, 192, 0.0, id="portrait-upscale"),
    pytest.param((-12.0, -6.5, 120.0, 90.0), 120, 90, 0.0, id="top-left-edge"),
    pytest.param((250.0, 140.0, 120.0, 80.0), 60, 40, 0.0, id="bottom-right-edge"),
    pytest.param((400.0, 10.0, 50.0, 50.0), 32, 32, 0.0, id="outside"),
    pytest.param((0.0, 0.0, 320.0, 180.0), 320, 180, 0.0, id="identity"),
    pytest.param((0.0, 10.5, 320.0, 100.0), 320, 50, 0.0, id="x-identity"),
    pytest.param((7.5, 0.0, 150.0, 180.0), 300, 180, 0.0, id="y-identity"),
    pytest.param((0.0, 0.0, 320.0, 180.0), 300, 40, 0.0, id="vertical-first"),
    pytest.param((33.3, 21.1, 9.0, 7.0), 64, 48, 0.0, id="8x-upscale"),
    pytest.param((60.0, 30.0, 120.0, 100.0), 120, 100, 90.0, id="rot90"),
    pytest.param((60.0, 30.0, 120.0, 100.0), 96, 80, 180.0, id="rot180"),
    pytest.param((0.0, 0.0, 320.0, 180.0), 320, 180, 270.0, id="rot270-full"),
    pytest.param((80.5, 20.25, 140.0, 120.0), 140, 120, 30.5, id="rot30.5"),
    pytest.param((-20.0, -10.0, 200.0, 150.0), 100, 76, -15.0, id="rot-15-edge"),
    pytest.param((40.0, 30.0, 64.0, 48.0), 256, 192, 7.0, id="rot7-upscale"),
]


@pytest.mark.parametrize("kind", ["noise", "smooth"])
@pytest.mark.parametrize(("box", "out_w", "out_h", "rotation"), CROPS)
def test_crop_scale_matches_reference(host: HostBackend, box, out_w, out_h, rotation, kind) -> None:
    src = frame(180, 320, seed=11, kind=kind)
    ref = crop_scale(src, box, out_w, out_h, rotation_deg=rotation)
    got = gpu_ops.crop_scale(host, src, box, out_w, out_h, rotation_deg=rotation)
    assert max_diff(got, ref) <= 1, f"box={box} out={out_w}x{out_h} rot={rotation}"


def test_crop_scale_random_boxes(host: HostBackend) -> None:
    """Random boxes, sizes and angles; off-by-one only on rounding boundaries (sum order)."""
    rng = np.random.default_rng(5)
    src = frame(120, 208, seed=3)
    worst = 0
    for _ in range(40):
        w, h = rng.uniform(8, 260), rng.uniform(8, 160)
        box = (rng.uniform(-30, 200), rng.uniform(-20, 110), w, h)
        out_w, out_h = 2 * int(rng.integers(4, 90)), 2 * int(rng.integers(4, 90))
        rotation = float(rng.choice([0.0, 0.0, 90.0, rng.uniform(-180, 180)]))
        ref = crop_scale(src, box, out_w, out_h, rotation_deg=rotation)
        got = gpu_ops.crop_scale(host, src, box, out_w, out_h, rotation_deg=rotation)
        diff = max_diff(got, ref)
        assert diff <= 1, f"box={box} out={out_w}x{out_h} rot={rotation}: {diff}"
        worst = max(worst, diff)
        bad = sum(int((p != q).sum()) for p, q in zip(got, ref))
        assert bad <= max(2, sum(p.size for p in ref) // 1000), f"{bad} samples differ"


def test_crop_scale_rotated_window_is_exact(host: HostBackend) -> None:
    """The rotation kernel copies the reference's float64/float32 arithmetic operation by
    operation, so a rotated copy of the whole plane (identity taps) is bit-identical."""
    src = frame(90, 160, seed=8)
    for angle in (12.5, 90.0, 200.0, -33.0):
        ref = crop_scale(src, (0.0, 0.0, 160.0, 90.0), 160, 90, rotation_deg=angle)
        got = gpu_ops.crop_scale(host, src, (0.0, 0.0, 160.0, 90.0), 160, 90, rotation_deg=angle)
        assert max_diff(got, ref) == 0, angle


def test_crop_scale_uses_pool_and_keeps_live_outputs(host: HostBackend) -> None:
    src = frame(64, 96, seed=1)
    first = gpu_ops.crop_scale(host, src, (3.0, 2.0, 60.0, 40.0), 48, 32)
    keep = copy(first)
    second = gpu_ops.crop_scale(host, src, (13.0, 12.0, 60.0, 40.0), 48, 32)
    assert all(a is not b for a, b in zip(first, second)), "a live output was handed out again"
    assert max_diff(first, keep) == 0, "a live output was overwritten"
    released = id(first.y)  # the pool keeps the buffer alive, so its id stays unique
    del first, second
    third = gpu_ops.crop_scale(host, src, (3.0, 2.0, 60.0, 40.0), 48, 32)
    assert id(third.y) == released, "a released output was not reused"


def test_crop_scale_rejects_bad_input(host: HostBackend) -> None:
    src = frame(32, 32, seed=1)
    with pytest.raises(ValueError, match="even"):
        gpu_ops.crop_scale(host, src, (0, 0, 10, 10), 7, 8)
    with pytest.raises(ValueError, match="box"):
        gpu_ops.crop_scale(host, src, (0, 0, -1, 10), 8, 8)


# --------------------------------------------------------------------------- highlight

YELLOW, DARK = (210, 16, 146), (71, 123, 132)
HIGHLIGHTS = [
    pytest.param(HighlightDraw(cx=150.3, cy=80.6, rx=40.0, ry=55.5, fill_opacity=0.05, fill_yuv=YELLOW,
                               stroke_yuv=YELLOW, outline_yuv=DARK), id="body"),
    pytest.param(HighlightDraw(cx=160.0, cy=150.0, rx=61.5, ry=9.0, arc="ground", fill_opacity=0.15,
                               fill_yuv=YELLOW, stroke_yuv=YELLOW, outline_yuv=DARK, stroke_width=3.0,
                               outline_width=5.0), id="ground"),
    pytest.param(HighlightDraw(cx=100.0, cy=90.0, rx=30.0, ry=30.0, dim=0.4), id="colour-none"),
    pytest.param(HighlightDraw(cx=100.0, cy=90.0, rx=30.0, ry=44.0, effect="brightness_boost",
                               stroke_yuv=YELLOW, outline_yuv=DARK, fill_yuv=YELLOW, fill_opacity=0.3),
                 id="brightness-boost"),
    pytest.param(HighlightDraw(cx=100.0, cy=90.0, rx=30.0, ry=44.0, effect="original", stroke_yuv=YELLOW,
                               outline_yuv=None, outline_opacity=0.0), id="original-stroke-only"),
    pytest.param(HighlightDraw(cx=3.0, cy=175.0, rx=50.0, ry=20.0, dim=0.6, fill_opacity=0.5, fill_yuv=YELLOW,
                               stroke_yuv=YELLOW, outline_yuv=DARK, stroke_opacity=0.4), id="corner-clipped"),
    pytest.param(HighlightDraw(cx=200.0, cy=60.0, rx=0.2, ry=12.0, stroke_yuv=YELLOW, outline_yuv=DARK),
                 id="degenerate-radius"),
    pytest.param(HighlightDraw(cx=150.0, cy=90.0, rx=140.0, ry=2.0, arc="ground", stroke_yuv=YELLOW,
                               outline_yuv=DARK, fill_yuv=YELLOW, fill_opacity=0.2), id="1-to-70"),
    pytest.param(HighlightDraw(cx=500.0, cy=90.0, rx=30.0, ry=30.0, stroke_yuv=YELLOW, outline_yuv=DARK),
                 id="off-frame-no-dim"),
    pytest.param(HighlightDraw(cx=160.0, cy=90.0, rx=20.0, ry=20.0, dim=0.0, stroke_yuv=None,
                               outline_yuv=None, outline_opacity=0.0, stroke_opacity=0.0), id="nothing"),
]


@pytest.mark.parametrize("d", HIGHLIGHTS)
def test_highlight_matches_reference(host: HostBackend, d: HighlightDraw) -> None:
    src = frame(180, 320, seed=21)
    ref, dense, got = copy(src), copy(src), copy(src)
    draw_highlight(ref, d)
    draw_highlight_dense(dense, d)
    gpu_ops.draw_highlight(host, got, d)
    assert max_diff(got, ref) == 0
    assert max_diff(got, dense) == 0


def test_highlight_random(host: HostBackend) -> None:
    rng = np.random.default_rng(9)
    src = frame(120, 160, seed=4, kind="smooth")
    for _ in range(25):
        d = HighlightDraw(cx=rng.uniform(-20, 180), cy=rng.uniform(-20, 140), rx=rng.uniform(0.3, 90),
                          ry=rng.uniform(0.3, 60), arc=str(rng.choice(["full", "ground"])),
                          dim=rng.uniform(0, 0.8), fill_opacity=rng.uniform(0, 0.5), fill_yuv=YELLOW,
                          stroke_width=float(rng.integers(2, 7)), outline_width=float(rng.integers(2, 9)),
                          stroke_yuv=YELLOW, outline_yuv=DARK, stroke_opacity=rng.uniform(0, 1))
        ref, got = copy(src), copy(src)
        draw_highlight(ref, d)
        gpu_ops.draw_highlight(host, got, d)
        assert max_diff(got, ref) == 0, d


def test_highlight_without_dim_launches_on_the_box_only(host: HostBackend) -> None:
    d = HighlightDraw(cx=50.0, cy=40.0, rx=10.0, ry=8.0, dim=0.0, stroke_yuv=YELLOW, outline_yuv=DARK)
    src = frame(180, 320, seed=2)
    got = copy(src)
    gpu_ops.draw_highlight(host, got, d)
    untouched = np.ones(got.y.shape, bool)
    untouched[20:62, 26:76] = False
    assert np.array_equal(got.y[untouched], src.y[untouched])


# --------------------------------------------------------------------------- sprite


def random_sprite(h: int, w: int, x: int, y: int, seed: int):
    rng = np.random.default_rng(seed)
    rgba = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    rgba[..., 3][rng.random((h, w)) < 0.3] = 0  # transparent holes
    rgba[..., 3][rng.random((h, w)) < 0.2] = 255
    return rgba_to_yuva(rgba, x=x, y=y, trim=False)


@pytest.mark.parametrize(("x", "y"), [(40, 30), (-24, -16), (300, 170), (-10, 150), (290, -8), (400, 10)])
@pytest.mark.parametrize("opacity", [1.0, 0.37])
def test_sprite_blend_matches_reference(host: HostBackend, x: int, y: int, opacity: float) -> None:
    sprite = random_sprite(46, 62, x, y, seed=abs(x) + abs(y))
    src = frame(180, 320, seed=31)
    ref, got = copy(src), copy(src)
    blend_sprite(ref, sprite, opacity)
    gpu_ops.blend_sprite(host, got, sprite, opacity)
    assert max_diff(got, ref) == 0


def test_sprite_is_uploaded_once(host: HostBackend) -> None:
    sprite = random_sprite(10, 12, 4, 6, seed=1)
    first = gpu_ops.upload_sprite(host, sprite)
    assert gpu_ops.upload_sprite(host, sprite) is first
    assert gpu_ops.upload_sprite(host, first) is first
    planes = frame(32, 32, seed=2)
    ref, got = copy(planes), copy(planes)
    blend_sprite(ref, sprite, 0.5)
    gpu_ops.blend_sprite(host, got, first, 0.5)  # a DeviceSprite blends like its YUVASprite
    assert max_diff(got, ref) == 0


def test_sprite_rejects_bad_opacity(host: HostBackend) -> None:
    with pytest.raises(ValueError, match="opacity"):
        gpu_ops.blend_sprite(host, frame(8, 8, 1), random_sprite(2, 2, 0, 0, 1), 1.5)


# --------------------------------------------------------------------------- mix


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.77, 1.0])
def test_dissolve_matches_reference(host: HostBackend, alpha: float) -> None:
    a, b = frame(36, 64, seed=1), frame(36, 64, seed=2)
    assert max_diff(gpu_ops.dissolve(host, a, b, alpha), mix.dissolve(a, b, alpha)) == 0


@pytest.mark.parametrize("brightness", [0.0, 0.42, 0.999, 1.0])
def test_fade_matches_reference(host: HostBackend, brightness: float) -> None:
    p = frame(36, 64, seed=3)
    got = gpu_ops.fade_to_black(host, p, brightness)
    assert max_diff(got, mix.fade_to_black(p, brightness)) == 0
    if brightness >= 1.0:
        assert got is p


def test_copy_planes(host: HostBackend) -> None:
    p = frame(36, 64, seed=3)
    got = gpu_ops.copy_planes(host, p)
    assert max_diff(got, p) == 0 and got.y is not p.y


# --------------------------------------------------------------------------- NV12 / P016


def nv12_surface(p: Planes, pitch: int, dtype: Any = np.uint8, shift: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A decoder-like surface: Y rows then interleaved UV rows, rows ``pitch`` samples apart."""
    h, w = p.y.shape
    buf = np.full((h + h // 2, pitch), 77, dtype=dtype)
    buf[:h, :w] = p.y.astype(dtype) << shift
    uv = np.stack([p.u, p.v], axis=-1).reshape(h // 2, w).astype(dtype) << shift
    buf[h:, :w] = uv
    return buf[:h], buf[h:]


@pytest.mark.parametrize("quarter", [0, 1, 2, 3])
def test_nv12_to_planes(host: HostBackend, quarter: int) -> None:
    p = frame(36, 64, seed=5)
    y, uv = nv12_surface(p, pitch=80)
    got = gpu_ops.planes_from_nv12(host, y, uv, 64, 36, quarter=quarter)
    want = Planes(*(np.rot90(x, quarter) for x in p))
    assert max_diff(got, want) == 0


def test_nv12_odd_size_drops_last_row_and_column(host: HostBackend) -> None:
    p = frame(36, 64, seed=6)
    y, uv = nv12_surface(p, pitch=64)
    got = gpu_ops.planes_from_nv12(host, y, uv, 63, 35)
    assert got.y.shape == (34, 62) and got.u.shape == (17, 31)
    assert np.array_equal(got.y, p.y[:34, :62]) and np.array_equal(got.v, p.v[:17, :31])


@pytest.mark.parametrize("quarter", [0, 1, 3])
def test_p016_to_planes(host: HostBackend, quarter: int) -> None:
    rng = np.random.default_rng(7)
    h, w = 36, 64
    ten = Planes(rng.integers(0, 1024, (h, w)), rng.integers(0, 1024, (h // 2, w // 2)),
                 rng.integers(0, 1024, (h // 2, w // 2)))
    y, uv = nv12_surface(ten, pitch=72, dtype=np.uint16, shift=6)
    got = gpu_ops.planes_from_nv12(host, y, uv, w, h, quarter=quarter)
    want = Planes(*(np.rot90(np.minimum((x + 2) >> 2, 255).astype(np.uint8), quarter) for x in ten))
    assert max_diff(got, want) == 0


def test_planes_to_nv12(host: HostBackend) -> None:
    p = frame(36, 64, seed=9)
    out = np.zeros((54, 64), np.uint8)
    gpu_ops.planes_to_nv12(host, p, out)
    y, uv = nv12_surface(p, pitch=64)
    assert np.array_equal(out[:36], y) and np.array_equal(out[36:], uv)
    with pytest.raises(ValueError, match="NV12"):
        gpu_ops.planes_to_nv12(host, p, np.zeros((54, 66), np.uint8)[:, :64])


# --------------------------------------------------------------------------- pool


def test_pool_reuses_only_unreferenced_buffers() -> None:
    pool = BufferPool(lambda shape, dtype: np.empty(shape, dtype), max_per_key=3)
    a = pool.take((4, 4))
    b = pool.take((4, 4))
    assert a is not b
    view = a[1:, 1:]
    del a
    c = pool.take((4, 4))
    assert c is not view.base, "a buffer still viewed was handed out again"
    del view
    d = pool.take((4, 4))
    assert d is not b and d is not c and pool.held() == 3
    pool.take((4, 4))  # over max_per_key: allocated, not kept
    assert pool.held() == 3
    assert pool.take((2, 2), np.float32).dtype == np.float32


# --------------------------------------------------------------------------- NVENC muxing (host half)


def annexb_packets(codec: str, n: int, w: int = 64, h: int = 48) -> Iterator[bytes]:
    """Annex-B packets with in-band parameter sets and no B-frames: what NVENC emits with bf=0."""
    cc = av.CodecContext.create("libx264" if codec == "h264" else "libx265", "w")
    cc.width, cc.height, cc.pix_fmt = w, h, "yuv420p"
    cc.time_base = Fraction(1, 30)
    if codec == "h264":
        cc.options = {"preset": "ultrafast", "x264-params": "bframes=0:keyint=10:min-keyint=10:scenecut=0"}
    else:
        cc.options = {"preset": "ultrafast",
                      "x265-params": "bframes=0:keyint=10:min-keyint=10:scenecut=0:log-level=error"}
    for i in range(n):
        f = av.VideoFrame.from_ndarray(np.full((h * 3 // 2, w), (i * 9) % 256, np.uint8), format="yuv420p")
        f.pts = i
        for p in cc.encode(f):
            yield bytes(p)
    for p in cc.encode(None):
        yield bytes(p)


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_annexb_muxer_writes_playable_mp4(tmp_path: Path, codec: str) -> None:
    """encode_nvenc's muxer on packets from libx264/libx265 (no GPU needed): key frames from the
    NAL types, PTS = index, BT.709 tags via the *_metadata filter, moov before mdat."""
    from reelgpu.media.encode_nvenc import AnnexBMuxer, is_keyframe

    packets = list(annexb_packets(codec, 25))
    dst = tmp_path / f"out_{codec}.mp4"
    with av.open(str(dst), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        mux = AnnexBMuxer(out, codec=codec, width=64, height=48, fps=Fraction(30))
        for i, data in enumerate(packets):
            mux.mux(data, i)
        mux.flush()
    raw = dst.read_bytes()
    assert raw.find(b"moov") < raw.find(b"mdat")
    with av.open(str(dst)) as c:
        s = c.streams.video[0]
        keys = [p.is_keyframe for p in c.demux(s) if p.size]
        assert keys[0] and keys[10] and sum(keys) == 3
    with av.open(str(dst)) as c:
        s = c.streams.video[0]
        frames = list(c.decode(s))
        assert len(frames) == 25
        assert [round(float(f.pts * s.time_base) * 30) for f in frames] == list(range(25))
        cc = s.codec_context
        assert (cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range) == (1, 1, 1, 1)
    assert is_keyframe(packets[0], codec) and not is_keyframe(packets[1], codec)


def test_kernel_sources_are_self_contained() -> None:
    """NVRTC gets the inlined text: no #include may survive (NVRTC has no include path here)."""
    for module in KERNEL_MODULES:
        text = kernel_source(module)
        assert "#include" not in text, module
        assert "rg_round_u8" in text or module == "nv12"
