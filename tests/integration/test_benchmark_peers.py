"""The peer comparisons of benchmarks/peers.py compare like with like: the ffmpeg CLI command
standing in for an export gives the same frames as the export (within two encodes' noise).
A peer that cut a frame early or late, or skipped the banner, would make its ratio a lie."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

import reelgpu
from reelgpu.media.samples import make_sample_video

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def benchlib():
    sys.path.insert(0, str(BENCH))  # benchmarks/ is not a package (see docs/benchmarks.md)
    try:
        import benchlib

        yield benchlib
    finally:
        sys.path.remove(str(BENCH))


def luma_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="gray").astype(np.float64) for f in c.decode(video=0)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def test_the_ffmpeg_annotate_peer_gives_annotates_frames(benchlib, ffmpeg: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(benchlib, "FFMPEG", ffmpeg)
    seconds = 2.0
    src = tmp_path / "src.mp4"
    make_sample_video(str(src), width=640, height=360, fps=30, seconds=seconds)
    ours = reelgpu.annotate(src, tmp_path / "reelgpu.mp4", benchlib.annotate_spec(seconds), device="cpu")
    banners = benchlib.annotate_banners(src, seconds, tmp_path)
    subprocess.run(benchlib.ffmpeg_annotate_cmd(src, tmp_path / "ffmpeg.mp4", seconds, banners), check=True)

    a, b = luma_frames(ours.output), luma_frames(tmp_path / "ffmpeg.mp4")
    assert len(a) == len(b) == round(benchlib.ANNOTATE_CLIPS * seconds / 5 * 30)
    same = [psnr(x, y) for x, y in zip(a, b)]
    assert min(same) > 35, same
    # The check can tell: a frame off (the sample moves every frame) falls far below that.
    assert max(psnr(x, y) for x, y in zip(a[1:], b)) < 30
    peer = reelgpu.probe(tmp_path / "ffmpeg.mp4")
    assert peer.audio_codec == "aac" and peer.duration_s == pytest.approx(ours.duration_s, abs=0.03)
