"""Capability probe and backend choice.

The probe runs in a subprocess: PyNvVideoCodec raises RuntimeError at import without the
driver, and some of its calls terminate the process on CUDA driver errors, so the caller's
process must never be the one that finds out. The answer is cached per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any, Literal

from .errors import BackendUnavailable

Device = Literal["auto", "cpu", "cuda"]

# Executed with `python -c` in a child process; prints one JSON object and never raises.
_PROBE = r"""
import json
out = {"gpu": None, "driver": None, "cuda_runtime": None, "cupy": False, "nvrtc": False,
       "nvdec_codecs": [], "nvenc_codecs": [], "pynvvideocodec": None, "errors": []}
try:
    import cupy
    if cupy.is_available():
        dev = cupy.cuda.Device(0)
        out["gpu"] = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
        out["driver"] = cupy.cuda.runtime.driverGetVersion()
        out["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
        out["cupy"] = True
        try:
            cupy.RawKernel('extern "C" __global__ void k(int* a){a[0]=1;}', "k")((1,), (1,), (cupy.zeros(1, cupy.int32),))
            out["nvrtc"] = True
        except Exception as exc:
            out["errors"].append(f"nvrtc: {exc.__class__.__name__}: {exc}")
except Exception as exc:
    out["errors"].append(f"cupy: {exc.__class__.__name__}: {exc}")
if out["gpu"]:
    try:
        import PyNvVideoCodec as nvc
        out["pynvvideocodec"] = getattr(nvc, "__version__", "unknown")
        for name, codec in (("h264", nvc.cudaVideoCodec.H264), ("hevc", nvc.cudaVideoCodec.HEVC), ("av1", nvc.cudaVideoCodec.AV1)):
            try:
                caps = nvc.GetDecoderCaps(gpuid=0, codec=codec, chromaformat=nvc.cudaVideoChromaFormat._420, bitdepthminus8=0)
                if caps.get("supported", caps.get("IsSupported", False)) if isinstance(caps, dict) else getattr(caps, "bIsSupported", False):
                    out["nvdec_codecs"].append(name)
            except Exception as exc:
                out["errors"].append(f"nvdec {name}: {exc.__class__.__name__}: {exc}")
        for name in ("h264", "hevc", "av1"):
            try:
                caps = nvc.GetEncoderCaps(codec=name)
                if caps and (not isinstance(caps, dict) or caps.get("num_encoder_engines", 1)):
                    out["nvenc_codecs"].append(name)
            except Exception as exc:
                out["errors"].append(f"nvenc {name}: {exc.__class__.__name__}: {exc}")
    except Exception as exc:
        out["errors"].append(f"PyNvVideoCodec: {exc.__class__.__name__}: {exc}")
print(json.dumps(out))
"""


@dataclass(frozen=True)
class Capabilities:
    gpu: str | None = None
    driver: int | None = None
    cuda_runtime: int | None = None
    cupy: bool = False
    nvrtc: bool = False
    pynvvideocodec: str | None = None
    nvdec_codecs: list[str] = field(default_factory=list)
    nvenc_codecs: list[str] = field(default_factory=list)
    gpu_pipeline: bool = False  # whether this build has the NVDEC -> CuPy pipeline wired in
    errors: list[str] = field(default_factory=list)

    @property
    def can_decode_gpu(self) -> bool:
        return bool(self.gpu_pipeline and self.nvdec_codecs and self.cupy and self.nvrtc)

    @property
    def can_encode_gpu(self) -> bool:
        return bool(self.can_decode_gpu and self.nvenc_codecs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"backends": backends_for("auto", self), "cpu_resampler": cpu_resampler()}

    def as_table(self) -> str:
        rows = [
            ("GPU", self.gpu or "none"),
            ("driver / CUDA runtime", f"{self.driver or '-'} / {self.cuda_runtime or '-'}"),
            ("CuPy usable (NVRTC)", f"{self.cupy} ({self.nvrtc})"),
            ("PyNvVideoCodec", self.pynvvideocodec or "not importable"),
            ("NVDEC codecs", ", ".join(self.nvdec_codecs) or "none"),
            ("NVENC codecs", ", ".join(self.nvenc_codecs) or "none"),
            ("GPU pipeline in this build", str(self.gpu_pipeline)),
            ("CPU resampler", cpu_resampler()),
        ]
        chosen = backends_for("auto", self)
        rows.append(("device=auto runs", f"decode={chosen['decode']} process={chosen['process']} encode={chosen['encode']}"))
        width = max(len(k) for k, _ in rows)
        lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
        lines += [f"note: {e}" for e in self.errors]
        return "\n".join(lines)


def cpu_resampler() -> str:
    """Which implementation crop_scale uses on the CPU: the compiled passes or the numpy fallback
    (several times slower; the module is not built where there was no C compiler at install)."""
    from .ops import resample_native

    if resample_native.enabled():
        return "compiled (reelgpu.ops._resample, Pillow fixed point)"
    why = "REELGPU_RESAMPLER=numpy" if resample_native.AVAILABLE else "reelgpu.ops._resample not built"
    return f"numpy fallback ({why})"


def _gpu_pipeline_built() -> bool:
    """Whether this install carries the GPU stages (kernels, NVDEC source, NVENC writer).

    They are part of the package; what decides whether they run is the probe above. The GPU
    path has been verified on the CPU (host shim, nvcc) but not yet on a GPU: see docs/gpu.md.
    """
    from importlib.util import find_spec

    return all(find_spec(m) is not None for m in ("reelgpu.ops.cuda", "reelgpu.media.decode_nvdec",
                                                   "reelgpu.media.encode_nvenc"))


@lru_cache(maxsize=1)
def capabilities(timeout_s: float = 60.0) -> Capabilities:
    """Probe once per process, in a subprocess. ``REELGPU_FORCE_CPU=1`` skips the probe."""
    if os.environ.get("REELGPU_FORCE_CPU") == "1":
        return Capabilities(errors=["REELGPU_FORCE_CPU=1: GPU probe skipped"])
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                              timeout=timeout_s, check=False)
        data = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}
        if done.returncode != 0:
            data.setdefault("errors", []).append(f"probe process exited with {done.returncode}")
    except (subprocess.TimeoutExpired, json.JSONDecodeError, IndexError) as exc:
        data = {"errors": [f"probe failed: {exc.__class__.__name__}"]}
    known = {k: v for k, v in data.items() if k in Capabilities.__dataclass_fields__}
    return Capabilities(**known, gpu_pipeline=_gpu_pipeline_built())


def backends_for(device: Device, caps: Capabilities | None = None) -> dict[str, str]:
    """Which backend runs each stage. ``cuda`` that cannot run raises, naming what is missing."""
    if device not in ("auto", "cpu", "cuda"):
        raise BackendUnavailable(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    cpu = {"decode": "pyav", "process": "numpy", "encode": "libx264"}
    if device == "cpu":
        return cpu
    caps = caps or capabilities()
    if not caps.can_decode_gpu:
        if device == "cuda":
            missing = ("no usable NVIDIA GPU" if not caps.gpu else
                       "the GPU pipeline is not part of this build" if not caps.gpu_pipeline else
                       "NVDEC/CuPy/NVRTC not usable")
            raise BackendUnavailable(f"device='cuda' cannot run: {missing}; use device='cpu' or 'auto'")
        return cpu
    return {"decode": "nvdec", "process": "cupy", "encode": "nvenc" if caps.can_encode_gpu else "libx264"}
