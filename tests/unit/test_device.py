"""Backend choice per stage, from probed capabilities (no GPU needed: capabilities are faked)."""

from __future__ import annotations

import pytest

import reelgpu.device as device
from reelgpu import BackendUnavailable
from reelgpu.backends import Backend, cpu_backend, fit_to_inputs, select_backend
from reelgpu.device import Capabilities, backends_for

H100 = Capabilities(gpu="NVIDIA H100", cupy=True, nvrtc=True, nvdec_codecs=["h264", "hevc"], gpu_pipeline=True)
L4 = Capabilities(gpu="NVIDIA L4", cupy=True, nvrtc=True, nvdec_codecs=["h264", "hevc", "av1"],
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
    with pytest.raises(BackendUnavailable, match="device must be"):
        backends_for("gpu", caps)  # type: ignore[arg-type]


def test_capability_table_says_what_auto_runs() -> None:
    table = H100.as_table()
    assert "NVIDIA H100" in table and "encode=libx264" in table and "NVENC codecs                none" in table
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


def test_unsupported_codec_falls_back_to_cpu_for_auto_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device, "capabilities", lambda: H100)
    gpu = Backend(stages={"decode": "nvdec", "process": "cupy", "encode": "libx264"}, ops=cpu_backend().ops,
                  open_source=lambda c: None, make_writer=lambda *a, **k: None)
    assert fit_to_inputs(gpu, "auto", {"h264"}) is gpu
    assert fit_to_inputs(gpu, "auto", {"vp9"}).stages["decode"] == "pyav"
    with pytest.raises(BackendUnavailable, match="cannot decode vp9"):
        fit_to_inputs(gpu, "cuda", {"vp9"})


def test_worker_gpu_checks_agree_with_the_backend_choice() -> None:
    """The worker's REELGPU_REQUIRE_GPU check and its start-up log use the same rule as ``auto``."""
    from handler.__main__ import gpu_usable, nvenc_usable

    for caps in (NONE, H100, L4):
        assert gpu_usable(caps) == (backends_for("auto", caps)["process"] == "cupy")
        assert nvenc_usable(caps) == (backends_for("auto", caps)["encode"] == "nvenc")
