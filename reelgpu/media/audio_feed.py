"""Audio streams for the MP4 writer, fed in step with the video so the file is interleaved."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import numpy as np

from ..errors import CorruptMedia
from .audio import RATE, AudioPlacer
from .probe import open_media


class AudioFeed(Protocol):
    def attach(self, out: av.container.OutputContainer) -> None: ...
    def mux_until(self, out: av.container.OutputContainer, t_s: float) -> None: ...
    def finish(self, out: av.container.OutputContainer) -> None: ...

    @property
    def written(self) -> bool:
        """Whether any audio went into the output (after :meth:`finish`): a copy of AAC that
        plays wholly outside the video's span writes none, and the file has no audio track
        then. Encoded audio always writes a track, silence where the source has none."""
        ...


def start_s(packet: av.Packet, shift: int) -> float:
    """When an audio packet starts on the output's clock (its stream's ticks less ``shift``)."""
    start = packet.pts if packet.pts is not None else packet.dts
    return float((start - shift) * packet.time_base)


def plays_within(packet: av.Packet, shift: int, end_s: float) -> bool:
    """Whether a copied audio packet belongs in an output whose video spans ``[0, end_s)``: it
    starts before the video ends and ends at or after its start. A packet that starts before 0
    stays: an MP4's AAC begins with a priming packet at -1024 samples (hidden by its edit list)
    that the decoder needs for the first real samples. The one rule of every audio copy (the
    framing/overlay passthrough and the overlay's stream copy)."""
    t = start_s(packet, shift)
    return t + float(packet.duration * packet.time_base) >= 0 and t < end_s


class PassthroughAudio:
    """Copies the source's audio packets bit-exactly (timing unchanged, no re-encode), up to
    ``end_s`` (the video's length), by :func:`plays_within`: audio that runs on past the
    source's last frame does not make the output longer than its video."""

    def __init__(self, src: str | Path, end_s: float = float("inf")) -> None:
        self._name = Path(src).name
        self._end_s = end_s
        try:
            # The probe's whitelists: a playlist (HLS, concat) must not pull in the files it names.
            self._in = open_media(src)
        except av.error.FFmpegError:
            raise CorruptMedia(f"{self._name}: cannot be opened to copy its audio") from None
        if not self._in.streams.audio:
            self._in.close()
            raise CorruptMedia(f"{self._name}: has no audio stream to copy")
        self._in_stream = self._in.streams.audio[0]
        video = self._in.streams.video[0] if self._in.streams.video else None
        origin = video.start_time * video.time_base if video and video.start_time else 0
        self._shift = int(origin / self._in_stream.time_base)  # put audio on the output's clock
        self._packets = (p for p in self._in.demux(self._in_stream) if p.dts is not None)
        self._pending: av.Packet | None = None
        self._out_stream: av.AudioStream | None = None
        self._muxed = 0  # packets copied

    def attach(self, out: av.container.OutputContainer) -> None:
        self._out_stream = out.add_stream_from_template(self._in_stream)

    def mux_until(self, out: av.container.OutputContainer, t_s: float) -> None:
        try:
            self._copy_until(out, t_s)
        except av.error.FFmpegError as exc:
            self._in.close()  # the export is over either way; finish() will not run
            if isinstance(exc, OSError):  # the output's disk, not the source
                raise
            # Packets the demuxer cannot read or the muxer refuses (forged timestamps): the source's fault.
            raise CorruptMedia(f"{self._name}: its audio packets cannot be copied ({exc.__class__.__name__})") from None

    def _copy_until(self, out: av.container.OutputContainer, t_s: float) -> None:
        while True:
            packet = self._pending or next(self._packets, None)
            self._pending = None
            if packet is None:
                return
            t = start_s(packet, self._shift)
            if t > t_s or t >= self._end_s:  # at the video's end, the rest of the track stays out
                self._pending = packet
                return
            if not plays_within(packet, self._shift, self._end_s):
                continue  # over before the first frame
            packet.pts = None if packet.pts is None else packet.pts - self._shift
            packet.dts -= self._shift
            packet.stream = self._out_stream
            out.mux(packet)
            self._muxed += 1

    def finish(self, out: av.container.OutputContainer) -> None:
        self.mux_until(out, float("inf"))
        self._in.close()

    @property
    def written(self) -> bool:
        return self._muxed > 0


class AacEncoder:
    """48 kHz stereo float samples -> AAC packets, in 1024-sample frames (the encoder's frame
    size; only the last may be shorter), each timed by the count of samples before it."""

    FRAME = 1024

    def __init__(self, bitrate: int) -> None:
        self._bitrate = bitrate
        self._stream: av.AudioStream | None = None
        self._held = np.zeros((2, 0), np.float32)  # less than a frame, waiting for more
        self._encoded = 0  # samples sent to the encoder

    @property
    def samples_pushed(self) -> int:
        return self._encoded + self._held.shape[1]

    def attach(self, out: av.container.OutputContainer) -> None:
        self._stream = out.add_stream("aac", rate=RATE)
        self._stream.layout = "stereo"
        self._stream.bit_rate = self._bitrate

    def push(self, out: av.container.OutputContainer, samples: np.ndarray) -> None:
        """Encode ``samples`` next: whole frames now, the rest with the next push or flush."""
        pending = np.concatenate([self._held, samples], axis=1) if self._held.shape[1] else samples
        whole = pending.shape[1] // self.FRAME * self.FRAME
        for k in range(0, whole, self.FRAME):
            self._encode(out, pending[:, k:k + self.FRAME])
        self._held = np.array(pending[:, whole:], np.float32)

    def flush(self, out: av.container.OutputContainer) -> None:
        if self._held.shape[1]:
            self._encode(out, self._held)
            self._held = np.zeros((2, 0), np.float32)
        for packet in self._stream.encode(None):
            out.mux(packet)

    def _encode(self, out: av.container.OutputContainer, samples: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, np.float32), format="fltp", layout="stereo")
        frame.sample_rate = RATE
        frame.pts = self._encoded
        frame.time_base = Fraction(1, RATE)
        self._encoded += samples.shape[1]
        for packet in self._stream.encode(frame):
            out.mux(packet)


