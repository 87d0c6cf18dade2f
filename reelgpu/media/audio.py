"""Audio for exports: packet passthrough when timing is unchanged, else decode -> cut ->
time-stretch (atempo) -> fades -> AAC.

Audio is handled as 48 kHz stereo float32 arrays of shape (2, n). Clips are short (seconds to
minutes), so holding the re-timed audio of one export in memory is fine; long unchanged inputs
take the passthrough path, which streams packets.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import CorruptMedia
from .probe import open_media

RATE = 48000


def read_audio(path: str | Path, start_s: float, end_s: float) -> np.ndarray:
    """Samples of the first audio stream in [start_s, end_s), as (2, n) float32 at 48 kHz.

    Sample-accurate: decoded frames are placed by their timestamps, so a cut at any time lines
    up with the video cut. Missing audio (gaps, a short stream) is silence.
    """
    n_out = max(0, int(round((end_s - start_s) * RATE)))
    out = np.zeros((2, n_out), dtype=np.float32)
    if n_out == 0:
        return out
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=RATE)
    try:
        with open_media(path) as container:
            stream = container.streams.audio[0]
            origin_stream = container.streams.video[0] if container.streams.video else stream
            origin = float(origin_stream.start_time * origin_stream.time_base) if origin_stream.start_time else 0.0
            if start_s > 1.0:
                container.seek(int((start_s + origin - 1.0) / stream.time_base), stream=stream, backward=True)
            cursor: float | None = None  # time (s) of the next resampled sample
            for frame in container.decode(stream):
                if cursor is None or frame.pts is not None:
                    # Re-anchor on every timestamped frame; the resampler keeps a short delay.
                    cursor = float(frame.pts * stream.time_base) - origin if frame.pts is not None else 0.0
                for chunk in resampler.resample(frame):
                    cursor = _place(out, chunk.to_ndarray(), cursor, start_s)
                if cursor is not None and cursor >= end_s:
                    break
    except av.error.FFmpegError as exc:
        raise CorruptMedia(f"{Path(path).name}: audio decoding failed ({exc.__class__.__name__})") from None
    return out


def _place(out: np.ndarray, samples: np.ndarray, at_s: float, start_s: float) -> float:
    first = int(round((at_s - start_s) * RATE))
    n = samples.shape[1]
    lo, hi = max(first, 0), min(first + n, out.shape[1])
    if hi > lo:
        out[:, lo:hi] = samples[:2, lo - first:hi - first]
    return at_s + n / RATE


def _atempo_chain(speed: float) -> list[float]:
    """atempo accepts 0.5..2.0 per stage (ffmpeg docs); chain stages for other speeds."""
    factors = []
    while speed < 0.5:
        factors.append(0.5)
        speed /= 0.5
    while speed > 2.0:
        factors.append(2.0)
        speed /= 2.0
    factors.append(speed)
    return factors


def time_stretch(samples: np.ndarray, speed: float) -> np.ndarray:
    """Play ``samples`` at ``speed`` (0.5 = twice as long) without changing pitch (atempo)."""
    if abs(speed - 1.0) < 1e-9 or samples.shape[1] == 0:
        return samples
    graph = av.filter.Graph()
    src = graph.add_abuffer(format="fltp", sample_rate=RATE, layout="stereo", time_base=Fraction(1, RATE))
    node = src
    for factor in _atempo_chain(speed):
        nxt = graph.add("atempo", f"{factor:.6f}")
        node.link_to(nxt)
        node = nxt
    # Pin the sink's format: atempo may hand out packed samples otherwise.
    fmt = graph.add("aformat", f"sample_fmts=fltp:channel_layouts=stereo:sample_rates={RATE}")
    node.link_to(fmt)
    sink = graph.add("abuffersink")
    fmt.link_to(sink)
    graph.configure()
    pieces: list[np.ndarray] = []
    step = 4096
    for start in range(0, samples.shape[1], step):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + step]),
                                           format="fltp", layout="stereo")
        frame.sample_rate = RATE
        frame.pts = start
        frame.time_base = Fraction(1, RATE)
        src.push(frame)
        pieces.extend(_drain(sink))
    src.push(None)
    pieces.extend(_drain(sink))
    stretched = np.concatenate(pieces, axis=1) if pieces else np.zeros((2, 0), np.float32)
    want = int(round(samples.shape[1] / speed))
    return fit_length(stretched, want)


def _drain(sink: av.filter.FilterContext) -> Iterator[np.ndarray]:
    while True:
        try:
            yield sink.pull().to_ndarray()
        except (av.error.BlockingIOError, av.error.EOFError):
            return


def fit_length(samples: np.ndarray, n: int) -> np.ndarray:
    """Pad with silence or cut to exactly ``n`` samples (keeps audio locked to video frames)."""
    if samples.shape[1] >= n:
        return samples[:, :n]
    return np.concatenate([samples, np.zeros((2, n - samples.shape[1]), np.float32)], axis=1)


def silence(seconds: float) -> np.ndarray:
    return np.zeros((2, max(0, int(round(seconds * RATE)))), dtype=np.float32)


def ramp(n: int, rising: bool) -> np.ndarray:
    r = (np.arange(n, dtype=np.float32) + 0.5) / max(n, 1)
    return r if rising else r[::-1]
