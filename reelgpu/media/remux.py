"""Stream copy into a new MP4 with ``+faststart`` (no re-encode): the overlay's no-op path."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import av
import av.bitstream

from ..errors import Cancelled, CorruptMedia
from ..result import CancelCheck, StrPath
from .atomic import published
from .audio_feed import AudioFeed
from .probe import open_media
from .writer import BT709, H26X_BT709, H26X_LIMITED, RANGE_TV

_UNSPECIFIED = 2  # AVCOL_PRI/TRC/SPC_UNSPECIFIED
CANCEL_EVERY = 256  # video packets between cancel checks: a few seconds of video


def remux_faststart(src: StrPath, dst: StrPath, *, audio: AudioFeed | None = None,
                    cancel: CancelCheck | None = None) -> Path:
    """Copy the first video stream's packets bit-exactly into an MP4 with ``+faststart``, with
    ``audio`` (the caller's :class:`~reelgpu.media.audio_feed.AudioFeed`: the source's AAC
    copied by :class:`~reelgpu.media.audio_feed.PassthroughAudio`, other audio encoded to AAC
    by :class:`~reelgpu.media.audio_feed.TranscodedAudio`, as the encoded outputs do) fed in
    step with the video; publish atomically.

    What every encoded output gets, the copy gets too: its first video frame at time 0 (an
    MPEG-TS capture's clock starts wherever the broadcast was, 1.4 s say), AAC audio no longer
    than the video (the feeds are made for the probe's video length) and,
    where the source leaves its colours unspecified, BT.709 tags: in the MP4's ``colr`` box,
    and for H.264/HEVC/AV1/VP9 in the stream's own headers too (FFmpeg's ``*_metadata``
    filters, :data:`_BT709_FILTERS`; decoders read those, and the picture data is not
    touched). ``cancel()`` is asked every :data:`CANCEL_EVERY` packets (a game video is
    gigabytes) and True raises ``Cancelled``.
    """
    dst = Path(dst)
    try:
        with published(dst) as tmp, open_media(src) as inp, \
                av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            video = inp.streams.video[0]
            # opaque: the stream is made from the decoder it came with (PyAV otherwise looks for an
            # encoder of that name, and an AV1 stream decoded by libdav1d has none: UnknownCodecError).
            copy = out.add_stream_from_template(video, opaque=True)
            if audio is not None:
                audio.attach(out)
            tagger = _bt709_tagger(video, copy)  # before the colr tags: it resets them
            _tag_unspecified_colours(copy)
            shift = int(video.start_time) if video.start_time else 0
            for n, packet in enumerate(_with_decode_times(inp.demux(video), video)):
                if cancel is not None and n % CANCEL_EVERY == 0 and cancel():
                    raise Cancelled(f"cancelled during the stream copy, at packet {n}")
                packet.dts -= shift
                if packet.pts is not None:
                    packet.pts -= shift
                if audio is not None:  # the audio up to this packet's decode time: the file stays interleaved
                    audio.mux_until(out, float(packet.dts * video.time_base))
                for tagged in tagger.filter(packet) if tagger is not None else [packet]:
                    tagged.stream = copy
                    out.mux(tagged)
            for tagged in tagger.filter(None) if tagger is not None else []:  # what the filter still holds
                tagged.stream = copy
                out.mux(tagged)
            if audio is not None:
                audio.finish(out)
    except av.error.FFmpegError as exc:
        raise CorruptMedia(f"{Path(src).name}: stream copy failed ({exc.__class__.__name__})") from None
    return dst


def _with_decode_times(packets: Iterable[av.Packet], video: av.video.stream.VideoStream) -> Iterator[av.Packet]:
    """The video packets that carry data, each with a decode time (the MP4 muxer needs one),
    the last one at least a frame long.

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
        if packet.dts is None:
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


# The metadata filter of each codec whose colours live in its bitstream, and how it says
# BT.709 (VP9's headers carry the matrix only) and limited range.
_BT709_FILTERS = {
    "h264": (f"h264_metadata={H26X_BT709}", H26X_LIMITED),
    "hevc": (f"hevc_metadata={H26X_BT709}", H26X_LIMITED),
    "av1": ("av1_metadata=color_primaries=1:transfer_characteristics=1:matrix_coefficients=1", "color_range=tv"),
    "vp9": ("vp9_metadata=color_space=bt709", "color_range=tv"),
}


def _bt709_tagger(video: av.video.stream.VideoStream,
                  out: av.video.stream.VideoStream) -> av.bitstream.BitStreamFilterContext | None:
    """A filter writing BT.709 (limited range, where unstated) into an H.264/HEVC/AV1/VP9
    stream's own headers, or None where the source states its colours or is another codec."""
    cc = video.codec_context
    codec = cc.codec.canonical_name if cc is not None else None  # "av1", whichever decoder reads it
    if codec not in _BT709_FILTERS or not _unspecified(cc):
        return None
    options, limited = _BT709_FILTERS[codec]
    if cc.color_range == 0:
        options += ":" + limited
    tag = out.codec_context.codec_tag
    tagger = av.bitstream.BitStreamFilterContext(options, video, out)
    # The filter hands the output its input's parameters, codec tag included: an MPEG-TS
    # stream's is 0x1b (its stream type), which the MP4 muxer refused ("Tag [27][0][0][0]
    # incompatible"). The tag add_stream_from_template chose (none: the muxer's own) goes back.
    out.codec_context.codec_tag = tag
    return tagger


def _tag_unspecified_colours(stream: av.video.stream.VideoStream) -> None:
    cc = stream.codec_context
    if cc is None:
        return
    if _unspecified(cc):
        cc.color_primaries = cc.color_trc = cc.colorspace = BT709
    if cc.color_range == 0:  # unspecified: the encoded outputs say limited (TV) range
        cc.color_range = RANGE_TV
