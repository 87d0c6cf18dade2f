"""Generated sample media: small videos with moving detail, a marker and a tone.

Used by the tests, the benchmarks and ``reelgpu demo``; nothing binary is committed.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def marker_position(t: float, width: int, height: int) -> tuple[float, float]:
    """Centre of the white marker square at time ``t``: a slow left-to-right sweep.

    Tests use it to check that a keyframed crop puts the marker where it should be.
    """
    x = width * (0.2 + 0.6 * ((t * 0.25) % 1.0))
    y = height * 0.5
    return x, y


def _frame_planes(i: int, t: float, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One I420 frame (Y, U, V): textured background, moving gradient, a marker."""
    yy, xx = np.mgrid[0:height, 0:width]
    # Diagonal gradient moving with time plus a fixed checker texture: detail for the resampler.
    luma = 60 + 0.35 * ((xx + yy + 4 * i) % 256) + 20 * (((xx // 8) + (yy // 8)) % 2)
    luma = luma.astype(np.float32)
    # A white square marker (the "player").
    mx, my = marker_position(t, width, height)
    half = max(2, min(width, height) // 20)
    luma[int(my) - half:int(my) + half, int(mx) - half:int(mx) + half] = 235
    y = np.clip(luma, 16, 235).astype(np.uint8)
    cw, ch = width // 2, height // 2
    cy, cx = np.mgrid[0:ch, 0:cw]
    u = (128 + 40 * np.sin((cx + i) / 13.0)).astype(np.uint8)
    v = (128 + 40 * np.cos((cy + i) / 11.0)).astype(np.uint8)
    return y, u, v


def _to_video_frame(planes: tuple[np.ndarray, np.ndarray, np.ndarray], width: int, height: int) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "yuv420p")
    for dst, src in zip(frame.planes, planes):
        np.frombuffer(dst, np.uint8).reshape(-1, dst.line_size)[: src.shape[0], : src.shape[1]] = src
    return frame


def make_sample_video(
    path: str | Path,
    *,
    width: int = 320,
    height: int = 180,
    fps: int | Fraction = 30,
    seconds: float = 2.0,
    audio: bool = True,
    rotation: int = 0,
    tone_hz: float = 440.0,
    crf: int = 20,
    preset: str = "ultrafast",
    gop: int | None = None,
) -> Path:
    """Write an H.264 (+ AAC tone) MP4 with moving detail; return its path.

    ``rotation`` (0/90/180/270) is stored as display-matrix metadata, like a phone video: the
    pixels are written as-is and players rotate them.
    """
    path = Path(path)
    rate = Fraction(fps)
    n_frames = int(round(seconds * rate))
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as out:
        vs = out.add_stream("libx264", rate=rate)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.options = {"crf": str(crf), "preset": preset}
        if gop:
            vs.codec_context.gop_size = gop
        if rotation:
            vs.set_display_rotation(rotation)  # muxed as the display matrix, like a phone video
        if audio:
            aus = out.add_stream("aac", rate=48000)
            aus.layout = "stereo"
        for i in range(n_frames):
            frame = _to_video_frame(_frame_planes(i, i / float(rate), width, height), width, height)
            frame.pts = i
            frame.time_base = 1 / rate
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if audio:
            _write_tone(out, aus, seconds, tone_hz)
    return path


def _write_tone(out: av.container.OutputContainer, stream: av.AudioStream, seconds: float, hz: float) -> None:
    rate, chunk = 48000, 1024
    total = int(seconds * rate)
    for start in range(0, total, chunk):
        n = min(chunk, total - start)
        t = (np.arange(start, start + n) / rate).astype(np.float32)
        tone = (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
