"""GPU tests: run only where an NVIDIA GPU, CuPy with NVRTC, and (for the codec tests)
PyNvVideoCodec are usable; skipped elsewhere with a reason naming what is missing.

The probe is ``reelgpu.device.capabilities()``, which runs in a subprocess: PyNvVideoCodec
raises at import without the driver and some CUDA driver errors terminate the process, so the
test runner never finds out in-process. Nothing here imports CuPy at collection time.

Markers (registered below): ``nvdec`` needs PyNvVideoCodec with NVDEC for H.264; ``nvenc``
needs an NVENC GPU (L4/L40S/RTX 4090...; A100/H100/H200 have none); ``export`` needs the GPU
backend wired into the exports (``device="cuda"``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def _caps() -> Any:
    from reelgpu.device import capabilities

    return capabilities()


def _missing_base(caps: Any) -> str | None:
    if not caps.gpu:
        detail = "; ".join(caps.errors) if caps.errors else "CuPy not installed or cupy.is_available() is False"
        return f"no CUDA device usable through CuPy ({detail})"
    if not caps.cupy:
        return "CuPy cannot use the GPU"
    if not caps.nvrtc:
        # e.g. "Failed to find CUDA headers": CuPy 14 needs cuda_runtime.h as well as libnvrtc
        detail = "; ".join(e for e in caps.errors if e.startswith("nvrtc")) or "no detail"
        return (f"CuPy cannot compile kernels ({detail}); install \"cuda-toolkit[cudart,nvrtc]\" (reelgpu[gpu] does), "
                "or carry nvidia-cuda-nvrtc and nvidia-cuda-runtime (see docs/gpu.md)")
    return None


def _missing_nvdec(caps: Any) -> str | None:
    if not caps.pynvvideocodec:
        return ("PyNvVideoCodec is not importable (pip install pynvvideocodec; in Docker set "
                "NVIDIA_DRIVER_CAPABILITIES=compute,utility,video)")
    if "h264" not in caps.nvdec_codecs:
        return f"NVDEC cannot decode H.264 here (codecs: {caps.nvdec_codecs or 'none'})"
    return None


def _missing_nvenc(caps: Any) -> str | None:
    missing = _missing_nvdec(caps)
    if missing and not caps.pynvvideocodec:
        return missing
    if "h264" not in caps.nvenc_codecs:
        return f"{caps.gpu} has no usable NVENC (A100/H100/H200 have none; use an L4/L40S/RTX 4090)"
    return None


def pytest_configure(config: pytest.Config) -> None:
    for line in ("nvdec: needs PyNvVideoCodec with NVDEC (tests/gpu)",
                 "nvenc: needs an NVENC-capable GPU (tests/gpu)",
                 "export: needs the GPU backend wired into the exports (tests/gpu)"):
        config.addinivalue_line("markers", line)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [item for item in items if HERE in Path(str(item.fspath)).resolve().parents]
    if not ours:
        return
    caps = _caps()
    base = _missing_base(caps)
    for item in ours:
        reason = base
        if reason is None and item.get_closest_marker("nvdec"):
            reason = _missing_nvdec(caps)
        if reason is None and item.get_closest_marker("nvenc"):
            reason = _missing_nvenc(caps)
        if reason is None and item.get_closest_marker("export") and not caps.gpu_pipeline:
            reason = "the GPU backend is not wired into the exports yet (device.capabilities().gpu_pipeline is False)"
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def cp() -> Any:
    import cupy

    return cupy


@pytest.fixture(scope="session")
def gpu(cp: Any) -> Any:
    """``reelgpu.ops.cuda`` with every kernel compiled (NVRTC errors surface here)."""
    from reelgpu.ops import cuda

    cuda.warm_up()
    return cuda
