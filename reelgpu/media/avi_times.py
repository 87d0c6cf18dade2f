"""Presentation times for AVI, which stores none.

An AVI chunk is one frame at the time of its index (the packet's dts); a skipped frame is an
empty chunk, so indexes have gaps. FFmpeg guesses presentation times from decode order: H.264
B-frame pictures come out at 1, 3, 4, 2 ... frames, and every H.264 picture a frame late. Here
the decoder hands pictures out in display order, and :class:`AviClock` gives each the display
time the chunk times imply (gaps included).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

import av

from .probe import open_media

__all__ = ["AviClock", "AviTiming", "avi_timing"]


@dataclass(frozen=True)
class AviTiming:
    """What a file's first pictures say about its timing, in ticks (the frame period)."""

    pts_lead: int  # how far FFmpeg's guessed time of a key frame runs ahead of the truth
    delay: int  # the reorder delay D, in chunks: fed after the first before the first picture
    shift: int  # how far the muxer moved the chunk times, in ticks (D, unless chunks are empty)


def avi_timing(path: Path) -> AviTiming:
    """Measured at the file's start, whose first picture is shown first: its guessed time is
    all lead (1 for H.264 and MPEG-4 with B-frames, 0 for intra-only or B-frame-less MPEG-4),
    and the ``dts`` the decoder gives it is that of the packet it came out at."""
    with open_media(path) as container:
        stream = container.streams.video[0]
        stream.thread_count = 1  # the delay is the codec's, not a thread pool's
        first: av.Packet | None = None
        chunks = 0  # non-empty chunks fed after the first
        for packet in container.demux(stream):
            if packet.size and packet.dts is not None:
                if first is None:
                    first = packet
                else:
                    chunks += 1
            if first is None:
                continue
            for frame in packet.decode():
                lead = first.pts - first.dts if first.pts is not None else 0
                if frame.dts is None:
                    return AviTiming(max(0, lead), 0, 0)
                # Empty chunks (skipped frames) among the first ones make the shift in ticks
                # larger than the delay in chunks: the two are kept apart.
                return AviTiming(max(0, lead), chunks, max(0, frame.dts - first.dts))
    return AviTiming(0, 0, 0)


class AviClock:
    """Times the pictures of one decoding run: feed it every packet sent to the decoder, and ask
    it, in order, for the time of each picture the decoder returns.

    Chunk times are decode times: with B-frames an encoder's decode time of its k-th packet is
    the display time of its (k - D)-th picture, D being the reorder delay, and the AVI muxer
    shifts them all to start at 0. So picture r (in display order) is at chunk r + D's time
    minus that shift, gaps included; both are measured at the file's start (:func:`avi_timing`).
    The source decodes AVI on one thread: with frame threads, how many chunks are queued when
    the first picture comes out (which the open-GOP skip below looks at) would vary.
    """

    def __init__(self, timing: AviTiming) -> None:
        self._lead = timing.pts_lead
        self._delay = timing.delay
        self._shift = timing.shift
        self._ahead: deque[int] = deque()  # chunk times from the next picture's on
        self._started = False
        self._last: int | None = None

    def fed(self, packet: av.Packet) -> None:
        if packet.size and packet.dts is not None:
            self._ahead.append(packet.dts)

    def time_of(self, frame: av.VideoFrame) -> int | None:
        """The picture's time in ticks (None: no chunk was fed yet; skip the picture)."""
        if not self._started:
            if not self._ahead:
                return None
            self._started = True
            # Decoding starts at a key frame, whose guessed time minus the lead is right. After
            # a seek into an open GOP, pictures before it in display order but after it in the
            # file cannot be decoded: their chunks are nobody's.
            if frame.pts is not None:
                while len(self._ahead) > self._delay + 1 and self._next_time() < frame.pts - self._lead:
                    self._ahead.popleft()
        time = self._next_time()
        if self._ahead:
            self._ahead.popleft()
        self._last = time
        return time

    def _next_time(self) -> int:
        delay, shift = self._delay, self._shift
        if len(self._ahead) > delay:
            return self._ahead[delay] - shift
        # The decoder is flushing its last pictures: they follow the last chunk, a frame apart.
        if self._ahead:
            return self._ahead[-1] + (delay - len(self._ahead) + 1) - shift
        return (self._last if self._last is not None else -1) + 1
