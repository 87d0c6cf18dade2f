"""Where decoding starts for a start time: the last key frame at or before it.

Both video sources (PyAV on the CPU, NVDEC on the GPU) demux through :func:`packets_from`, so
they start at the same key frame and pick the same frames for a trim.

FFmpeg's seek lands on such a key frame in containers with an index (MP4/MOV, Matroska). MPEG-TS
has none: its seek searches by timestamp and can land between key frames, so decoding would
start at the next key frame, after the start time (a trim showing the wrong second of play), or
at none at all. Hence the packets before the first key frame are dropped (nothing can decode
them) and, when that key frame comes after the start time, the seek is repeated further back:
1 s, 2 s, 4 s ... before it, then from the beginning of the file (where packets before the first
key frame are dropped too: a recording cut mid-GOP).
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import av

__all__ = ["STANDARD_RATES", "GridSnapper", "nominal_rate", "packets_from", "rewind", "stream_origin"]

# Decoding from the file's start costs less than a seek below this start time.
SEEK_FROM_S = 0.5
_PTS_EPS = 1e-4
# Packets held back while looking for the first key frame from a file's start (10 s at 30 fps).
_LEAD_LIMIT = 300


def stream_origin(stream: av.video.stream.VideoStream) -> float:
    """The stream's first timestamp in seconds: what frame times are counted from (0 s)."""
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


class GridSnapper:
    """Puts frame times (seconds from the first frame) that a coarse time base rounded back on
    the frame-rate grid. Matroska stores milliseconds: at 30 fps frame 2 is stored at 0.067 s,
    after 2/30 s, and the frame loop dropped every third frame; mkvmerge rounds the first frame's
    time too, so times from it are up to a whole tick off. An iPhone's 240 fps slow motion is
    stored on MP4's 1/600 s (2.5 ticks a frame): every odd frame half a tick late, and every odd
    frame was dropped. A time within reach of a grid point becomes that point, unless that would
    not put it after the frame before (variable-rate frames never merge or swap). The reach is a
    tick where a tick is at most a quarter of a frame; half a tick (the rounding of a rounded
    grid, so at most a quarter of a frame) where it is up to half a frame. Left alone: exact time
    bases (a frame period of whole ticks: MP4 at 30 fps, AVI, Matroska at 25/50 fps) and ticks
    over half a frame (a grid point every tick or so: the time base cannot say which is meant).
    """

    def __init__(self, stream: av.video.stream.VideoStream) -> None:
        rate = nominal_rate(stream)
        tick = Fraction(stream.time_base) if stream.time_base else None
        frames_per_tick = tick * rate if rate and tick else None
        self._on = bool(frames_per_tick and (1 / frames_per_tick).denominator != 1
                        and frames_per_tick <= Fraction(1, 2))
        self._fps = float(rate) if rate else 0.0
        reach = tick if frames_per_tick and frames_per_tick <= Fraction(1, 4) else (tick or 0) / 2
        self._reach = float(reach) + 1e-6 if tick else 0.0
        self._last = float("-inf")

    def __call__(self, t: float) -> float:
        if self._on:
            on_grid = round(t * self._fps) / self._fps
            if abs(t - on_grid) <= self._reach and on_grid > self._last:
                t = on_grid
        self._last = t
        return t


# Frame rates cameras, encoders and browsers record at (240: phones' slow motion).
STANDARD_RATES = frozenset(Fraction(r) for r in (Fraction(24000, 1001), 24, 25, Fraction(30000, 1001), 30, 48, 50,
                                                 Fraction(60000, 1001), 60, 100, Fraction(120000, 1001), 120,
                                                 Fraction(240000, 1001), 240))
_NEAR_STANDARD = 0.005  # an average this close to a standard rate is that rate


