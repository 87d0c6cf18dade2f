"""``reelgpu.media.encode_nvenc``'s PyNvVideoCodec calls against the real 2.2.4 encoder.

``nvenc_options`` only takes effect through ``CreateEncoder``'s string options, which 2.2.4
does not validate (a misspelled key is silently ignored). The stub logs the
``NV_ENC_INITIALIZE_PARAMS`` and ``NV_ENC_CONFIG`` the binary builds from them at
``nvEncInitializeEncoder``, and the ``cuMemcpy2DAsync`` calls with which it reads the NV12
input, so each option and the input layout are checked where they land.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from reelgpu.media.encode_nvenc import nvenc_options
from reelgpu.specs import EncodeSettings

W, H = 320, 240
STREAM = 0x5EED000
BUFFER = 0x10000000  # a made-up device address: the stub driver never dereferences it

CREATE = """
from fractions import Fraction
from reelgpu.media.encode_nvenc import nvenc_options, open_nvenc
from reelgpu.specs import EncodeSettings

opts = nvenc_options(EncodeSettings(**ARGS["settings"]), fps=Fraction(ARGS["fps"]), gpu_id=0, stream_ptr=ARGS["stream"])
opts.update(ARGS.get("extra", {}))
encoder = open_nvenc(nvc, ARGS["width"], ARGS["height"], opts)  # what NvencWriter opens
emit({"b_frames": encoder.GetNumBFrames()})
"""

ENCODE = """
import types
from fractions import Fraction
from reelgpu.media.encode_nvenc import NvencWriter, _CudaArrayInterface, _Nv12Input, nvenc_options, open_nvenc
from reelgpu.specs import EncodeSettings

W, H = ARGS["width"], ARGS["height"]
opts = nvenc_options(EncodeSettings(), fps=Fraction(30), gpu_id=0, stream_ptr=ARGS["stream"])
encoder = open_nvenc(nvc, W, H, opts)

