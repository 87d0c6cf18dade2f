"""``device="auto"``: a stream NVDEC refuses mid-decode is rendered again on the CPU.

Without a GPU, the GPU backend is stood in for by one whose frame source is the CPU decoder
raising :class:`NvdecRefused` after a few frames, as ``decode_nvdec`` does when NVDEC turns a
stream down that the probe's capabilities let through (a profile or level it lacks).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import reelgpu
from reelgpu import backends
from reelgpu.demo_exports import overlay_spec
from reelgpu.errors import NvdecRefused
from reelgpu.media.decode_cpu import DecodedFrame, PyAVVideoSource
from reelgpu.result import ExportResult
from tests.conftest import decode_frames, psnr

REFUSED_AFTER = 5  # frames decoded before NVDEC refuses


class RefusingSource:
    """The CPU decoder, refusing the stream after ``REFUSED_AFTER`` frames."""

    def __init__(self, clip: Any) -> None:
        self.path = clip.path
        self._inner = PyAVVideoSource(clip.path, rotation=clip.rotation, start_s=clip.start_s)

    def __iter__(self) -> Iterator[DecodedFrame]:
        for n, frame in enumerate(self._inner):
            if n == REFUSED_AFTER:
                raise NvdecRefused(f"{self.path.name}: NVDEC cannot decode it (stub refusal); use device='cpu'")
            yield frame

    def close(self) -> None:
        self._inner.close()


def stand_in_gpu(monkeypatch: pytest.MonkeyPatch, export: str) -> list[str]:
    """Every device but "cpu" gets the refusing "NVDEC" backend; returns the devices asked for."""
    module = __import__(f"reelgpu.exports.{export}", fromlist=["select_backend"])
    asked: list[str] = []
    nvdec = replace(backends.cpu_backend(), open_source=RefusingSource,
                    stages={"decode": "nvdec", "process": "numpy", "encode": "libx264"})

    def select(device: str) -> backends.Backend:
        asked.append(device)
        return backends.cpu_backend() if device == "cpu" else nvdec

    monkeypatch.setattr(module, "select_backend", select)
    monkeypatch.setattr(module, "fit_to_inputs", lambda backend, device, inputs: backend)
    return asked


def specs(sample: Path) -> dict[str, dict[str, Any]]:
    return {
        "framing": {"keyframes": [{"time": 0, "x": 96, "y": 18, "width": 81, "height": 144}],
                    "target_width": 180, "target_height": 320},
        "overlay": overlay_spec(320, 180),
        "annotate": {"clips": [{"start_time": 0.2, "end_time": 1.0, "name": "Run", "rating": 4},
                               {"start_time": 1.2, "end_time": 1.8, "name": "Shot", "rating": 5}]},
    }


@pytest.mark.parametrize("export", ["framing", "overlay", "annotate"])
def test_auto_renders_again_on_the_cpu(monkeypatch: pytest.MonkeyPatch, sample_30: Path, tmp_path: Path,
                                       export: str) -> None:
    spec = specs(sample_30)[export]
    reference: ExportResult = getattr(reelgpu, export)(sample_30, tmp_path / "cpu.mp4", spec, device="cpu")
    asked = stand_in_gpu(monkeypatch, export)
    seen: list[tuple[int, int]] = []
    result = getattr(reelgpu, export)(sample_30, tmp_path / "auto.mp4", spec, device="auto",
                                      progress=lambda done, total: seen.append((done, total)))
    assert asked == ["auto", "cpu"]
    assert {k: result.backend[k] for k in ("decode", "process", "encode")} == reference.backend
    assert result.backend["fallback"].startswith(f"{sample_30.name}: NVDEC cannot decode it")
    assert result.frames == reference.frames
    got, want = decode_frames(result.output), decode_frames(reference.output)
    assert len(got) == len(want) == reference.frames
    # The CPU's picture every frame. Not bit-exact: libx264's threaded MB-tree lookahead makes two
    # encodes of the same frames differ slightly (docs/reliability.md, "Reproducibility").
    assert min(psnr(a[1], b[1]) for a, b in zip(got, want)) >= 40
    done = [d for d, _ in seen]
    assert done == sorted(set(done)) and done[-1] == reference.frames  # never backwards, never twice
    assert sorted(p.name for p in tmp_path.iterdir() if ".partial" in p.name) == []


def test_device_cuda_raises_the_refusal(monkeypatch: pytest.MonkeyPatch, sample_30: Path, tmp_path: Path) -> None:
    asked = stand_in_gpu(monkeypatch, "framing")
    with pytest.raises(NvdecRefused, match=f"{sample_30.name}: NVDEC cannot decode it") as caught:
        reelgpu.framing(sample_30, tmp_path / "out.mp4", specs(sample_30)["framing"], device="cuda")
    assert caught.value.code == "UNSUPPORTED_MEDIA"
    assert asked == ["cuda"]
    assert list(tmp_path.iterdir()) == []  # nothing under the output name, no partial file
