"""Backend choice per stage, from probed capabilities (no GPU needed: capabilities are faked)."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
from pathlib import Path

import pytest

import reelgpu.device as device
from reelgpu import BackendUnavailable, InvalidSpec
from reelgpu.backends import Backend, cpu_backend, fit_to_inputs, select_backend
from reelgpu.device import Capabilities, backends_for, capabilities, probe_answer

# NVDEC limits as GetDecoderCaps reports them: [width_min, height_min, width_max, height_max, macroblocks]
H264_8 = [48, 16, 4096, 4096, 36864]  # 36864 macroblocks: 4096x2304
HEVC = {"8": [144, 144, 8192, 8192, 262144], "10": [144, 144, 8192, 8192, 262144]}
H100 = Capabilities(gpu="NVIDIA H100", cupy=True, nvrtc=True, nvdec_codecs=["h264", "hevc"],
                    nvdec_limits={"h264": {"8": H264_8}, "hevc": HEVC}, gpu_pipeline=True)
L4 = Capabilities(gpu="NVIDIA L4", cupy=True, nvrtc=True, nvdec_codecs=["h264", "hevc", "av1"],
                  nvdec_limits={"h264": {"8": H264_8}, "hevc": HEVC, "av1": HEVC},
                  nvenc_codecs=["h264", "hevc"], gpu_pipeline=True)
NONE = Capabilities(errors=["cupy: ModuleNotFoundError"])


def test_auto_per_stage() -> None:
    assert backends_for("auto", NONE) == {"decode": "pyav", "process": "numpy", "encode": "libx264"}
    assert backends_for("auto", H100) == {"decode": "nvdec", "process": "cupy", "encode": "libx264"}
    assert backends_for("auto", L4) == {"decode": "nvdec", "process": "cupy", "encode": "nvenc"}
    assert backends_for("cpu", L4)["process"] == "numpy"


@pytest.mark.parametrize(("caps", "reason"), [
    (NONE, "no usable NVIDIA GPU"),
    (Capabilities(gpu="X", cupy=True, nvrtc=False, nvdec_codecs=["h264"], gpu_pipeline=True), "NVDEC/CuPy/NVRTC"),
])
def test_cuda_without_a_usable_gpu_names_what_is_missing(caps: Capabilities, reason: str) -> None:
    with pytest.raises(BackendUnavailable, match=reason):
        backends_for("cuda", caps)
    with pytest.raises(InvalidSpec, match="device must be 'auto', 'cpu' or 'cuda', got 'gpu'"):
        backends_for("gpu", caps)  # type: ignore[arg-type]  # a wrong argument, not a missing GPU


def test_capability_table_says_what_auto_runs() -> None:
    table = H100.as_table()
    assert "NVIDIA H100" in table and "encode=libx264" in table and re.search(r"NVENC codecs +none", table)
    assert re.search(r"GPU stages installed +yes \(used where a GPU is usable\)", table)
    assert L4.to_dict()["backends"]["encode"] == "nvenc"


def test_doctor_says_which_cpu_resampler_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    from reelgpu.ops import resample_native

    monkeypatch.setenv("REELGPU_RESAMPLER", "numpy")
    assert "numpy fallback (REELGPU_RESAMPLER=numpy)" in NONE.as_table()
    monkeypatch.delenv("REELGPU_RESAMPLER")
    expected = "compiled" if resample_native.AVAILABLE else "numpy fallback (reelgpu.ops._resample not built)"
    assert NONE.to_dict()["cpu_resampler"].startswith(expected)


def test_probe_runs_in_a_subprocess_and_reports_here() -> None:
    caps = device.capabilities()
    assert isinstance(caps, Capabilities)
    if caps.gpu is None:
        assert select_backend("auto").stages == cpu_backend().stages


@pytest.mark.parametrize(("codec", "pix_fmt", "size", "container", "why"), [
    ("h264", "yuv420p", (1920, 1080), "iso", None),
    ("h264", "yuvj420p", (3840, 2160), "matroska", None),
    ("hevc", "yuv420p10le", (3840, 2160), "mpegts", None),
    ("h264", "yuv420p10le", (1920, 1080), "iso", "cannot decode 10-bit h264"),
    ("av1", "yuv420p", (1920, 1080), "iso", "cannot decode 8-bit av1"),
    ("vp9", "yuv420p", (1920, 1080), "matroska", "cannot decode 8-bit vp9"),
    ("h264", "yuv422p", (1920, 1080), "iso", "4:2:0 video only, not yuv422p"),
    ("h264", "yuv420p", (8192, 4320), "iso", "8192x4320 h264 is outside NVDEC's limits"),
    ("h264", "yuv420p", (32, 32), "iso", "outside NVDEC's limits"),
    ("h264", "yuv420p", (4096, 4096), "iso", "36864 macroblocks"),  # each side fits, the area does not
    ("h264", "yuv420p", (4096, 2304), "iso", None),
    ("h264", "yuv420p", (1920, 1080), "avi", "AVI files carry no presentation times"),
])
def test_nvdec_refusal(codec: str, pix_fmt: str, size: tuple[int, int], container: str, why: str | None) -> None:
    got = device.nvdec_refusal(H100, codec=codec, pix_fmt=pix_fmt, coded_width=size[0], coded_height=size[1],
                               container=container)
    assert got is None if why is None else why in (got or "")


def test_interlaced_video_is_decoded_on_the_cpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ffmpeg: str) -> None:
    # PyNvVideoCodec deinterlaces a non-progressive stream on NVDEC; FFmpeg (the reference)
    # keeps the fields woven: such a source would fail the GPU/CPU parity, so auto sends it to the CPU.
    from reelgpu import probe
    from tests.conftest import write_moving_bar

    fields = probe(write_moving_bar(tmp_path / "i.mp4", "libx264", {"flags": "+ildct+ilme", "x264-params": "tff=1"}))
    frames = probe(write_moving_bar(tmp_path / "p.mp4", "libx264", {}))
    assert fields.interlaced and not frames.interlaced
    # A container's field-order tag on progressive pictures does not make them interlaced.
    tagged = tmp_path / "tagged.mkv"
    subprocess.run([ffmpeg, "-loglevel", "error", "-i", str(tmp_path / "p.mp4"), "-c", "copy",
                    "-field_order", "tt", str(tagged)], check=True, timeout=60)
    assert not probe(tagged).interlaced
    monkeypatch.setattr(device, "capabilities", lambda: H100)
    gpu = Backend(stages={"decode": "nvdec", "process": "cupy", "encode": "libx264"}, ops=cpu_backend().ops,
                  open_source=lambda c: None, make_writer=lambda *a, **k: None)
    assert fit_to_inputs(gpu, "auto", [frames]) is gpu
    assert fit_to_inputs(gpu, "auto", [frames, fields]).stages["decode"] == "pyav"
    with pytest.raises(BackendUnavailable, match="i.mp4: interlaced video: NVDEC would deinterlace it"):
        fit_to_inputs(gpu, "cuda", [fields])


def test_inputs_nvdec_cannot_decode_go_to_the_cpu_for_auto_only(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    from reelgpu import probe
    from reelgpu.media.samples import make_sample_video

    monkeypatch.setattr(device, "capabilities", lambda: H100)
    info = probe(make_sample_video(tmp_path / "clip.mp4", seconds=0.2, audio=False))
    gpu = Backend(stages={"decode": "nvdec", "process": "cupy", "encode": "libx264"}, ops=cpu_backend().ops,
                  open_source=lambda c: None, make_writer=lambda *a, **k: None)
    assert fit_to_inputs(gpu, "auto", [info]) is gpu
    ten_bit = dataclasses.replace(info, pix_fmt="yuv420p10le")
    assert fit_to_inputs(gpu, "auto", [info, ten_bit]).stages["decode"] == "pyav"
    with pytest.raises(BackendUnavailable, match="clip.mp4: NVDEC on this GPU cannot decode 10-bit h264"):
        fit_to_inputs(gpu, "cuda", [info, ten_bit])


def test_worker_gpu_checks_agree_with_the_backend_choice() -> None:
    """The worker's REELGPU_REQUIRE_GPU check and its start-up log use the same rule as ``auto``."""
    from handler.__main__ import gpu_usable, nvenc_usable

    for caps in (NONE, H100, L4):
        assert gpu_usable(caps) == (backends_for("auto", caps)["process"] == "cupy")
        assert nvenc_usable(caps) == (backends_for("auto", caps)["encode"] == "nvenc")


