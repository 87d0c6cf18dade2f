"""Audio streams for the MP4 writer, fed in step with the video so the file is interleaved."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import numpy as np

from ..errors import CorruptMedia
from .audio import RATE
from .probe import open_media


class AudioFeed(Protocol):
    def attach(self, out: av.container.OutputContainer) -> None: ...
    def mux_until(self, out: av.container.OutputContainer, t_s: float) -> None: ...
    def finish(self, out: av.container.OutputContainer) -> None: ...


class PassthroughAudio:
    """Copies the source's audio packets bit-exactly (timing unchanged, no re-encode)."""

    def __init__(self, src: str | Path) -> None:
        self._name = Path(src).name
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
        tb = self._in_stream.time_base
        while True:
            packet = self._pending or next(self._packets, None)
            self._pending = None
            if packet is None:
                return
            if float((packet.dts - self._shift) * tb) > t_s:
                self._pending = packet
                return
            packet.pts = None if packet.pts is None else packet.pts - self._shift
            packet.dts -= self._shift
            packet.stream = self._out_stream
            out.mux(packet)

    def finish(self, out: av.container.OutputContainer) -> None:
        self.mux_until(out, float("inf"))
        self._in.close()


class EncodedAudio:
    """Encodes prepared 48 kHz stereo samples to AAC, a chunk at a time as the video advances."""

    def __init__(self, samples: np.ndarray, bitrate: int) -> None:
        self._samples = np.ascontiguousarray(samples, dtype=np.float32)
        self._bitrate = bitrate
        self._pos = 0
        self._stream: av.AudioStream | None = None

    def attach(self, out: av.container.OutputContainer) -> None:
        self._stream = out.add_stream("aac", rate=RATE)
        self._stream.layout = "stereo"
        self._stream.bit_rate = self._bitrate

    def mux_until(self, out: av.container.OutputContainer, t_s: float) -> None:
        stop = min(self._samples.shape[1], int(t_s * RATE) if t_s != float("inf") else self._samples.shape[1])
        chunk = 1024
        while self._pos < stop:
            n = min(chunk, self._samples.shape[1] - self._pos)
            frame = av.AudioFrame.from_ndarray(self._samples[:, self._pos:self._pos + n].copy(),
                                               format="fltp", layout="stereo")
            frame.sample_rate = RATE
            frame.pts = self._pos
            frame.time_base = Fraction(1, RATE)
            self._pos += n
            for packet in self._stream.encode(frame):
                out.mux(packet)

    def finish(self, out: av.container.OutputContainer) -> None:
        self.mux_until(out, float("inf"))
        for packet in self._stream.encode(None):
            out.mux(packet)
