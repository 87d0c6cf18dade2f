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
from pathlib import Path
from typing import Any, Literal

from ._gpu_probe import MARKER as PROBE_MARKER  # the script's own constant: importing it runs no probe
from .errors import BackendUnavailable, InvalidSpec

Device = Literal["auto", "cpu", "cuda"]

# The probe itself (a standalone script, run in a child process; see its docstring).
_PROBE_SCRIPT = Path(__file__).with_name("_gpu_probe.py")

# What the NVDEC source handles: 8/10-bit 4:2:0 (NV12/P016). NVDEC itself does more on newer
# GPUs (HEVC 4:4:4, 4:2:2 on Blackwell); the probe asks about 4:2:0 only.
_NVDEC_420 = {"yuv420p": 8, "yuvj420p": 8, "nv12": 8, "yuv420p10le": 10, "yuv420p10be": 10, "p010le": 10}
# Containers whose packets carry no presentation times for NVDEC to hand back (AVI).
_NVDEC_NO_PTS_CONTAINERS = ("avi",)


@dataclass(frozen=True)
class Capabilities:
    gpu: str | None = None
    driver: int | None = None
    cuda_runtime: int | None = None
    cupy: bool = False
    nvrtc: bool = False
    pynvvideocodec: str | None = None
    nvdec_codecs: list[str] = field(default_factory=list)
    # {codec: {"8" | "10": [width_min, height_min, width_max, height_max, max macroblocks]}}, 4:2:0
    nvdec_limits: dict[str, dict[str, list[int]]] = field(default_factory=dict)
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
            ("NVDEC limits (4:2:0)", _limits_text(self.nvdec_limits)),
            ("NVENC codecs", ", ".join(self.nvenc_codecs) or "none"),
            # The code is installed whether or not a GPU is here: say so, not a bare "True".
            ("GPU stages installed", "yes (used where a GPU is usable)" if self.gpu_pipeline else "no"),
            ("CPU resampler", cpu_resampler()),
        ]
        chosen = backends_for("auto", self)
        rows.append(("device=auto runs", f"decode={chosen['decode']} process={chosen['process']} encode={chosen['encode']}"))
        width = max(len(k) for k, _ in rows)
        lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
        lines += [f"note: {e}" for e in self.errors]
        return "\n".join(lines)


def _limits_text(limits: dict[str, dict[str, list[int]]]) -> str:
    """``h264 8-bit up to 4096x4096; hevc 8/10-bit up to 8192x8192`` (the probe's ``nvdec_limits``)."""
    parts = []
    for codec, by_depth in limits.items():
        sizes = {f"{v[2]}x{v[3]}" for v in by_depth.values()}
        parts.append(f"{codec} {'/'.join(sorted(by_depth, key=int))}-bit up to {', '.join(sorted(sizes))}")
    return "; ".join(parts) or "-"


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




def probe_answer(stdout: str) -> dict[str, Any]:
    """The probe's JSON from its stdout: the last line after its marker, wherever a native
    library's own output put it (a bare last line was taken before, and anything printed after
    it read as "no GPU")."""
    at = stdout.rfind(PROBE_MARKER)
    if at < 0:
        raise ValueError("the probe printed no answer")
    return json.loads(stdout[at + len(PROBE_MARKER):].split("\n", 1)[0])


def capabilities(timeout_s: float = 60.0) -> Capabilities:
    """What this machine's GPU can do, probed once per process in a child Python
    (``sys.executable``): PyNvVideoCodec can kill its process on driver errors.
    ``REELGPU_FORCE_CPU=1`` skips the probe; ``REELGPU_CAPS_FILE=PATH`` reads a probe's answer
    saved by ``reelgpu doctor --json`` instead (scripts that start many processes on one
    machine, such as scripts/gpu_run.sh: each probe opens CUDA contexts for a few seconds).
    ``capabilities.cache_clear()`` forgets the answer."""
    return _capabilities(timeout_s)


