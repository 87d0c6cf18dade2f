"""The GPU probe's PyNvVideoCodec calls (``reelgpu/_gpu_probe.py``) against the real 2.2.4 binary.

The stub's ``cuvidGetDecoderCaps`` folds the question into its answer (nMaxWidth = 4096 +
codec id, nMaxHeight = 2304 + bit depth - 8), so each row below proves which query produced it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

PROBE = str(Path(__file__).resolve().parents[2] / "reelgpu" / "_gpu_probe.py")

# Loaded by path, as reelgpu.device runs it: it must not need the reelgpu package.
RUN_PROBE = """
import runpy
probe = runpy.run_path(ARGS["probe"])
limits, nvdec_errors = probe["nvdec_limits"](nvc)
codecs, nvenc_errors = probe["nvenc_codecs"](nvc)
emit({"limits": limits, "nvdec_errors": nvdec_errors, "codecs": codecs, "nvenc_errors": nvenc_errors})
"""

CODEC_IDS = {"h264": 4, "hevc": 8, "av1": 11}  # cudaVideoCodec_H264, _HEVC, _AV1


def test_nvdec_limits_per_codec_and_bit_depth(run_nvc: Any) -> None:
    result = run_nvc(RUN_PROBE, args={"probe": PROBE})
    assert result.returncode == 0, result.explain()
    out = result.value
    assert out["nvdec_errors"] == []
    # [width_min, height_min, width_max, height_max, mb_max] per codec, 8- and 10-bit 4:2:0
    assert out["limits"] == {
        name: {"8": [48, 16, 4096 + cid, 2304, 36864], "10": [48, 16, 4096 + cid, 2306, 36864]}
        for name, cid in CODEC_IDS.items()
    }
    asked = {(int(c["codec"]), int(c["chroma"]), int(c["bitDepthMinus8"])) for c in result.calls("cuvidGetDecoderCaps")}
    assert asked == {(cid, 1, d) for cid in CODEC_IDS.values() for d in (0, 2)}  # 4:2:0 = 1; bitdepth is absolute


def test_nvdec_unsupported_everywhere(run_nvc: Any) -> None:
    result = run_nvc(RUN_PROBE, args={"probe": PROBE}, env={"PYNVVC_STUB_NVDEC_UNSUPPORTED": "1"})
    assert result.returncode == 0, result.explain()
    assert (result.value["limits"], result.value["nvdec_errors"]) == ({}, [])


def test_nvenc_codecs(run_nvc: Any) -> None:
    result = run_nvc(RUN_PROBE, args={"probe": PROBE})
    assert result.returncode == 0, result.explain()
    assert (result.value["codecs"], result.value["nvenc_errors"]) == (["h264", "hevc", "av1"], [])


def test_nvenc_without_engines(run_nvc: Any) -> None:
    """NV_ENC_CAPS_NUM_ENCODER_ENGINES = 0: no codec, and nothing went wrong."""
    result = run_nvc(RUN_PROBE, args={"probe": PROBE}, env={"PYNVVC_STUB_NVENC_ENGINES": "0"})
    assert result.returncode == 0, result.explain()
    assert (result.value["codecs"], result.value["nvenc_errors"]) == ([], [])


def test_nvenc_absent_is_reported_not_raised(run_nvc: Any) -> None:
    """No NVENC session can be opened (A100/H100/H200): GetEncoderCaps raises, the probe records it."""
    result = run_nvc(RUN_PROBE, args={"probe": PROBE}, env={"PYNVVC_STUB_NVENC_ABSENT": "1"})
    assert result.returncode == 0, result.explain()
    assert result.value["codecs"] == []
    errors = result.value["nvenc_errors"]
    assert [e.split(":")[0] for e in errors] == ["nvenc h264", "nvenc hevc", "nvenc av1"]
    assert all("PyNvVCException" in e for e in errors)


@pytest.mark.parametrize(("call", "error"), [
    # What the probe used to call: the 4:2:0 member is named "420", not "_420" ...
    ("nvc.GetDecoderCaps(gpuid=0, codec=nvc.cudaVideoCodec.H264, "
     "chromaformat=nvc.cudaVideoChromaFormat._420, bitdepthminus8=0)", "AttributeError"),
    # ... and the keyword is bitdepth (absolute), not bitdepthminus8.
    ("nvc.GetDecoderCaps(gpuid=0, codec=nvc.cudaVideoCodec.H264, "
     "chromaformat=getattr(nvc.cudaVideoChromaFormat, '420'), bitdepthminus8=0)", "TypeError"),
])
def test_the_old_probe_call_raises(run_nvc: Any, call: str, error: str) -> None:
    result = run_nvc(f"""