class Pitched:  # NV12 with 64 bytes of row padding
    def cuda(self):
        pitch = W + 64
        return [_CudaArrayInterface(ARGS["buffer"], (H, W, 1), (pitch, 1, 1)),
                _CudaArrayInterface(ARGS["buffer"] + pitch * H, (H // 2, W // 2, 2), (pitch, 2, 1))]
try:
    encoder.Encode(Pitched(), nvc.NV_ENC_PIC_PARAMS())
    pitched = None
except Exception as exc:
    pitched = f"{type(exc).__name__}: {exc}"

buf = types.SimpleNamespace(data=types.SimpleNamespace(ptr=ARGS["buffer"]))  # what a CuPy array offers
packets = []
for i in range(ARGS["frames"]):
    pic = nvc.NV_ENC_PIC_PARAMS()
    pic.inputTimeStamp = i
    packets += encoder.Encode(_Nv12Input(buf, W, H), pic)
packets += encoder.EndEncode()

class Muxer:  # stands in for AnnexBMuxer: what NvencWriter._mux_packets hands on
    got = []
    def mux(self, data, index):
        self.got.append([data.hex(), index])

NvencWriter._mux_packets(types.SimpleNamespace(_mux=Muxer()), packets)
emit({"types": sorted({type(p).__name__ for p in packets}),
      "keys": sorted({k for p in packets for k in p}),
      "packets": [[p["data"].hex(), p["timestamp"], p["picture_type"]] for p in packets if isinstance(p, dict)],
      "muxed": Muxer.got, "pitched": pitched})
"""


def create(run_nvc: Any, settings: dict[str, Any], fps: Fraction, extra: dict[str, str] | None = None) -> Any:
    result = run_nvc(CREATE, args={"settings": settings, "fps": str(fps), "stream": STREAM, "width": W, "height": H,
                                   "extra": extra or {}})
    assert result.returncode == 0, result.explain()
    [init] = result.calls("nvEncInitializeEncoder")
    [config] = result.calls("NV_ENC_CONFIG")
    [codec_config] = result.calls("NV_ENC_CONFIG_H264") + result.calls("NV_ENC_CONFIG_HEVC")
    return result, init, config, codec_config


@pytest.mark.parametrize("codec", ["h264", "hevc"])
@pytest.mark.parametrize(("fps", "num", "den"), [(Fraction(30000, 1001), 2997, 100), (Fraction(25), 25, 1)])
def test_encoder_configuration(run_nvc: Any, codec: str, fps: Fraction, num: int, den: int) -> None:
    result, init, config, codec_config = create(run_nvc, {"codec": codec, "cq": 23}, fps)
    gop = round(2 * fps)  # 2-second GOPs
    assert init["codec"] == codec
    assert (init["width"], init["height"]) == (str(W), str(H))
    assert init["preset"] == "0x90a7b826"  # NV_ENC_PRESET_P4_GUID, the default
    assert init["tuningInfo"] == "1"  # NV_ENC_TUNING_INFO_HIGH_QUALITY
    assert (init["frameRateNum"], init["frameRateDen"]) == (str(num), str(den))  # not rounded to 30
    assert config["rateControlMode"] == "1"  # NV_ENC_PARAMS_RC_VBR
    assert config["targetQuality"] == "23"  # cq
    assert (config["averageBitRate"], config["maxBitRate"]) == ("0", "0")  # no bitrate target
    assert config["frameIntervalP"] == "1"  # I/P only: no B-frames
    assert result.value == {"b_frames": 0}
    assert (config["gopLength"], codec_config["idrPeriod"]) == (str(gop), str(gop))  # every I frame an IDR
    assert codec_config["repeatSPSPPS"] == "1"
    assert codec_config["videoFormat"] == "5"  # NV_ENC_VUI_VIDEO_FORMAT_UNSPECIFIED: the VUI offsets are right
    # BT.709 limited range is written by AnnexBMuxer's bitstream filter; the encoder must not say full range
    assert codec_config["videoFullRangeFlag"] == "0"
    assert {c["stream"] for c in result.calls("cuStreamGetCtx")} == {hex(STREAM)}


def test_preset_reaches_the_encoder(run_nvc: Any) -> None:
    _, init, _, _ = create(run_nvc, {"preset": "p7"}, Fraction(30))
    assert init["preset"] == "0x84848c12"  # NV_ENC_PRESET_P7_GUID


def test_colorspace_option_would_tag_full_range(run_nvc: Any) -> None:
    """Why nvenc_options passes no "colorspace": 2.2.4 then sets BT.709 *and* the full-range flag."""
    assert "colorspace" not in nvenc_options(EncodeSettings(), fps=Fraction(30), gpu_id=0, stream_ptr=1)
    _, _, _, vui = create(run_nvc, {}, Fraction(30), extra={"colorspace": "bt709"})
    assert (vui["colourPrimaries"], vui["transferCharacteristics"], vui["colourMatrix"]) == ("1", "1", "1")
    assert vui["videoFullRangeFlag"] == "1"


def test_encode_device_input_and_packets(run_nvc: Any) -> None:
    frames = 8
    result = run_nvc(ENCODE, args={"width": W, "height": H, "stream": STREAM, "buffer": BUFFER, "frames": frames})
    assert result.returncode == 0, result.explain()
    out = result.value

    # the project's documented quirk: padded input rows are refused (before reaching the encoder)
    assert out["pitched"] is not None and "Invalid strides" in out["pitched"]

    # _Nv12Input is read as one NV12 buffer with pitch == width: luma rows, then the chroma rows
    copies = [(int(c["src"], 16), c["srcPitch"], c["width"], c["height"], int(c["stream"], 16))
              for c in result.calls("cuMemcpy2DAsync")]
    luma = (BUFFER, str(W), str(W), str(H), STREAM)
    chroma = (BUFFER + W * H, str(W), str(W), str(H // 2), STREAM)
    assert copies == [luma, chroma] * frames
    # ... and NVENC itself works in that stream's order (why NvencWriter needs no host wait)
    streams = {(int(c["input"], 16), int(c["output"], 16)) for c in result.calls("nvEncSetIOCudaStreams")}
    assert streams == {(STREAM, STREAM)}
    pictures = result.calls("nvEncEncodePicture")
    eos = [int(c["flags"], 0) & 8 != 0 for c in pictures]  # NV_ENC_PIC_FLAG_EOS: EndEncode (and teardown)
    assert [int(c["timestamp"]) for c, end in zip(pictures, eos) if not end] == list(range(frames))
    assert eos[frames]

    # Encode/EndEncode return dicts; each packet carries its picture's input timestamp back
    assert (out["types"], out["keys"]) == (["dict"], ["data", "picture_type", "timestamp"])
    assert [p[1] for p in out["packets"]] == list(range(frames))
    assert [int(p[0][-8:], 16) for p in out["packets"]] == list(range(frames))  # the stub's picture number
    assert [p[2] for p in out["packets"]] == [3] + [0] * (frames - 1)  # NV_ENC_PIC_TYPE_IDR, then P
    # ... and NvencWriter muxes each packet's bytes at its own timestamp
    assert out["muxed"] == [[p[0], p[1]] for p in out["packets"]]