def nominal_rate(stream: av.video.stream.VideoStream) -> Fraction | None:
    """The stream's frame rate. Its base rate (FFmpeg's guess from the frame times and the
    codec) where that is within 1 % of its average over the file, or a standard rate within
    5 %; half of it (the field rate H.264 states) where that is within 1 %; a standard rate
    within 0.5 % of the average; a standard base rate above the average (at most 60 fps, or
    twice the average); else the average.

    Averages over millisecond times are off: a browser's WebM at 30 fps averages 1000/33 (the
    output ran at 30.3 fps), at 59.94 fps 125/2 (62.5 fps, every frame twice), and mkvmerge's
    59.94 fps is 19001/317 (its grid drifts 0.2 ms an hour). The base rate is not always the
    rate either: 240 fps on 1/600 s ticks (frames of 2 and 3 ticks, an iPhone's slow motion)
    has base 480, the field rate, and averages 40000/167; film in 59.94 fields has base 59.94
    and averages 23.976, its rate. An average under a standard base rate is a stream with
    gaps or held pictures: 30 fps missing every tenth frame averages 27, and 3 s ending on a
    2 s still 18.2; at those rates a frame in ten, or 36 of 91, were dropped. A variable rate
    far from its base rate (a phone's 1/90000 base) keeps its average."""
    average = stream.average_rate or stream.guessed_rate or stream.base_rate
    base = stream.base_rate
    if average and base:
        off = abs(float(base) / float(average) - 1)
        if off < 0.01 or (Fraction(base) in STANDARD_RATES and off <= 0.05):
            return Fraction(base)
        if abs(float(base) / 2 / float(average) - 1) < 0.01:  # H.264's field rate (x264's timing info)
            return Fraction(base) / 2
    if not average:
        return None
    nearest = min(STANDARD_RATES, key=lambda r: abs(float(r) / float(average) - 1))
    if abs(float(nearest) / float(average) - 1) <= _NEAR_STANDARD:
        return nearest
    if base and Fraction(base) in STANDARD_RATES and average < base and (base <= 60 or 2 * average >= base):
        # Fewer frames than the base rate: gaps or held pictures (a phone under load, a clip
        # ending on a still). At the average, frames the base rate spaces were dropped.
        return Fraction(base)
    return Fraction(average)


def packets_from(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                 start_s: float, pts_lead: int = 0) -> Iterator[av.Packet]:
    """``stream``'s packets in file order from the last key frame at or before ``start_s``
    (seconds from the stream's first frame), ending with the demuxer's empty flush packet.
    ``pts_lead``: ticks by which the demuxer's key frame times run ahead of the truth (AVI,
    :func:`reelgpu.media.avi_times.avi_timing`)."""
    tb, origin = stream.time_base, stream_origin(stream)
    back = 0.0
    while True:
        target = start_s - back
        if start_s <= SEEK_FROM_S or target <= 0:
            if back:  # an earlier seek moved the demuxer
                rewind(container, stream)
            yield from _from_first_key(container.demux(stream))
            return
        try:
            container.seek(int((target + origin) / tb), stream=stream, backward=True, any_frame=False)
        except av.error.FFmpegError:  # a file that cannot seek: decode it from the start
            back = start_s
            continue
        packets = container.demux(stream)
        first = next((p for p in packets if p.is_keyframe or not p.size), None)
        if first is None or not first.size:  # no key frame after the seek point
            back = max(1.0, 2 * back)
            continue
        if first.pts is not None and float((first.pts - pts_lead) * tb) - origin > start_s + _PTS_EPS:
            back = max(1.0, 2 * back)  # the seek landed past the key frame we need
            continue
        yield first
        yield from packets
        return


def rewind(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> None:
    """Back to the first packet. Not by seeking to ``start_time``: MPEG-TS lands after the first
    packet then. The earliest timestamp there is comes first (also below a wrapped MPEG-TS's
    negative start time); AVI refuses timestamps before its index, but takes 0."""
    for ts in (-(2**62), 0, stream.start_time or 0):
        try:
            container.seek(ts, stream=stream, backward=True, any_frame=False)
            return
        except av.error.FFmpegError:
            continue
    raise av.error.FFmpegError(0, f"cannot seek back to the start of the {stream.type} stream")


def _from_first_key(packets: Iterator[av.Packet]) -> Iterator[av.Packet]:
    """``packets`` from the first key frame on: what comes before it cannot be decoded (a file
    cut mid-GOP). Where none is flagged within ``_LEAD_LIMIT`` packets, or before the end, they
    all go through: the decoder then decides."""
    held: list[av.Packet] | None = []
    for packet in packets:
        if held is not None:
            if packet.is_keyframe:
                held = None
            elif packet.size and len(held) < _LEAD_LIMIT:
                held.append(packet)
                continue
            else:  # the end, or too long without a key frame
                yield from held
                held = None
        yield packet
