"""Audio for exports: packet passthrough when timing is unchanged, else decode -> cut ->
time-stretch (atempo) -> fades -> AAC.

Audio is handled as 48 kHz stereo float32 arrays of shape (2, n). Clips are short (seconds to
minutes), so holding the re-timed audio of one export in memory is fine; long unchanged inputs
take the passthrough path, which streams packets.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import CorruptMedia
from .probe import open_media

RATE = 48000


class AudioClock:
    """Times a stream's decoded audio frames on the output clock, keeping them contiguous.

    A frame's timestamp is rounded to its stream's ticks: Matroska/WebM store milliseconds, so
    a 44.1 kHz frame can be stamped up to 24 samples (at 48 kHz) off where the one before it
    ended. Placing every frame at its own timestamp cut slivers of silence or skipped samples
    into the audio every few frames, audible clicks. Here a frame that starts within one tick
    (at least 0.5 ms) of where the one before ended continues it exactly; a larger difference
    is a real gap (silence) or overlap (samples dropped), measured on the input's own clock, so
    the resampler's delay (96 samples at 8 kHz) never looks like one. A source whose audio
    clock drifts against its stamps (a capture's, tens of ppm) crosses the tolerance now and
    then: each time a tick's worth of silence or overlap keeps it in sync.
    """

    def __init__(self, stream: av.audio.stream.AudioStream, origin_s: float) -> None:
        self._time_base = stream.time_base
        self._origin_s = origin_s
        self._tolerance_s = max(0.0005, float(stream.time_base or 0))
        self._end_s: float | None = None  # where the previous frame ended, on the output clock

    def advance(self, frame: av.AudioFrame) -> tuple[float, float | None]:
        """(the frame's start on the output clock in s, how far it starts after the previous
        frame's end: 0 for a contiguous frame, < 0 for an overlap, None for the first frame)."""
        rate = frame.sample_rate or RATE
        stamped = float(frame.pts * self._time_base) - self._origin_s if frame.pts is not None else None
        if self._end_s is None:
            start, jump = (stamped if stamped is not None else 0.0), None
        elif stamped is None or abs(stamped - self._end_s) <= self._tolerance_s:
            start, jump = self._end_s, 0.0
        else:
            start, jump = stamped, stamped - self._end_s
        self._end_s = start + frame.samples / rate
        return start, jump


class AudioPlacer:
    """A stream's decoded frames as 48 kHz stereo float32 pieces, each with its output index
    (samples at 48 kHz from the video's first frame): timed by :class:`AudioClock`, resampled
    contiguously. A frame whose rate, layout or sample format differs from the one before (a
    broadcast's MP2 switching 44.1/48 kHz or mono/stereo at a programme change) gets a new
    resampler, the old one's held samples flushed first: PyAV's resampler refuses such a frame
    (a bare ValueError)."""

    def __init__(self, stream: av.audio.stream.AudioStream, origin_s: float) -> None:
        self._clock = AudioClock(stream, origin_s)
        self._resampler: av.AudioResampler | None = None
        self._setup: tuple[str, str, int] | None = None
        self._at: int | None = None  # output index of the next resampled sample

    def place(self, frame: av.AudioFrame) -> tuple[int, list[tuple[int, np.ndarray]]]:
        """(the frame's own output index, the pieces it releases: ``(index, (2, n) samples)``,
        the previous setup's tail first after a change). The resampled output trails its
        input by the resampler's delay, so after the first frame the index moves on from where
        the output is, by the gap the input has."""
        start, jump = self._clock.advance(frame)
        pieces: list[tuple[int, np.ndarray]] = []
        setup = (frame.format.name, frame.layout.name, frame.sample_rate)
        if self._resampler is not None and setup != self._setup:
            at = self._at or 0
            for chunk in self._resampler.resample(None):  # what the old setup still holds
                pieces.append((at, self._samples(chunk)))
                at += chunk.samples
            self._at = at  # caught up with the input: the new resampler starts with no delay
            self._resampler = None
        first = int(round(start * RATE)) if self._at is None else self._at + int(round((jump or 0.0) * RATE))
        if self._resampler is None:
            self._resampler = av.AudioResampler(format="fltp", layout="stereo", rate=RATE)
            self._setup = setup
        at = first
        for chunk in self._resampler.resample(frame):
            pieces.append((at, self._samples(chunk)))
            at += chunk.samples
        self._at = at
        return first, pieces

    def flush(self) -> list[tuple[int, np.ndarray]]:
        """The samples the resampler still holds (its delay), at the end of the stream."""
        pieces: list[tuple[int, np.ndarray]] = []
        if self._resampler is not None and self._at is not None:
            for chunk in self._resampler.resample(None):
                pieces.append((self._at, self._samples(chunk)))
                self._at += chunk.samples
            self._resampler = None
        return pieces

    @staticmethod
    def _samples(chunk: av.AudioFrame) -> np.ndarray:
        return chunk.to_ndarray()[:2].astype(np.float32, copy=False)


def read_audio(path: str | Path, start_s: float, end_s: float) -> np.ndarray:
    """Samples of the first audio stream in [start_s, end_s), as (2, n) float32 at 48 kHz.

    Sample-accurate: decoded frames are placed by their timestamps (:class:`AudioClock`), so a
    cut at any time lines up with the video cut. Missing audio (gaps, a short stream) is silence.
    """
    n_out = max(0, int(round((end_s - start_s) * RATE)))
    out = np.zeros((2, n_out), dtype=np.float32)
    if n_out == 0:
        return out
    try:
        with open_media(path) as container:
            stream = container.streams.audio[0]
            origin_stream = container.streams.video[0] if container.streams.video else stream
            origin = float(origin_stream.start_time * origin_stream.time_base) if origin_stream.start_time else 0.0
            packets = _packets_from(container, stream, origin_stream, start_s + origin - 1.0) if start_s > 1.0 \
                else container.demux(stream)
            placer = AudioPlacer(stream, origin)
            offset = int(round(start_s * RATE))  # output index of out[:, 0]
            for frame in (frame for packet in packets for frame in packet.decode()):
                _, pieces = placer.place(frame)
                for at, samples in pieces:
                    _place(out, samples, at - offset)
                if pieces and pieces[-1][0] + pieces[-1][1].shape[1] - offset >= n_out:
                    break
            else:  # the stream ended inside the range: its last samples are in the resampler
                for at, samples in placer.flush():
                    _place(out, samples, at - offset)
    except av.error.FFmpegError as exc:
        raise CorruptMedia(f"{Path(path).name}: audio decoding failed ({exc.__class__.__name__})") from None
    return out


def _packets_from(container: av.container.InputContainer, stream: av.audio.stream.AudioStream,
                  video: av.stream.Stream, target_s: float) -> Iterator[av.Packet]:
    """``stream``'s packets from the last one at or before ``target_s`` (container seconds).

    Matroska's index (Cues) holds the video's key frames only: an audio seek has no entry to go
    by and reads the file from its last known position (tens of seconds of packets, fetched one
    by one from a lazy input). There the seek goes by the video's key frame before the target
    (:func:`_from_video_key_frame`); where that cannot serve, the audio seek is made after all."""
    if container.format.name.startswith("matroska") and video is not stream:
        packets = _from_video_key_frame(container, stream, video, target_s)
        if packets is not None:
            return packets
    container.seek(int(target_s / stream.time_base), stream=stream, backward=True)
    return container.demux(stream)


def _from_video_key_frame(container: av.container.InputContainer, stream: av.audio.stream.AudioStream,
                          video: av.stream.Stream, target_s: float) -> Iterator[av.Packet] | None:
    """The audio packets from the last one at or before ``target_s``, reached by a seek to the
    video's key frame before it, those before passed over without decoding; None where that
    seek fails or lands after the target (audio that starts before the first key frame).
    Errors past the target are the caller's: it never reads a packet twice."""
    try:
        container.seek(int(target_s / video.time_base), stream=video, backward=True)
        packets = container.demux(stream)
        held = None
        for packet in packets:
            if packet.pts is None or float(packet.pts * stream.time_base) <= target_s:
                held = packet if packet.pts is not None else held
                continue
            return None if held is None else itertools.chain([held, packet], packets)
    except av.error.FFmpegError:
        return None
    return iter([held] if held is not None else [])  # the stream ends before the target


def _place(out: np.ndarray, samples: np.ndarray, first: int) -> None:
    """Write ``samples`` at index ``first`` of ``out`` (what falls outside it is dropped)."""
    n = samples.shape[1]
    lo, hi = max(first, 0), min(first + n, out.shape[1])
    if hi > lo:
        out[:, lo:hi] = samples[:2, lo - first:hi - first]


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


def time_stretch(samples: np.ndarray, speed: float, context: int = 0, tail: int = 0) -> np.ndarray:
    """Play ``samples`` at ``speed`` (0.5 = twice as long) without changing pitch (atempo):
    exactly ``round((n - 2 * context) / speed)`` samples, in step with the video, then ``tail``
    more from the context after the piece (what would play next; at most ``context / speed``).

    ``context``: samples on each side of the piece that are there only for atempo's windows
    (the audio before and after it, or silence), left out of the result. atempo hands its
    output out early (28 ms at 0.5x, 74 ms at 0.25x: :func:`_atempo_lead`) and short; without
    the context and that correction, a slowed piece's audio ran ahead of its pictures and
    ended in a sliver of silence (a click) before the next piece."""
    n = samples.shape[1] - 2 * context
    if abs(speed - 1.0) < 1e-9 or n <= 0:
        return fit_length(samples[:, context:], max(n, 0) + tail)
    pad = np.zeros((2, _ATEMPO_PAD), np.float32)
    stretched = _atempo(np.concatenate([pad, samples, pad], axis=1), speed)
    first = int(round((_ATEMPO_PAD + context) / speed)) - _atempo_lead(speed)
    return fit_length(stretched[:, max(first, 0):], int(round(n / speed)) + tail)


# Silence around what atempo is given: its first and last windows (~30 ms each) then hold
# silence, not the piece. 4096 samples: 85 ms.
_ATEMPO_PAD = 4096


@functools.lru_cache(maxsize=32)
def _atempo_lead(speed: float) -> int:
    """How many output samples early atempo puts what it is given, at ``speed``: measured once
    per speed, from where a 10 ms burst's energy lands against where it belongs."""
    burst_at, length = RATE // 2, RATE // 100
    probe_signal = np.zeros((2, RATE), np.float32)
    probe_signal[:, burst_at:burst_at + length] = np.sin(2 * np.pi * 1000 * np.arange(length) / RATE)
    energy = _atempo(probe_signal, speed)[0] ** 2
    landed = float((energy * np.arange(energy.shape[0])).sum() / max(float(energy.sum()), 1e-12))
    return int(round((burst_at + length / 2) / speed - landed))


def _atempo(samples: np.ndarray, speed: float) -> np.ndarray:
    """FFmpeg's atempo (chained: 0.5..2.0 per stage) over ``samples``, everything it hands out."""
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
    return np.concatenate(pieces, axis=1) if pieces else np.zeros((2, 0), np.float32)


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