@lru_cache(maxsize=1)
def _capabilities(timeout_s: float) -> Capabilities:
    if os.environ.get("REELGPU_FORCE_CPU") == "1":
        return Capabilities(errors=["REELGPU_FORCE_CPU=1: GPU probe skipped"])
    saved = os.environ.get("REELGPU_CAPS_FILE")
    if saved:
        try:
            data = json.loads(Path(saved).read_text())
            if not isinstance(data, dict):
                raise ValueError(f"a JSON {type(data).__name__}, not an object")
        except (OSError, ValueError) as exc:
            data = {"errors": [f"REELGPU_CAPS_FILE={saved}: {exc.__class__.__name__}: {exc}"]}
    else:
        data = _probe_in_subprocess(timeout_s)
    known = {k: v for k, v in data.items() if k in Capabilities.__dataclass_fields__ and k != "gpu_pipeline"}
    return Capabilities(**known, gpu_pipeline=_gpu_pipeline_built())


capabilities.cache_clear = _capabilities.cache_clear  # type: ignore[attr-defined]


def _probe_in_subprocess(timeout_s: float) -> dict[str, Any]:
    if not sys.executable:  # an embedded interpreter that knows no Python binary to start
        return {"errors": ["probe not run: sys.executable is empty (no Python to start); "
                           "set REELGPU_FORCE_CPU=1 or REELGPU_CAPS_FILE"]}
    try:
        # run_path, not `python script.py`: that would put reelgpu/ itself first on sys.path
        run = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')"
        done = subprocess.run([sys.executable, "-c", run, str(_PROBE_SCRIPT)], capture_output=True, text=True,
                              timeout=timeout_s, check=False)
        data = probe_answer(done.stdout) if PROBE_MARKER in done.stdout else {}
        if done.returncode != 0:
            data.setdefault("errors", []).append(f"probe process exited with {done.returncode}")
    except (subprocess.TimeoutExpired, ValueError) as exc:  # JSONDecodeError is a ValueError
        data = {"errors": [f"probe failed: {exc.__class__.__name__}"]}
    except OSError as exc:  # sys.executable cannot be started: "no GPU", not a crash of the export
        data = {"errors": [f"probe failed: cannot start {sys.executable!r}: {exc.strerror or exc}"]}
    return data


def backends_for(device: Device, caps: Capabilities | None = None) -> dict[str, str]:
    """Which backend runs each stage. ``cuda`` that cannot run raises, naming what is missing."""
    if device not in ("auto", "cpu", "cuda"):  # a wrong argument, not a missing GPU
        raise InvalidSpec(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}", field="device")
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


def nvdec_refusal(caps: Capabilities, *, codec: str, pix_fmt: str, coded_width: int, coded_height: int,
                  container: str | None, interlaced: bool = False) -> str | None:
    """Why NVDEC on this GPU must not be given this stream, or None when it may.

    Checked before any decoding because an unsupported stream fails only once NVDEC meets it
    (after frames were rendered), and the codec alone does not decide it: the source takes
    4:2:0 at 8 bits, at 10 where this GPU decodes it, within per-codec size limits (the probe's
    ``nvdec_limits``).
    """
    if container in _NVDEC_NO_PTS_CONTAINERS:
        return f"{container.upper()} files carry no presentation times NVDEC can return"
    if interlaced:
        # PyNvVideoCodec has NVDEC deinterlace (adaptive) where the stream is not progressive;
        # FFmpeg hands out the fields woven. The CPU path's pictures are the reference.
        return "interlaced video: NVDEC would deinterlace it, the CPU path keeps its fields woven as FFmpeg does"
    depth = _NVDEC_420.get(pix_fmt)
    if depth is None:
        return f"the NVDEC source takes 8- or 10-bit 4:2:0 video only, not {pix_fmt}"
    limits = caps.nvdec_limits.get(codec, {}).get(str(depth))
    if limits is None:
        return f"NVDEC on this GPU cannot decode {depth}-bit {codec}"
    w_min, h_min, w_max, h_max, mb_max = limits
    macroblocks = -(-coded_width // 16) * -(-coded_height // 16)
    if not (w_min <= coded_width <= w_max and h_min <= coded_height <= h_max and macroblocks <= mb_max):
        return (f"{coded_width}x{coded_height} {codec} is outside NVDEC's limits on this GPU "
                f"({w_min}x{h_min} to {w_max}x{h_max}, {mb_max} macroblocks)")
    return None
