"""Shared fixtures: small generated media (never committed) and decoding helpers."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import av
import numpy as np
import pytest

from reelgpu.media.lazy_input import LazyInput
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


def write_moving_bar(path: Path, codec: str, options: dict[str, str], *, fmt: str | None = None,
                     frames: int = 30, width: int = 320, height: int = 240) -> Path:
    """A 30 fps video (320x240 by default; AV1 takes odd sizes) of a moving bar each way with
    any PyAV encoder (make_sample_video is libx264 only): small and quick, with B-frames where
    the encoder's options make them."""
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = options
        for i in range(frames):
            img = np.full((height, width, 3), 40, np.uint8)
            img[:, (i * 9) % width] = 255
            img[(i * 5) % height] = 128
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def remux_video(src: Path, dst: Path, fmt: str) -> Path:
    """``src``'s video stream copied into a ``fmt`` container (no re-encoding)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", format=fmt) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:  # the demuxer's empty flush packet
                packet.stream = stream
                out.mux(packet)
    return dst


def noisy_video(path: Path, *, seconds: float, gop: int, bitrate: str = "1M") -> Path:
    """320x180 30 fps test pattern with grain (it does not compress away: ~1 Mbit/s, so byte
    ranges mean something), a 440 Hz tone, a key frame every ``gop`` frames; faststart MP4 made
    by the ffmpeg CLI (skips the test without it)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("the ffmpeg CLI is not installed (it makes the noisy test video; .ci/run installs it)")
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30", "-f", "lavfi",
                    "-i", "sine=f=440:sample_rate=48000", "-t", f"{seconds:g}", "-vf", "noise=alls=30:allf=t",
                    "-c:v", "libx264", "-preset", "ultrafast", "-b:v", bitrate, "-g", str(gop), "-c:a", "aac",
                    "-shortest", "-movflags", "+faststart", str(path)], check=True)
    return path


class FileRemote:
    """A local file served the way storage serves one: ``fetch(offset, length)``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = path.stat().st_size
        self.calls: list[tuple[int, int]] = []

    def __call__(self, offset: int, length: int) -> bytes:
        self.calls.append((offset, length))
        with open(self.path, "rb") as f:
            f.seek(offset)
            return f.read(length)


@contextmanager
def lazy_copy(src: Path, folder: Path, block_size: int = 64 * 1024) -> Iterator[tuple[LazyInput, FileRemote]]:
    """``src`` as a LazyInput under ``folder``, its placeholder filled with 0xFF: a reader that
    bypassed the lazy input and opened the placeholder itself would read garbage."""
    remote = FileRemote(src)
    folder.mkdir(parents=True, exist_ok=True)
    with LazyInput(folder / src.name, remote.size, remote, block_size=block_size) as lazy:
        with open(lazy.path, "r+b") as f:  # garbage where a bypassing reader would look
            f.write(b"\xff" * remote.size)
        yield lazy, remote
