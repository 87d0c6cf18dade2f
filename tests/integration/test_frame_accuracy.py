"""Which source frame every output frame shows, in every container, read back from the picture.

Each source frame carries its index as 8 binary luma blocks, so an output frame says which
source frame it is. Expected: output frame n of a clip [start, end) shows the source frame on
screen at start + n / fps (CONTRACT.md: frame-accurate cuts and trims).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import reelgpu
from reelgpu.media.probe import probe
from reelgpu.timeline import frame_count

BLOCKS = 8  # bits of the frame index: up to 255 frames


def write_indexed(path: Path, fps: Fraction, frames: int, *, fmt: str | None = None, audio: bool = False,
                  b_frames: int = 3) -> Path:
    """H.264 (key frame every second) whose frame i shows i in binary; AAC beside it if asked."""
    with av.open(str(path), "w", format=fmt) as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        video.options = {"bf": str(b_frames), "g": str(round(fps)), "crf": "18", "preset": "veryfast"}
        sound = out.add_stream("aac", rate=48000) if audio else None
        for i in range(frames):
            y = np.full((240, 320), 60, np.uint8)
            for b in range(BLOCKS):
                y[170:220, b * 40 + 4:b * 40 + 36] = 230 if (i >> b) & 1 else 20
            frame = av.VideoFrame.from_ndarray(np.dstack([y, y, y]), format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if sound is not None:
            t = np.arange(int(48000 * frames / fps)) / 48000
            samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            for k in range(0, samples.shape[1], 1024):
                chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, k:k + 1024]), format="flt",
                                                   layout="mono")
                chunk.sample_rate, chunk.pts = 48000, k
                for packet in sound.encode(chunk):
                    out.mux(packet)
            for packet in sound.encode(None):
                out.mux(packet)
    return path


def shown(path: Path) -> list[int]:
    """The source frame index each frame of ``path`` shows (read from its blocks)."""
    with av.open(str(path)) as c:
        out = []
        for f in c.decode(video=0):
            y = f.to_ndarray(format="gray")
            out.append(sum(1 << b for b in range(BLOCKS) if y[180:210, b * 40 + 10:b * 40 + 30].mean() > 120))
    return out


@pytest.mark.parametrize("b_frames", [0, 3])
def test_avi_cuts_show_the_right_frames(tmp_path: Path, b_frames: int) -> None:
    """FFmpeg's guessed AVI times put every H.264 picture a frame late (frame 0 shown twice,
    the last one never) and, with B-frames, out of order."""
    src = write_indexed(tmp_path / "game.avi", Fraction(25), 100, b_frames=b_frames)
    spec = {"clips": [{"start_time": 0.0, "end_time": 0.2, "name": "a"}, {"start_time": 2.92, "end_time": 3.1, "name": "b"},
                      {"start_time": 3.92, "end_time": 4.0, "name": "c"}]}
    r = reelgpu.annotate(src, tmp_path / "cuts.mp4", spec, device="cpu")
    assert shown(r.output) == [0, 1, 2, 3, 4, 73, 74, 75, 76, 77, 98, 99]


@pytest.mark.parametrize("fps", [Fraction(30), Fraction(60), Fraction(30000, 1001), Fraction(25)])
@pytest.mark.parametrize("audio", [False, True])
def test_matroska_keeps_every_frame(tmp_path: Path, fps: Fraction, audio: bool) -> None:
    """Matroska stores whole milliseconds: frame 2 of 30 fps is at 0.067 s, after 2/30 s, and
    the frame loop dropped every third frame at 30, 60 and 29.97 fps. With AAC the file starts
    21 ms before the video and one frame too many was rendered."""
    frames = round(4 * fps)
    src = write_indexed(tmp_path / "clip.mkv", fps, frames, fmt="matroska", audio=audio)
    info = probe(src)
    assert info.frame_count == frames and info.duration_s == pytest.approx(frames / fps, abs=1e-3)
    whole = reelgpu.framing(src, tmp_path / "whole.mp4", {"keyframes": [{"time": 0, "x": 0, "y": 0, "width": 320, "height": 240}],
                                                            "target_width": 320, "target_height": 240}, device="cpu")
    assert shown(whole.output) == list(range(frames))
    cut = reelgpu.annotate(src, tmp_path / "cut.mp4", {"clips": [{"start_time": 1.0, "end_time": 1.5}]}, device="cpu")
    # At 1.0 + n / fps the frame on screen is floor(fps) + n: at 29.97 fps frame 30 starts at
    # 1.001 s, so it is frame 29 at 1.0 (its stored 1.001 must not count as on screen).
    first = int(fps)
    assert shown(cut.output) == list(range(first, first + frame_count(0.5, fps)))


@pytest.mark.parametrize("container", ["mp4", "mpegts"])
def test_mp4_and_mpeg_ts_cut_exactly(tmp_path: Path, container: str) -> None:
    src = write_indexed(tmp_path / f"clip.{'ts' if container == 'mpegts' else 'mp4'}", Fraction(30), 120, fmt=container,
                        audio=True)
    r = reelgpu.annotate(src, tmp_path / "cut.mp4", {"clips": [{"start_time": 0.5, "end_time": 1.0},
                                                               {"start_time": 3.8, "end_time": 4.0}]}, device="cpu")
    assert shown(r.output) == list(range(15, 30)) + list(range(114, 120))
