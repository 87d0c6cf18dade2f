"""Every CUDA kernel source compiles with nvcc (and NVRTC when its library is found), without a GPU.

``nvcc --ptx`` runs the real CUDA front end and code generator for a target architecture, so a
syntax error, a host-only function in device code or a missing intrinsic is caught on any
machine with the CUDA toolkit, long before a GPU run. Two targets: sm_90 (H100/H200, the
datacenter GPUs without NVENC) and sm_89 (L4, L40S, RTX 4090: the NVENC GPUs).

The sources are compiled exactly as the CuPy backend hands them to NVRTC (local headers
inlined by ``kernel_source``), with warnings as errors for the device code's own diagnostics.
NVRTC itself (what CuPy runs on the GPU machine, with no implicit CUDA headers) is exercised
through ctypes when ``libnvrtc`` can be loaded: set ``REELGPU_NVRTC`` to its path, or have it on
the loader path (``pip install nvidia-cuda-nvrtc`` ships it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from reelgpu.ops.cuda._runtime import KERNEL_MODULES, NVRTC_OPTIONS, kernel_source

NVCC = os.environ.get("NVCC") or shutil.which("nvcc") or ("/usr/local/bin/nvcc" if Path("/usr/local/bin/nvcc").exists()
                                                          else None)
ARCHS = ["sm_90", "sm_89"]

needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc (CUDA toolkit) not found: cannot compile the kernels to PTX")


@needs_nvcc
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("module", KERNEL_MODULES)
def test_kernel_compiles_to_ptx(tmp_path: Path, module: str, arch: str) -> None:
    src = tmp_path / f"{module}.cu"
    src.write_text(kernel_source(module))
    ptx = tmp_path / f"{module}.{arch}.ptx"
    cmd = [NVCC, "--ptx", f"-arch={arch}", "-std=c++14", "-Werror", "all-warnings", str(src), "-o", str(ptx)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, f"{' '.join(cmd)}\n{done.stdout}\n{done.stderr}"
    text = ptx.read_text()
    for name in _kernel_names(module):
        assert f".entry {name}(" in text, f"{name} missing from the PTX of {module}.cu"
    # Parity with numpy needs every product and sum rounded on its own: a fused multiply-add
    # rounds once. (NVRTC contracts like nvcc; the sources use __fmul_rn/__fadd_rn and friends.)
    fused = [line.strip() for line in text.splitlines() if re.match(r"\s*fma\.", line)]
    assert not fused, f"{module}.cu ({arch}) has fused multiply-adds, e.g. {fused[:3]}"


def _kernel_names(module: str) -> list[str]:
    return re.findall(r'extern\s+"C"\s+__global__\s+void\s+(\w+)', kernel_source(module))


def test_every_kernel_module_is_listed() -> None:
    """A new .cu file must be registered in KERNEL_MODULES (or the backend cannot load it)."""
    kernels = Path(__file__).resolve().parents[2] / "reelgpu" / "ops" / "kernels"
    assert sorted(p.stem for p in kernels.glob("*.cu")) == sorted(KERNEL_MODULES)


def _wheel_nvrtc() -> list[str]:
    """libnvrtc from the nvidia-cuda-nvrtc-cu12 wheel (the test extra installs it)."""
    try:
        import nvidia.cuda_nvrtc as wheel  # type: ignore[import-not-found]
    except ImportError:
        return []
    return [str(p) for d in wheel.__path__ for p in sorted(Path(d, "lib").glob("libnvrtc.so.*"))]


def _load_nvrtc() -> ctypes.CDLL | None:
    candidates = [os.environ.get("REELGPU_NVRTC"), *_wheel_nvrtc(), ctypes.util.find_library("nvrtc"),
                  "libnvrtc.so.13", "libnvrtc.so.12"]
    for name in filter(None, candidates):
        path = Path(name)
        if path.is_absolute():  # NVRTC dlopens its builtins library by soname: preload the sibling
            for builtins in sorted(path.parent.glob("libnvrtc-builtins.so.*")):
                try:
                    ctypes.CDLL(str(builtins), mode=ctypes.RTLD_GLOBAL)
                    break
                except OSError:
                    continue
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


NVRTC = _load_nvrtc()


def cupy_options(arch: str) -> tuple[str, ...]:
    """Our options plus the two cupy.RawModule always adds that change code generation: the
    ``-ftz=true`` it appends after ours (cupy/_core compiler.py) and a real architecture (it
    compiles to a cubin). CuPy also adds include paths, which these kernels do not use."""
    return (*NVRTC_OPTIONS, "-ftz=true", f"-arch={arch}")


@pytest.mark.skipif(NVRTC is None, reason="libnvrtc not found (set REELGPU_NVRTC=/path/libnvrtc.so.N)")
@pytest.mark.parametrize("arch", ["sm_90", "sm_89"])
@pytest.mark.parametrize("module", KERNEL_MODULES)
def test_kernel_compiles_with_nvrtc(module: str, arch: str) -> None:
    """What cupy.RawModule does on the GPU machine: NVRTC with CuPy's options, no headers, and
    no warning (one would flag an option CuPy overrides, as ``--ftz=false`` once was)."""
    assert NVRTC is not None
    prog = ctypes.c_void_p()
    src = kernel_source(module).encode()
    rc = NVRTC.nvrtcCreateProgram(ctypes.byref(prog), src, f"{module}.cu".encode(), 0, None, None)
    assert rc == 0, f"nvrtcCreateProgram: {rc}"
    opts = [o.encode() for o in cupy_options(arch)]
    argv = (ctypes.c_char_p * len(opts))(*opts)
    rc = NVRTC.nvrtcCompileProgram(prog, len(opts), argv)
    size = ctypes.c_size_t()
    NVRTC.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    NVRTC.nvrtcGetProgramLog(prog, log)
    NVRTC.nvrtcDestroyProgram(ctypes.byref(prog))
    assert rc == 0, f"NVRTC failed on {module}.cu ({arch}):\n{log.value.decode(errors='replace')}"
    assert not log.value.strip(), f"NVRTC warned on {module}.cu ({arch}):\n{log.value.decode(errors='replace')}"
