"""The CPU video source: its threading choice, and presentation times where the container
has none (AVI)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from reelgpu.media.decode_cpu import PyAVVideoSource, decoder_threads


@pytest.mark.parametrize(("cores", "threads"), [(1, 1), (2, 1), (4, 1), (7, 1), (8, 2), (16, 4), (64, 16)])
def test_decoder_gets_a_quarter_of_the_cores(cores: int, threads: int) -> None:
    assert decoder_threads(cores) == threads


def test_default_counts_the_cores_this_process_may_use() -> None:
    assert decoder_threads() == max(1, len(os.sched_getaffinity(0)) // 4)


def test_source_opens_its_decoder_with_that_count(sample_30: Path) -> None:
    source = PyAVVideoSource(sample_30)
    try:
        assert source._stream.thread_count == decoder_threads()
        assert sum(1 for _ in source) == 60  # decodes the same with it
    finally:
        source.close()
    explicit = PyAVVideoSource(sample_30, threads=3)
    try:
        assert explicit._stream.thread_count == 3
        assert explicit._stream.thread_type.name == "AUTO"  # several threads: frame threads
        assert sum(1 for _ in explicit) == 60
    finally:
        explicit.close()


def display_order_lumas(ffmpeg: str, path: Path, width: int, height: int,
                        pix_fmt: str = "yuv420p") -> list[np.ndarray]:
    """Every picture's luma as the ffmpeg CLI decodes it, in display order (no frame dropped
    or repeated for its timestamps: passthrough)."""
    raw = subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-i", str(path), "-fps_mode", "passthrough",
                          "-f", "rawvideo", "-pix_fmt", pix_fmt, "-"], check=True, capture_output=True).stdout
    size = width * height * 3 // 2
    return [np.frombuffer(raw[i:i + size], np.uint8)[: width * height].reshape(height, width)
            for i in range(0, len(raw), size)]


@pytest.mark.parametrize("codec", ["libx264 -bf 2", "libx264 -bf 0", "mpeg4 -bf 2", "mpeg4 -bf 0",
                                   "mjpeg -pix_fmt yuvj420p"])
@pytest.mark.parametrize("dropped", [(), tuple(range(10, 20)), (1,)], ids=["every-frame", "frames-10-19-skipped",
                                                                         "frame-1-skipped"])
@pytest.mark.parametrize("start_s", [0.0, 1.05])
def test_avi_pictures_are_timed_by_their_display_index(ffmpeg: str, tmp_path: Path, codec: str,
                                                       dropped: tuple[int, ...], start_s: float) -> None:
    """AVI has no presentation times. FFmpeg's guesses put H.264 B-frame pictures at 1, 3, 4,
    2 ... frames (the frame loop showed them shuffled) and every H.264 picture a frame late
    (the first one shown twice, the last never). The picture of frame k is at k / fps, also
    after frames a capture skipped (empty chunks: the times jump), among the first ones too
    (the reorder delay is measured there), whatever the thread count asked for."""
    path = tmp_path / "clip.avi"
    keep = "not(" + "+".join(f"eq(n,{k})" for k in dropped) + ")"
    skip = ["-vf", f"select='{keep}'", "-fps_mode", "passthrough"] if dropped else []
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=2",
                    *skip, "-c:v", *codec.split(), "-g", "30", str(path)], check=True)
    shown = [k for k in range(60) if k not in dropped]  # the source frames the file holds
    # the ffmpeg CLI's pictures in display order, in the stream's own pixel format (no range change)
    pictures = display_order_lumas(ffmpeg, path, 320, 240, "yuvj420p" if "mjpeg" in codec else "yuv420p")
    assert len(pictures) == len(shown)
    source = PyAVVideoSource(path, start_s=start_s, threads=4)
    try:
        frames = list(source)
    finally:
        source.close()
    ticks = [f.pts_s * 30 for f in frames]
    assert all(t == pytest.approx(round(t), abs=1e-6) for t in ticks)
    assert [round(t) for t in ticks] == shown[len(shown) - len(frames):]  # each at its frame's time, to the end
    # From a key frame at or before 1.05 s: frame 30, or 31 where frame 1 is gone (30 encoded
    # frames on), or 0 where frames 10-19 are (the next key frame is frame 40) or where the
    # key frame's guessed time, after a skipped frame, does not prove it early enough.
    assert round(ticks[0]) == 0 if start_s == 0 else round(ticks[0]) in (0, 30, 31)
    for frame, picture in zip(frames, pictures[len(pictures) - len(frames):]):
        assert np.array_equal(frame.planes.y, picture)  # and the right picture there
