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


def display_order_lumas(ffmpeg: str, path: Path, width: int, height: int) -> list[np.ndarray]:
    """Every picture's luma as the ffmpeg CLI decodes it, in display order (no frame dropped
    or repeated for its timestamps: passthrough)."""
    raw = subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-i", str(path), "-fps_mode", "passthrough",
                          "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"], check=True, capture_output=True).stdout
    size = width * height * 3 // 2
    return [np.frombuffer(raw[i:i + size], np.uint8)[: width * height].reshape(height, width)
            for i in range(0, len(raw), size)]


@pytest.mark.parametrize("codec", ["libx264", "mpeg4"])
@pytest.mark.parametrize("start_s", [0.0, 1.05])
def test_avi_with_b_frames_comes_out_in_display_order_one_frame_apart(ffmpeg: str, tmp_path: Path, codec: str,
                                                                       start_s: float) -> None:
    """AVI has no presentation times; FFmpeg's guesses put B-frame pictures of H.264 at 1, 3,
    4, 2 ... frames, which the frame loop would have shown shuffled."""
    path = tmp_path / "bframes.avi"
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=2",
                    "-c:v", codec, "-bf", "2", "-g", "30", str(path)], check=True)
    expected = display_order_lumas(ffmpeg, path, 320, 240)

    def decode(start_s: float) -> tuple[list[float], list[np.ndarray]]:
        source = PyAVVideoSource(path, start_s=start_s)
        try:
            frames = list(source)
        finally:
            source.close()
        return [round(f.pts_s * 30, 6) for f in frames], [f.planes.y for f in frames]

    ticks, lumas = decode(start_s)
    assert ticks == [ticks[0] + n for n in range(len(ticks))]  # one frame period apart, in order
    assert len(lumas) == len(expected) - (30 if start_s > 1 else 0)  # from the key frame at 1 s
    for got, want in zip(lumas, expected[len(expected) - len(lumas):]):
        assert np.array_equal(got, want)  # the same picture in the same place
    assert ticks == decode(0.0)[0][-len(ticks):]  # timed as when decoded from the start