def test_doctor_table_shows_nvdec_limits() -> None:
    rows = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in H100.as_table().splitlines())
    assert rows["NVDEC limits (4:2:0)"] == "h264 8-bit up to 4096x4096; hevc 8/10-bit up to 8192x8192"
    assert "NVDEC limits (4:2:0)" in NONE.as_table() and NONE.as_table().split("NVDEC limits (4:2:0)")[1].split()[0] == "-"


def test_the_probe_answer_is_found_among_native_output() -> None:
    # C's printf is flushed at exit, after Python's line: the answer is not always the last line.
    answer = {"gpu": "NVIDIA H200", "nvdec_codecs": ["h264"]}
    out = f"[NVDEC] init\nREELGPU_CAPS {json.dumps(answer)}\nDecoder destroyed, 3 surfaces freed\n"
    assert probe_answer(out) == answer
    assert probe_answer("no newline before it REELGPU_CAPS {\"gpu\": null}") == {"gpu": None}
    with pytest.raises(ValueError, match="no answer"):
        probe_answer(json.dumps(answer))


def test_a_saved_answer_replaces_the_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saved = tmp_path / "doctor.json"  # what `reelgpu doctor --json` writes, extra keys included
    saved.write_text(json.dumps({**dataclasses.asdict(H100), "backends": {"decode": "nvdec"}, "cpu_resampler": "x"}))
    monkeypatch.setenv("REELGPU_CAPS_FILE", str(saved))
    monkeypatch.setattr(device, "_probe_in_subprocess", lambda _t: pytest.fail("probed although an answer was saved"))
    capabilities.cache_clear()
    try:
        caps = capabilities()
        assert (caps.gpu, caps.nvdec_codecs, caps.nvenc_codecs) == (H100.gpu, H100.nvdec_codecs, H100.nvenc_codecs)
        for broken in ("{not json", "[1, 2]", "null"):
            saved.write_text(broken)
            capabilities.cache_clear()
            assert "REELGPU_CAPS_FILE" in capabilities().errors[0] and capabilities().gpu is None
    finally:
        capabilities.cache_clear()


@pytest.mark.parametrize("executable", ["", "/nonexistent/python3", "/etc/hostname"])
def test_a_python_that_cannot_start_means_no_gpu(monkeypatch: pytest.MonkeyPatch, executable: str) -> None:
    """An embedded interpreter (uWSGI, an app with Python inside) may have an empty or
    unrunnable ``sys.executable``: ``auto`` then renders on the CPU, and says why."""
    monkeypatch.delenv("REELGPU_FORCE_CPU", raising=False)
    monkeypatch.delenv("REELGPU_CAPS_FILE", raising=False)
    monkeypatch.setattr(device.sys, "executable", executable)
    capabilities.cache_clear()
    try:
        caps = capabilities()
        assert caps.gpu is None and "probe" in caps.errors[0]
        assert device.backends_for("auto", caps) == {"decode": "pyav", "process": "numpy", "encode": "libx264"}
    finally:
        capabilities.cache_clear()
