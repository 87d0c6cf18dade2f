"""Stream copy into a new MP4 with ``+faststart`` (no re-encode): the overlay's no-op path."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.bitstream

from ..errors import Cancelled, CorruptMedia
from ..result import CancelCheck, StrPath
from .atomic import published
from .audio_feed import plays_within
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
    tags: in the MP4's ``colr`` box, and for H.264/HEVC from MP4/MOV/Matroska in the stream's
    own parameter sets too (FFmpeg's ``h264_metadata``/``hevc_metadata`` filters; decoders read
    those, and the slice data is not touched). ``cancel()`` is asked every
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
            tagger = _bt709_tagger(video, mapping[video.index])  # before the colr tags: it resets them
            _tag_unspecified_colours(mapping[video.index])
            origin = Fraction(video.start_time * video.time_base) if video.start_time else Fraction(0)
            shift = {s.index: int(origin / s.time_base) for s in streams}
            for n, packet in enumerate(_with_decode_times(inp.demux(streams), video)):
                if cancel is not None and n % CANCEL_EVERY == 0 and cancel():
                    raise Cancelled(f"cancelled during the stream copy, at packet {n}")
                index = packet.stream.index
                if index != video.index and not plays_within(packet, shift[index], video_duration_s):
                    continue
                packet.dts -= shift[index]
                if packet.pts is not None:
                    packet.pts -= shift[index]
                for tagged in tagger.filter(packet) if tagger is not None and index == video.index else [packet]:
                    tagged.stream = mapping[index]
                    out.mux(tagged)
            for tagged in tagger.filter(None) if tagger is not None else []:  # what the filter still holds
                tagged.stream = mapping[video.index]
                out.mux(tagged)
    except av.error.FFmpegError as exc:
        raise CorruptMedia(f"{Path(src).name}: stream copy failed ({exc.__class__.__name__})") from None
    return dst


def _with_decode_times(packets: Iterable[av.Packet], video: av.video.stream.VideoStream) -> Iterator[av.Packet]:
    """The packets that carry data, each video packet with a decode time (the MP4 muxer needs
    one) and the last one at least a frame long.

    Matroska stores presentation times only, and FFmpeg derives decode times once it knows how
    a stream reorders its frames: the first packets of a B-frame stream come without (they were
    taken for the demuxer's empty end-of-stream packets and dropped, and the copy lost its first
    frames). They get times a frame apart before the first known one; a stream that never gets
    any, its presentation times in order, less the deepest reordering."""
    rate = video.guessed_rate or video.average_rate
    step = max(1, round(1 / (rate * video.time_base))) if rate and video.time_base else 1
    held: list[av.Packet] = []
    last: list[av.Packet] = []  # the latest video packet, held until we know whether it is the last

    def video_packet(packet: av.Packet) -> Iterator[av.Packet]:
        yield from last
        last[:] = [packet]

    for packet in packets:
        if packet.size == 0 or (packet.dts is None and packet.pts is None):
            continue  # the demuxer's end-of-stream flush packets
        if packet.stream.index != video.index:
            if packet.dts is not None:
                yield packet
        elif packet.dts is None:
            held.append(packet)
        else:
            for k, early in enumerate(held):
                early.dts = packet.dts - (len(held) - k) * step
                yield from video_packet(early)
            held.clear()
            yield from video_packet(packet)
    if held:
        order = sorted(p.pts for p in held)
        delay = max(o - p.pts for o, p in zip(order, held))
        for o, p in zip(order, held):
            p.dts = o - delay
            yield from video_packet(p)
    # The last frame lasts at least a frame: a source cut by its edit list can end it a fraction
    # of a millisecond after it starts, and the MP4's edit list (in milliseconds) then ended
    # before it, losing the frame.
    for final in last:
        final.duration = max(final.duration or 0, step)
        yield final


def _unspecified(cc: av.codec.context.CodecContext) -> bool:
    return cc.color_primaries in (0, _UNSPECIFIED) and cc.color_trc in (0, _UNSPECIFIED) \
        and cc.colorspace in (0, _UNSPECIFIED)


def _bt709_tagger(video: av.video.stream.VideoStream,
                  out: av.video.stream.VideoStream) -> av.bitstream.BitStreamFilterContext | None:
    """A filter writing BT.709 (limited range, where unstated) into an H.264/HEVC stream's
    parameter sets, or None where the source states its colours or is another codec. Only for
    a stream stored as MP4/Matroska store it (its parameter sets in a configuration record,
    whose first byte is 1): with an MPEG-TS source's start-code form, the MP4 muxer refused
    the filter's output header (InvalidDataError); there the ``colr`` box alone says BT.709."""
    cc = video.codec_context
    if cc is None or cc.name not in ("h264", "hevc") or not _unspecified(cc) or (cc.extradata or b"\0")[0] != 1:
        return None
    name = cc.name
    options = f"colour_primaries={BT709}:transfer_characteristics={BT709}:matrix_coefficients={BT709}"
    if cc.color_range == 0:
        options += ":video_full_range_flag=0"
    return av.bitstream.BitStreamFilterContext(f"{name}_metadata={options}", video, out)


def _tag_unspecified_colours(stream: av.video.stream.VideoStream) -> None:
    cc = stream.codec_context
    if cc is None:
        return
    if _unspecified(cc):
        cc.color_primaries = cc.color_trc = cc.colorspace = BT709
    if cc.color_range == 0:  # unspecified: the encoded outputs say limited (TV) range
        cc.color_range = RANGE_TV
