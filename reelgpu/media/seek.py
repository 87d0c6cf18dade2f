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

import av

__all__ = ["packets_from", "rewind", "stream_origin"]

# Decoding from the file's start costs less than a seek below this start time.
SEEK_FROM_S = 0.5
_PTS_EPS = 1e-4
# Packets held back while looking for the first key frame from a file's start (10 s at 30 fps).
_LEAD_LIMIT = 300


def stream_origin(stream: av.video.stream.VideoStream) -> float:
    """The stream's first timestamp in seconds: what frame times are counted from (0 s)."""
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


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
