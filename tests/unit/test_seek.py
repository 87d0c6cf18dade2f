"""Decoding starts at the last key frame at or before the start time, in every container.

MPEG-TS has no index: FFmpeg's seek there lands between key frames, and decoding started
after the start time (a trim showing the wrong moment) or not at all. Both sources demux
through reelgpu.media.seek.packets_from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reelgpu.media.decode_cpu import PyAVVideoSource
from reelgpu.media.samples import make_sample_video
from tests.conftest import remux_video


def pts_from(path: Path, start_s: float) -> list[float]:
    src = PyAVVideoSource(path, start_s=start_s)
    try:
        return [round(f.pts_s, 6) for f in src]
    finally:
        src.close()


@pytest.fixture(scope="module", params=[30, 60, 250])  # 250: x264's default, one key frame in 4 s
def gop_files(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 4 s 30 fps clip with a key frame every ``param`` frames, in three containers."""
    folder = tmp_path_factory.mktemp(f"gop{request.param}")
    mp4 = make_sample_video(folder / "clip.mp4", seconds=4.0, gop=request.param, audio=False)
    return {"mp4": mp4, "ts": remux_video(mp4, folder / "clip.ts", "mpegts"),
            "mkv": remux_video(mp4, folder / "clip.mkv", "matroska"), "gop_s": request.param / 30}


@pytest.mark.parametrize("container", ["mp4", "ts", "mkv"])
@pytest.mark.parametrize("start_s", [0.0, 0.7, 1.2, 1.6, 2.5, 3.3])
def test_decoding_starts_at_a_key_frame_at_or_before_the_start(gop_files: dict[str, Any], container: str,
                                                               start_s: float) -> None:
    everything = pts_from(gop_files[container], 0.0)
    got = pts_from(gop_files[container], start_s)
    assert got and got[0] <= start_s + 1e-6, f"starts at {got[:1]}"
    assert got == everything[-len(got):]  # then every frame to the end, none lost or repeated
    key_frames = [t for t in everything if round(t * 30) % round(gop_files["gop_s"] * 30) == 0]
    assert got[0] in key_frames
    assert got[0] >= max(t for t in key_frames if t <= start_s + 1e-6) - gop_files["gop_s"]  # not much earlier
