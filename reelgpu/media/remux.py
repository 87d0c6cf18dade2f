"""Stream copy into a new MP4 with ``+faststart`` (no re-encode): the overlay's no-op path."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

from ..errors import Cancelled, CorruptMedia
from ..result import CancelCheck, StrPath
from .atomic import published
from .probe import open_media
from .writer import BT709, RANGE_TV

_UNSPECIFIED = 2  # AVCOL_PRI/TRC/SPC_UNSPECIFIED
CANCEL_EVERY = 256  # packets between cancel checks: a few seconds of video with its audio


def remux_faststart(src: StrPath, dst: StrPath, *, video_duration_s: float, include_audio: bool = True,
                    cancel: CancelCheck | None = None) -> Path:
    """Copy the first video (and audio) stream's packets bit-exactly into an MP4 with
    ``+faststart``; publish atomically.

    What every encoded output gets, the copy gets too: its first video frame at time 0 (an
    MPEG-TS capture's clock starts wherever the broadcast was, 1.4 s say), audio no longer than
    the video (``video_duration_s``, the probe's; packets starting after it, or ending before
    the first frame, are left out) and, where the source leaves its colours unspecified, BT.709
    tags in the MP4's ``colr`` box (the picture data is not touched; an HEVC stream's own VUI,
    where it says "unspecified", is what decoders read). ``cancel()`` is asked every
    :data:`CANCEL_EVERY` packets (a game video is gigabytes) and True raises ``Cancelled``.
    """
    dst = Path(dst)
    try:
        with published(dst) as tmp, open_media(src) as inp, \
                av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            video = inp.streams.video[0]
            streams = [video]
            if include_audio and inp.streams.audio:
                streams.append(inp.streams.audio[0])
            mapping = {s.index: out.add_stream_from_template(s) for s in streams}
            _tag_unspecified_colours(mapping[video.index])
            origin = Fraction(video.start_time * video.time_base) if video.start_time else Fraction(0)
            shift = {s.index: int(origin / s.time_base) for s in streams}
            for n, packet in enumerate(inp.demux(streams)):
                if cancel is not None and n % CANCEL_EVERY == 0 and cancel():
                    raise Cancelled(f"cancelled during the stream copy, at packet {n}")
                if packet.dts is None:
                    continue  # demux's end-of-stream flush packets carry no data
                index = packet.stream.index
                if index != video.index and not _within(packet, shift[index], video_duration_s):
                    continue
                packet.dts -= shift[index]
                if packet.pts is not None:
                    packet.pts -= shift[index]
                packet.stream = mapping[index]
                out.mux(packet)
    except av.error.FFmpegError as exc:
        raise CorruptMedia(f"{Path(src).name}: stream copy failed ({exc.__class__.__name__})") from None
    return dst


def _within(packet: av.Packet, shift: int, video_duration_s: float) -> bool:
    """Whether an audio packet plays inside the video's time span (on the output's clock):
    it starts before the video ends and ends at or after its start. A packet that starts
    before 0 stays: an MP4's AAC begins with a priming packet at -1024 samples (cut by its edit
    list) that the decoder needs for the first real frame."""
    start = packet.pts if packet.pts is not None else packet.dts
    t = float((start - shift) * packet.time_base)
    return t + float(packet.duration * packet.time_base) >= 0 and t < video_duration_s


def _tag_unspecified_colours(stream: av.video.stream.VideoStream) -> None:
    cc = stream.codec_context
    if cc is None:
        return
    if cc.color_primaries in (0, _UNSPECIFIED) and cc.color_trc in (0, _UNSPECIFIED) \
            and cc.colorspace in (0, _UNSPECIFIED):
        cc.color_primaries = cc.color_trc = cc.colorspace = BT709
    if cc.color_range == 0:  # unspecified: the encoded outputs say limited (TV) range
        cc.color_range = RANGE_TV
