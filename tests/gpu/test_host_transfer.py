"""The no-NVENC path: NVDEC -> CuPy ops -> pinned host copies -> CPU writer, against the CPU path
(PyAV -> numpy ops) frame by frame, and into a real MP4."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from reelgpu.frames import Planes
from reelgpu.media.decode_cpu import PyAVVideoSource
from reelgpu.media.writer import Mp4Writer
from reelgpu.ops.crop_scale import crop_scale
from reelgpu.specs import EncodeSettings
from tests.gpu._parity import assert_planes_close

pytestmark = pytest.mark.nvdec

BOX = (96.25, 18.5, 81.0, 144.0)
OUT = (180, 320)


class Recorder:
    """A CPU frame sink that keeps copies of what it is given."""

    backend = "recorder"

    def __init__(self) -> None:
        self.frames = 0
        self.planes: list[tuple[np.ndarray, ...]] = []
        self.closed = False

    def write(self, planes: Planes) -> None:
        assert all(isinstance(p, np.ndarray) for p in planes)
        self.planes.append(tuple(np.array(p, copy=True) for p in planes))
        self.frames += 1

    def close(self) -> Path:
        self.closed = True
        return Path("unused")

    def abort(self) -> None:
        pass


def gpu_path(gpu: Any, path: Path, sink: Any, depth: int = 2) -> None:
    from reelgpu.media.decode_nvdec import NvdecVideoSource
    from reelgpu.media.host_transfer import HostTransferWriter

    src = NvdecVideoSource(path)
    writer = HostTransferWriter(sink, depth=depth)
    try:
        for n, frame in enumerate(src):
            box = (BOX[0] + 0.37 * n, *BOX[1:])  # a pan: new taps every frame
            writer.write(gpu.crop_scale(frame.planes, box, *OUT))
        writer.close()
    finally:
        src.close()


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_planes_reaching_the_cpu_encoder_match_the_cpu_path(gpu: Any, sample_30: Path, depth: int) -> None:
    rec = Recorder()
    gpu_path(gpu, sample_30, rec, depth)
    src = PyAVVideoSource(sample_30)
    try:
        ref = [crop_scale(f.planes, (BOX[0] + 0.37 * n, *BOX[1:]), *OUT) for n, f in enumerate(src)]
    finally:
        src.close()
    assert rec.closed and len(rec.planes) == len(ref) == 60
    for n, (g, r) in enumerate(zip(rec.planes, ref)):
        assert_planes_close(g, r, what=f"frame {n}")


def test_real_mp4_through_libx264(gpu: Any, sample_30: Path, tmp_path: Path) -> None:
    dst = tmp_path / "host.mp4"
    gpu_path(gpu, sample_30, Mp4Writer(dst, width=OUT[0], height=OUT[1], fps=Fraction(30), encode=EncodeSettings()))
    with av.open(str(dst)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 60