class EncodedAudio:
    """Encodes prepared 48 kHz stereo samples to AAC, a chunk at a time as the video advances."""

    def __init__(self, samples: np.ndarray, bitrate: int) -> None:
        self._samples = np.ascontiguousarray(samples, dtype=np.float32)
        self._encoder = AacEncoder(bitrate)
        self._pos = 0

    def attach(self, out: av.container.OutputContainer) -> None:
        self._encoder.attach(out)

    def mux_until(self, out: av.container.OutputContainer, t_s: float) -> None:
        stop = self._samples.shape[1] if t_s == float("inf") else min(self._samples.shape[1], int(t_s * RATE))
        if stop > self._pos:
            self._encoder.push(out, self._samples[:, self._pos:stop])
            self._pos = stop

    def finish(self, out: av.container.OutputContainer) -> None:
        self.mux_until(out, float("inf"))
        self._encoder.flush(out)

    @property
    def written(self) -> bool:
        return self._encoder.samples_pushed > 0


# Source audio timed past the video's end read before the rest is left unread.
_PAST_END_S = 5.0


class TranscodedAudio:
    """The source's whole audio, timing unchanged, encoded to AAC as the video advances: for
    sources whose audio cannot be copied (MP3, Opus, PCM). Streams: a 4 h input's audio would
    be ~5.5 GB as one float array. Samples are placed by their timestamps on the video's clock
    (:class:`~reelgpu.media.audio.AudioPlacer`, as :func:`~reelgpu.media.audio.read_audio`
    does: gaps become silence), and the whole is
    cut or padded to ``seconds``, the video's length."""

    def __init__(self, src: str | Path, seconds: float, bitrate: int) -> None:
        self._name = Path(src).name
        self._total = max(0, int(round(seconds * RATE)))
        try:
            self._in = open_media(src)
        except av.error.FFmpegError:
            raise CorruptMedia(f"{self._name}: cannot be opened to read its audio") from None
        if not self._in.streams.audio:
            self._in.close()
            raise CorruptMedia(f"{self._name}: has no audio stream")
        self._in_stream = self._in.streams.audio[0]
        video = self._in.streams.video[0] if self._in.streams.video else None
        self._origin = float(video.start_time * video.time_base) if video and video.start_time else 0.0
        self._frames = self._in.decode(self._in_stream)
        self._placer = AudioPlacer(self._in_stream, self._origin)
        self._encoder = AacEncoder(bitrate)
        self._buffer: list[np.ndarray] = []  # decoded samples right after those pushed to the encoder
        self._buffered = 0
        self._source_done = False
        self._past_end = 0.0  # seconds of source audio in a row timed past the video's end

    def attach(self, out: av.container.OutputContainer) -> None:
        self._encoder.attach(out)

    def mux_until(self, out: av.container.OutputContainer, t_s: float) -> None:
        want = self._total if t_s == float("inf") else min(self._total, int(t_s * RATE))
        try:
            while self._encoder_pos() + self._buffered < want and not self._source_done:
                self._decode_more()
        except av.error.FFmpegError as exc:
            self._in.close()
            raise CorruptMedia(f"{self._name}: audio decoding failed ({exc.__class__.__name__})") from None
        if self._source_done and self._encoder_pos() + self._buffered < want:
            self._append(np.zeros((2, want - self._encoder_pos() - self._buffered), np.float32))  # a short stream
        self._encode(out, want)

    def finish(self, out: av.container.OutputContainer) -> None:
        self.mux_until(out, float("inf"))
        self._encoder.flush(out)
        self._in.close()

    @property
    def written(self) -> bool:
        return self._encoder.samples_pushed > 0

    def _encoder_pos(self) -> int:
        return self._encoder.samples_pushed

    def _decode_more(self) -> None:
        frame = next(self._frames, None)
        if frame is None:
            self._source_done = True
            self._buffer_pieces(self._placer.flush())  # the resampler's last samples
            return
        frame_first, pieces = self._placer.place(frame)
        if frame_first >= self._total:
            # Past the video's end: a stray timestamp is skipped, but after 5 s of audio there
            # the rest is not read (a jump of hours would otherwise decode all that follows).
            self._past_end += frame.samples / max(1, frame.sample_rate or RATE)
            self._source_done = self._past_end > _PAST_END_S
            return
        self._past_end = 0.0
        self._buffer_pieces(pieces)

    def _buffer_pieces(self, pieces: list[tuple[int, np.ndarray]]) -> None:
        """Buffer resampled pieces at their output indexes: a gap before one is silence, what
        is already covered (an overlap) or before the video's start is dropped."""
        end = self._encoder_pos() + self._buffered  # output index of the next sample to buffer
        for first, samples in pieces:
            if first > end:  # a gap in the source: silence, never past the video's end
                self._append(np.zeros((2, min(first, self._total) - end), np.float32))
                end = first
            skip = end - first  # already covered (an overlap) or before the video's start
            if skip < samples.shape[1]:
                self._append(samples[:, skip:])
                end += samples.shape[1] - skip

    def _append(self, samples: np.ndarray) -> None:
        self._buffer.append(np.ascontiguousarray(samples))
        self._buffered += samples.shape[1]

    def _encode(self, out: av.container.OutputContainer, upto: int) -> None:
        n = min(upto - self._encoder_pos(), self._buffered)
        if n <= 0:
            return
        joined = np.concatenate(self._buffer, axis=1) if len(self._buffer) > 1 else self._buffer[0]
        self._encoder.push(out, joined[:, :n])
        rest = joined[:, n:]
        self._buffer = [rest] if rest.shape[1] else []
        self._buffered = rest.shape[1]
