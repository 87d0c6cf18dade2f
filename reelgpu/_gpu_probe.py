"""The GPU capability probe, run as a script in a child process by :func:`reelgpu.device.capabilities`.

It prints one JSON object and never raises. It runs apart from the caller because PyNvVideoCodec
raises at import without the driver and some of its calls end the process on CUDA driver
errors. It imports nothing from reelgpu, so the child starts fast and a broken package cannot
break the probe.

PyNvVideoCodec 2.2's ``GetDecoderCaps(gpuid, codec, chromaformat, bitdepth)`` takes the absolute
bit depth and names the 4:2:0 chroma format ``"420"`` (not a Python identifier). It answers
``supported`` and the size limits, which decide whether a given input may go to NVDEC at all:
an unsupported stream makes NVDEC fail mid-decode (tests/pynvvc checks these calls against the
real 2.2.4 binary).
"""

from __future__ import annotations

import json
from typing import Any

CODECS = ("h264", "hevc", "av1")
BIT_DEPTHS = (8, 10)


def nvdec_limits(nvc: Any, gpu_id: int = 0) -> tuple[dict[str, dict[str, list[int]]], list[str]]:
    """``{codec: {"8": [width_min, height_min, width_max, height_max, mb_max], "10": [...]}}`` for
    the 4:2:0 streams NVDEC on ``gpu_id`` decodes, and the errors met asking."""
    limits: dict[str, dict[str, list[int]]] = {}
    errors: list[str] = []
    chroma_420 = getattr(nvc.cudaVideoChromaFormat, "420")
    for name in CODECS:
        for depth in BIT_DEPTHS:
            try:
                caps = nvc.GetDecoderCaps(gpuid=gpu_id, codec=getattr(nvc.cudaVideoCodec, name.upper()),
                                          chromaformat=chroma_420, bitdepth=depth)
                if caps.get("supported"):
                    limits.setdefault(name, {})[str(depth)] = [int(caps[k]) for k in (
                        "width_min", "height_min", "width_max", "height_max", "mb_num_max")]
            except Exception as exc:  # PyNvVideoCodec's own exceptions derive from Exception only
                errors.append(f"nvdec {name} {depth}-bit: {exc.__class__.__name__}: {exc}")
    return limits, errors


def nvenc_codecs(nvc: Any) -> tuple[list[str], list[str]]:
    """The codecs NVENC can encode here, and the errors met asking (A100/H100/H200: none)."""
    found: list[str] = []
    errors: list[str] = []
    for name in CODECS:
        try:
            caps = nvc.GetEncoderCaps(codec=name)
            if caps and caps.get("num_encoder_engines", 1):
                found.append(name)
        except Exception as exc:
            errors.append(f"nvenc {name}: {exc.__class__.__name__}: {exc}")
    return found, errors


def probe() -> dict[str, Any]:
    out: dict[str, Any] = {"gpu": None, "driver": None, "cuda_runtime": None, "cupy": False, "nvrtc": False,
                           "nvdec_codecs": [], "nvdec_limits": {}, "nvenc_codecs": [], "pynvvideocodec": None,
                           "errors": []}
    try:
        import cupy

        if cupy.is_available():
            out["gpu"] = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
            out["driver"] = cupy.cuda.runtime.driverGetVersion()
            out["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
            out["cupy"] = True
            try:  # compiling needs NVRTC and, since CuPy 14, the CUDA runtime headers
                kernel = cupy.RawKernel('extern "C" __global__ void k(int* a){a[0]=1;}', "k")
                kernel((1,), (1,), (cupy.zeros(1, cupy.int32),))
                out["nvrtc"] = True
            except Exception as exc:
                out["errors"].append(f"nvrtc: {exc.__class__.__name__}: {exc}")
    except Exception as exc:
        out["errors"].append(f"cupy: {exc.__class__.__name__}: {exc}")
    if out["gpu"]:
        try:
            import PyNvVideoCodec as nvc  # noqa: N813 - the package's own name

            codecs = codec_caps(nvc)
            out["errors"] += codecs.pop("errors")
            out.update(codecs)
        except Exception as exc:
            out["errors"].append(f"PyNvVideoCodec: {exc.__class__.__name__}: {exc}")
    return out


def codec_caps(nvc: Any) -> dict[str, Any]:
    """The probe's PyNvVideoCodec part: version, NVDEC limits and codecs (8-bit 4:2:0), NVENC codecs."""
    limits, errors = nvdec_limits(nvc)
    encoders, more = nvenc_codecs(nvc)
    return {"pynvvideocodec": getattr(nvc, "__version__", "unknown"), "nvdec_limits": limits,
            "nvdec_codecs": [name for name in CODECS if "8" in limits.get(name, {})], "nvenc_codecs": encoders,
            "errors": errors + more}


# The answer's line starts with this, so the caller finds it among whatever a native library
# prints to the same stdout (C's printf is flushed at exit, after Python's own output).
MARKER = "REELGPU_CAPS "

if __name__ == "__main__":
    print(MARKER + json.dumps(probe()), flush=True)
