"""Shared fixtures: small generated media (never committed) and decoding helpers."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from reelgpu.media.samples import make_sample_video


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def sample_30(media_dir: Path) -> Path:
    """320x180, 30 fps, 2 s, moving marker, 440 Hz tone."""
    return make_sample_video(media_dir / "s30.mp4", width=320, height=180, fps=30, seconds=2.0)


@pytest.fixture(scope="session")
def sample_25(media_dir: Path) -> Path:
    return make_sample_video(media_dir / "s25.mp4", width=320, height=180, fps=25, seconds=2.0)


@pytest.fixture(scope="session")
def sample_60(media_dir: Path) -> Path:
    return make_sample_video(media_dir / "s60.mp4", width=320, height=180, fps=60, seconds=2.0)


@pytest.fixture(scope="session")
def sample_noaudio(media_dir: Path) -> Path:
    return make_sample_video(media_dir / "silent.mp4", width=320, height=180, fps=30, seconds=1.0, audio=False)


@pytest.fixture(scope="session")
def sample_rotated(media_dir: Path) -> Path:
    """Stored 320x180 with a 90-degree display matrix: upright it is 180x320."""
    return make_sample_video(media_dir / "rot90.mp4", width=320, height=180, fps=30, seconds=1.0, rotation=90)


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        pytest.skip("the ffmpeg CLI is not installed (needed as an outside oracle; .ci/run installs it)")
    return path


def decode_frames(path: Path) -> list[tuple[float, np.ndarray]]:
    """(pts seconds, luma plane) of every frame, via PyAV directly (not via reelgpu).

    The Y plane is read raw: converting to "gray" would rescale range-tagged streams.
    """
    out = []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        for f in c.decode(s):
            plane = f.planes[0]
            y = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[: f.height, : f.width].copy()
            out.append((float(f.pts * s.time_base), y))
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