try:
    {call}
    emit(None)
except Exception as exc:
    emit(type(exc).__name__)
""")
    assert result.returncode == 0, result.explain()
    assert result.value == error
    assert result.calls("cuvidGetDecoderCaps") == []  # rejected before reaching the driver


def test_bitdepth_is_absolute(run_nvc: Any) -> None:
    """``bitdepth=0`` (a minus-8 value) wraps round to nBitDepthMinus8 = 2**32 - 8."""
    result = run_nvc("""
nvc.GetDecoderCaps(gpuid=0, codec=nvc.cudaVideoCodec.HEVC, bitdepth=0)
nvc.GetDecoderCaps(gpuid=0, codec=nvc.cudaVideoCodec.HEVC, bitdepth=10)
emit(sorted(nvc.cudaVideoChromaFormat.__members__))
""")
    assert result.returncode == 0, result.explain()
    assert [c["bitDepthMinus8"] for c in result.calls("cuvidGetDecoderCaps")] == [str(2**32 - 8), "2"]
    assert result.value == ["420", "422", "444", "Monochrome"]


ASSEMBLE = """
import json, runpy
from reelgpu.device import Capabilities, backends_for, nvdec_refusal

probe = runpy.run_path(ARGS["probe"])
codecs = json.loads(json.dumps(probe["codec_caps"](nvc)))  # the child's JSON, as device.capabilities reads it
caps = Capabilities(gpu="stub GPU", cupy=True, nvrtc=True, gpu_pipeline=True,
                    **{k: v for k, v in codecs.items() if k != "errors"})
emit({"codecs": codecs, "backends": backends_for("auto", caps),
      "h264_1080p": nvdec_refusal(caps, codec="h264", pix_fmt="yuv420p", coded_width=1920, coded_height=1088,
                                  container="iso"),
      "hevc_10bit_4k": nvdec_refusal(caps, codec="hevc", pix_fmt="yuv420p10le", coded_width=3840,
                                     coded_height=2160, container="matroska")})
"""


@pytest.mark.parametrize(("env", "backends"), [
    ({}, {"decode": "nvdec", "process": "cupy", "encode": "nvenc"}),
    ({"PYNVVC_STUB_NVENC_ABSENT": "1"}, {"decode": "nvdec", "process": "cupy", "encode": "libx264"}),  # H100-like
    ({"PYNVVC_STUB_NVDEC_UNSUPPORTED": "1"}, {"decode": "pyav", "process": "numpy", "encode": "libx264"}),
])
def test_probe_answers_choose_the_backends(run_nvc: Any, env: dict[str, str], backends: dict[str, str]) -> None:
    """The probe's JSON, read back into Capabilities, drives the choice ``auto`` makes."""
    result = run_nvc(ASSEMBLE, args={"probe": PROBE}, env=env)
    assert result.returncode == 0, result.explain()
    out = result.value
    assert out["codecs"]["pynvvideocodec"] == "2.2.4"
    assert out["backends"] == backends
    if backends["decode"] == "nvdec":
        assert out["codecs"]["nvdec_codecs"] == ["h264", "hevc", "av1"]
        assert out["h264_1080p"] is None and out["hevc_10bit_4k"] is None  # within the stub's 4096+x2304+ limits
