"""Decoding starts at the last key frame at or before the start time, in every container.

MPEG-TS has no index: FFmpeg's seek there lands between key frames, and decoding started
after the start time (a trim showing the wrong moment) or not at all. Both sources demux
through reelgpu.media.seek.packets_from.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from reelgpu.media.avi_times import avi_timing
from reelgpu.media.decode_cpu import PyAVVideoSource
from reelgpu.media.samples import make_sample_video
from reelgpu.media.seek import packets_from
from tests.conftest import remux_video


def pts_from(path: Path, start_s: float) -> list[float]:
    src = PyAVVideoSource(path, start_s=start_s)
    try:
        return [round(f.pts_s, 6) for f in src]
    finally:
        src.close()


def key_frame_times(path: Path) -> list[float]:
    """When each key frame is shown. AVI has no presentation times: FFmpeg's guess for its key
    frames runs ahead by a constant (avi_times.avi_timing)."""
    import av

    lead = avi_timing(path).pts_lead if path.suffix == ".avi" else 0
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        origin = float(s.start_time * s.time_base) if s.start_time is not None else 0.0
        return [round(float((p.pts - lead) * s.time_base) - origin, 6) for p in c.demux(s) if p.is_keyframe and p.size]


@pytest.fixture(scope="module", params=[30, 60, 250])  # 250: x264's default, a single key frame
def gop_files(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A 4 s 30 fps clip (B-frames, with audio in the MP4) with a key frame every ``param``
    frames, in four containers."""
    folder = tmp_path_factory.mktemp(f"gop{request.param}")
    mp4 = make_sample_video(folder / "clip.mp4", seconds=4.0, gop=request.param, preset="medium")
    return {"mp4": mp4, "ts": remux_video(mp4, folder / "clip.ts", "mpegts"),
            "mkv": remux_video(mp4, folder / "clip.mkv", "matroska"),
            "avi": make_sample_video(folder / "clip.avi", seconds=4.0, gop=request.param, preset="medium"),
            "gop_s": request.param / 30}


@pytest.mark.parametrize("container", ["mp4", "ts", "mkv", "avi"])
@pytest.mark.parametrize("start_s", [0.0, 0.7, 1.0, 1.2, 1.6, 2.5, 3.3])
def test_decoding_starts_at_a_key_frame_at_or_before_the_start(gop_files: dict[str, Any], container: str,
                                                               start_s: float) -> None:
    everything = pts_from(gop_files[container], 0.0)
    got = pts_from(gop_files[container], start_s)
    assert got and (got[0] <= start_s + 1e-6 or got[0] == everything[0]), f"starts at {got[:1]}"
    assert got == everything[-len(got):]  # then every frame to the end, none lost or repeated
    key_frames = key_frame_times(gop_files[container])
    assert any(abs(got[0] - t) < 1e-6 for t in key_frames)
    earlier = [t for t in key_frames if t <= start_s + 1e-6]
    assert not earlier or got[0] >= max(earlier) - gop_files["gop_s"]  # not from much further back


def lavfi_video(ffmpeg: str, dst: Path, gop: int, seconds: float = 4.0) -> Path:
    """A test pattern encoded by the ffmpeg CLI (its muxers write AVI/TS as cameras do)."""
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size=320x240:rate=30:duration={seconds}", "-c:v", "libx264", "-preset", "ultrafast",
                    "-g", str(gop), str(dst)], check=True)
    return dst


@pytest.mark.parametrize(("start_s", "key_index"), [(0.6, 0), (1.0, 0), (2.0, 30)])
def test_avi_where_the_seek_must_go_back_to_the_start(ffmpeg: str, tmp_path: Path, start_s: float,
                                                      key_index: int) -> None:
    """A seek landing on a key frame after the start goes back, here to the file start, which
    AVI refuses below timestamp 0 (it was CORRUPT_MEDIA). Forced by leaving out the lead of
    FFmpeg's guessed AVI times: the key frame at 1.0 s then looks 1/30 s late."""
    import av

    path = lavfi_video(ffmpeg, tmp_path / "clip.avi", gop=30)
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        packets = [p for p in packets_from(c, stream, start_s, pts_lead=0) if p.size]
    assert packets[0].is_keyframe and packets[0].dts == key_index
    assert [p.dts for p in packets] == list(range(key_index, 120))  # then every packet to the end
    everything = pts_from(path, 0.0)
    # The source, with the lead, starts at a key frame at or before the start (AVI: looked for a
    # reorder delay earlier, so a key frame exactly at the start may give way to the one before).
    got = pts_from(path, start_s)
    assert got == everything[-len(got):] and got[0] in (0.0, 1.0, 2.0) and start_s - 1.0 <= got[0] <= start_s


def test_a_recording_cut_mid_stream_starts_at_its_first_key_frame(ffmpeg: str, tmp_path: Path) -> None:
    """A TS whose first bytes are gone (a capture joined mid-stream): what comes before its
    first key frame cannot be decoded: decoding starts at that key frame, whatever the start."""
    whole = lavfi_video(ffmpeg, tmp_path / "whole.ts", gop=150, seconds=10.0)
    data = whole.read_bytes()
    cut = tmp_path / "cut.ts"
    cut.write_bytes(data[(len(data) // 5) // 188 * 188:])  # whole 188-byte TS packets, mid-GOP
    keys = key_frame_times(cut)
    assert keys and keys[0] > 0.1  # the case: the file starts before a key frame
    for start_s in (0.0, 0.6, keys[0] + 0.5):
        got = pts_from(cut, start_s)
        assert got and got[0] == pytest.approx(keys[0] if start_s < keys[0] else max(k for k in keys if k <= start_s))
