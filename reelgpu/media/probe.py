"""Probe a media file: the facts every export needs before it decodes anything."""

from __future__ import annotations

import errno
import functools
import math
import struct
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import av
import numpy as np

from ..errors import CorruptMedia, InputNotFound, LimitExceeded, UnsupportedMedia
from ..result import StrPath
from .frame_rate import avi_average, nominal_rate, sampled_period
from .lazy_input import lookup, open_binary
from .seek import rewind

# Sanity bounds on what a file may *declare*, whatever the configured Limits: libavformat builds
# a per-sample index from a few header bytes, so a 50 KB file declaring 50 M samples costs
# ~650 MB before any limit could be checked. 4 h at 240 fps is 3,456,000 frames.
MAX_VIDEO_SAMPLES = 5_000_000
# Media timescales in the wild: 600 (Apple), 1000, 15360, 90000, audio sample rates up to 384 kHz.
MAX_TIMESCALE = 10_000_000
MIN_FPS = Fraction(1, 10)
MAX_FPS = 1000
# Top-level ISO-BMFF box types: a file starting with one of these is scanned before FFmpeg opens
# it, and one of these running past the end of the file means the file was cut short.
_ISO_TOP = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"styp", b"sidx", b"moof",
            b"mfra", b"meta", b"uuid", b"pdin", b"junk"}
_DESCEND = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}
# The containers an input may be, as FFmpeg demuxer names. Everything else - playlists (HLS,
# concat), images, text (the tty demuxer renders any .txt), raw streams - is refused before a
# demuxer parses it: an HLS playlist renders the *local files it names*, another job's included.
FORMAT_WHITELIST = "mov,mp4,matroska,webm,avi,mpegts"
OPEN_OPTIONS = {"format_whitelist": FORMAT_WHITELIST, "protocol_whitelist": "file"}
ACCEPTED = "MP4/MOV, Matroska/WebM, AVI or MPEG-TS"


# Video containers FFmpeg reads but reelgpu does not accept, by their first bytes: refused as
# unsupported (readable, not rendered), not as "not a video file".
_OTHER_VIDEO = {b"FLV\x01": "FLV", b"\x00\x00\x01\xba": "MPEG program stream", b"OggS": "Ogg",
                b"0&\xb2u": "ASF/WMV", b".RMF": "RealMedia"}


def other_video_container(path: StrPath) -> str | None:
    """The name of a video container that is not accepted (FLV, MPEG-PS, Ogg, ASF, RealMedia)."""
    with open_binary(path) as f:
        return _OTHER_VIDEO.get(f.read(4))


def sniff_container(path: StrPath) -> str | None:
    """The container family from the first bytes (``iso``, ``matroska``, ``avi``, ``mpegts``),
    or None: decided by content, never by the file name."""
    with open_binary(path) as f:
        head = f.read(200)
    if len(head) >= 8 and head[4:8] in _ISO_TOP:
        return "iso"
    if head[:4] == b"\x1aE\xdf\xa3":
        return "matroska"
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return "avi"
    if len(head) > 196 and (head[0] == head[188] == 0x47 or head[4] == head[196] == 0x47):
        return "mpegts"  # 188-byte TS packets, or 192-byte M2TS (AVCHD .mts)
    return None


# Containers whose index lists every video packet (MP4/MOV, AVI): the probe's reads of a remote
# one are fetched ahead from it (prefetch.probe_spans) and need no read-ahead. Others' probe
# reads (Matroska's last seconds, MPEG-TS's stream probing) are long runs that read-ahead speeds.
FULLY_INDEXED = ("iso", "avi")


def _probe_readahead(path: StrPath) -> bool:
    return sniff_container(path) not in FULLY_INDEXED


def open_media(path: StrPath, *, readahead: bool = True) -> av.container.InputContainer:
    """``av.open`` for reading an input: accepted demuxers only, local files only (no nested
    http:, concat:, data:... however the file asks). Every reader of an input uses this.
    ``readahead=False`` for a reader whose reads of a remote input are fetched ahead otherwise
    (the probe's samples of an indexed file): it then fetches no blocks past what it reads
    (lazy_input.py)."""
    lazy = lookup(path)  # a remote input read by byte range (lazy_input.py)
    source = lazy.reader(readahead=readahead, for_ffmpeg=True) if lazy is not None else str(path)
    return av.open(source, metadata_errors="ignore", options=dict(OPEN_OPTIONS))


def video_rate(path: StrPath) -> Fraction | None:
    """The frame rate of the file's video (:mod:`reelgpu.media.frame_rate`): from its packets'
    spacing (:func:`~reelgpu.media.frame_rate.sampled_period`) and FFmpeg's guesses. The
    probe and both decoders use this one answer (cached per file version), so the frames
    they schedule and the grid they snap to agree. It opens the file once more: ~25 ms for a
    1080p MP4 (FFmpeg's stream probing; the packets' times take a few ms)."""
    stat = Path(path).stat()
    # The file's version: a copy that keeps size and mtime (cp -p, rsync -t) still changes its
    # ctime or inode.
    return _video_rate(str(path), (stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size))


@functools.lru_cache(maxsize=64)
def _video_rate(path: str, _version: tuple[int, ...]) -> Fraction | None:
    with open_media(path, readahead=_probe_readahead(path)) as container:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        try:
            period = sampled_period(container, stream)
        except av.error.FFmpegError:  # unreadable packets: the decoder will say so
            period = None
        rate = nominal_rate(stream, period, avi_average(container, stream))
        return rate.limit_denominator(1001) if rate else None  # 30000/1001, not an average's 450000/15001


@dataclass(frozen=True)
class MediaInfo:
    path: str
    width: int  # upright (display) size, after the rotation metadata is applied
    height: int
    coded_width: int
    coded_height: int
    rotation: int  # display-matrix rotation, degrees counter-clockwise (0, 90, 180, 270)
    fps: Fraction  # average frame rate
    time_base: Fraction
    duration_s: float
    frame_count: int  # frame slots: duration x fps (the container's count when it states no duration)
    video_codec: str  # the codec's canonical name ("h264", "hevc", "av1"), not the decoder's
    pix_fmt: str
    has_audio: bool
    audio_codec: str | None
    audio_sample_rate: int | None
    faststart: bool  # moov before mdat (MP4/MOV only; False for other containers)
    start_time_s: float
    container: str  # the family sniff_container found: "iso", "matroska", "avi" or "mpegts"
    interlaced: bool = False  # fields (1080i broadcast), as the first decoded picture says

    @property
    def picture_size(self) -> tuple[int, int]:
        """Upright size of the pictures the decoders hand out: an odd width or height loses its
        last column or row (4:2:0 chroma covers 2x2 luma pixels; both video sources do this)."""
        return self.width - self.width % 2, self.height - self.height % 2

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["fps"] = f"{self.fps.numerator}/{self.fps.denominator}"
        out["time_base"] = f"{self.time_base.numerator}/{self.time_base.denominator}"
        return out


def top_level_atoms(path: StrPath, limit: int = 64) -> list[str]:
    """Names of the top-level MP4 boxes in file order (reads headers only)."""
    names: list[str] = []
    with open_binary(path) as f:
        f.seek(0, 2)
        end = f.tell()
        pos = 0
        while pos + 8 <= end and len(names) < limit:
            f.seek(pos)
            size, kind = struct.unpack(">I4s", f.read(8))
            if size == 1:
                size = struct.unpack(">Q", f.read(8))[0]
            elif size == 0:
                size = end - pos
            if size < 8:
                break
            names.append(kind.decode("latin-1"))
            pos += size
    return names


def iso_fragmented(path: StrPath) -> bool:
    """Whether an MP4/MOV is fragmented (``moof`` boxes; ``mvex`` in its ``moov``). Reads the
    top-level box headers up to ``moov`` and ``moov``'s child headers only."""
    path = Path(path)
    with open_binary(path) as f:
        for kind, start, end in _boxes(f, 0, path.stat().st_size, path.name, top=True):
            if kind == b"moof":
                return True
            if kind == b"moov":
                return any(child == b"mvex" for child, _, _ in _boxes(f, start, end, path.name))
    return False


def is_faststart(path: StrPath) -> bool:
    atoms = top_level_atoms(path)
    return "moov" in atoms and "mdat" in atoms and atoms.index("moov") < atoms.index("mdat")


def _normalise_rotation(value: float | None) -> int:
    if not value:
        return 0
    rot = int(round(value)) % 360
    if rot % 90:
        raise UnsupportedMedia(f"rotation metadata of {rot} degrees is not a multiple of 90")
    return rot


@dataclass
class _Track:
    handler: str = ""
    timescale: int | None = None
    declared: list[tuple[str, int]] = field(default_factory=list)  # (box, duration in its timescale)
    tkhd_duration: int | None = None
    stts_samples: int = 0
    stts_duration: float = 0.0
    stsz_samples: int | None = None


def _boxes(f: BinaryIO, start: int, end: int, name: str, *, top: bool = False):
    """(type, payload start, box end) of the boxes in [start, end), reading headers only."""
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        size, kind = struct.unpack(">I4s", f.read(8))
        header = 8
        if size == 1:
            raw = f.read(8)
            if len(raw) < 8:
                raise CorruptMedia(f"{name}: truncated (the file ends inside a box header)")
            size, header = struct.unpack(">Q", raw)[0], 16
        elif size == 0:
            size = end - pos  # "to the end of the file"
        if top and kind not in _ISO_TOP:
            return  # trailing bytes that are no box: FFmpeg ignores them, so do we
        if size < header:
            raise CorruptMedia(f"{name}: malformed {kind.decode('latin-1')!r} box at byte {pos}")
        if pos + size > end:
            raise CorruptMedia(f"{name}: truncated - the {kind.decode('latin-1')!r} box needs {pos + size} "
                               f"bytes but the {'file' if top else 'parent box'} ends at {end}")
        yield kind, pos + header, pos + size
        pos += size


def _full_box(f: BinaryIO, start: int, end: int, v0: str, v1: str) -> tuple[Any, ...] | None:
    """Fields of a version 0/1 full box (after version and flags), or None when too short."""
    f.seek(start)
    head = f.read(4)
    if len(head) < 4:
        return None
    fmt = ">" + (v1 if head[0] == 1 else v0)
    raw = f.read(struct.calcsize(fmt))
    if len(raw) < struct.calcsize(fmt) or start + 4 + len(raw) > end:
        return None
    return struct.unpack(fmt, raw)


def _read_table(f: BinaryIO, start: int, end: int, entry: int, name: str, box: str) -> np.ndarray:
    """The big-endian uint32 entries of a table box (entry = words per entry)."""
    if end - start < 8:
        raise CorruptMedia(f"{name}: the {box!r} box is too short")
    f.seek(start + 4)
    count = struct.unpack(">I", f.read(4))[0]
    if count * entry * 4 > end - start - 8:
        raise CorruptMedia(f"{name}: the {box!r} table declares {count} entries but its box is "
                           f"{end - start} bytes long")
    raw = f.read(count * entry * 4)
    return np.frombuffer(raw, dtype=">u4").reshape(-1, entry)


def _scan_trak(f: BinaryIO, start: int, end: int, name: str, track: _Track) -> None:
    for kind, a, b in _boxes(f, start, end, name):
        if kind in _DESCEND:
            _scan_trak(f, a, b, name, track)
        elif kind == b"tkhd" and (v := _full_box(f, a, b, "IIIII", "QQIIQ")):
            track.tkhd_duration = v[4]
        elif kind == b"mdhd" and (v := _full_box(f, a, b, "IIII", "QQIQ")):
            track.timescale = v[2]
            track.declared.append(("mdhd", v[3]))
        elif kind == b"hdlr" and (v := _full_box(f, a, b, "I4s", "I4s")):
            track.handler = v[1].decode("latin-1")
        elif kind == b"stts":
            table = _read_table(f, a, b, 2, name, "stts")
            track.stts_samples = int(table[:, 0].astype(np.uint64).sum())
            track.stts_duration = float((table[:, 0].astype(np.float64) * table[:, 1]).sum())
        elif kind in (b"stsz", b"stz2") and (v := _full_box(f, a, b, "II", "II")):
            track.stsz_samples = v[1]


def _too_long(declared_s: float, actual_s: float) -> bool:
    """A header that claims far more time than the samples hold (slack for edit-list delays)."""
    return declared_s > 2 * actual_s + 60


def check_iso_structure(path: StrPath) -> None:
    """Bounded scan of an MP4/MOV's boxes before libavformat sees the file.

    Refuses what FFmpeg would accept silently or expensively: a file cut short (a top-level box
    runs past the end: FFmpeg decodes what is there and the export would freeze on the last
    frame), sample tables that disagree or declare more than :data:`MAX_VIDEO_SAMPLES` video
    frames (memory for FFmpeg's index), a zero timescale, and duration headers (``mvhd``,
    ``tkhd``, ``mdhd``) that claim far longer than the samples last (headers lie; FFmpeg
    trusts the samples, other tools may not). Files that are not ISO-BMFF are left to FFmpeg.
    """
    path = Path(path)
    name = path.name
    with open_binary(path) as f:
        head = f.read(8)
        if len(head) < 8 or head[4:8] not in _ISO_TOP:
            return
        end = path.stat().st_size
        tracks: list[_Track] = []
        movie: tuple[int, int] | None = None  # (timescale, duration)
        fragmented = False
        for kind, a, b in list(_boxes(f, 0, end, name, top=True)):
            if kind != b"moov":
                continue
            for child, ca, cb in _boxes(f, a, b, name):
                if child == b"mvhd" and (v := _full_box(f, ca, cb, "IIII", "QQIQ")):
                    movie = (v[2], v[3])
                elif child == b"mvex":
                    fragmented = True
                elif child == b"trak":
                    track = _Track()
                    _scan_trak(f, ca, cb, name, track)
                    tracks.append(track)
    if fragmented:
        return  # samples live in moof boxes, read as the file plays: nothing to compare here
    longest = 0.0
    for track in tracks:
        kind = {"vide": "video", "soun": "audio"}.get(track.handler, "media")
        if track.timescale is not None and not 0 < track.timescale <= MAX_TIMESCALE:
            raise CorruptMedia(f"{name}: the {kind} track has a timescale of {track.timescale}")
        if track.handler == "vide" and not track.stts_samples and not track.stsz_samples:
            raise CorruptMedia(f"{name}: the video track holds no frames")
        if not track.timescale or not track.stts_samples:
            continue
        actual = track.stts_duration / track.timescale
        longest = max(longest, actual)
        declared = max((d for _, d in track.declared), default=0) / track.timescale
        if declared and _too_long(actual, declared):
            # The reverse lie: sample durations far beyond the header (a forged stts delta).
            raise CorruptMedia(f"{name}: the {kind} samples last {actual:.0f} s but the header declares "
                               f"{declared:.3f} s")
        if track.handler == "vide":
            if track.stsz_samples is not None and track.stsz_samples != track.stts_samples:
                raise CorruptMedia(f"{name}: the video sample tables disagree (stts: {track.stts_samples} "
                                   f"samples, stsz: {track.stsz_samples})")
            if track.stts_samples > MAX_VIDEO_SAMPLES:
                # A fixed bound of the file parser, not a Limits field: ``limit`` stays None.
                raise LimitExceeded(f"{name}: declares {track.stts_samples} video frames, over the limit "
                                    f"of {MAX_VIDEO_SAMPLES}", value=track.stts_samples, maximum=MAX_VIDEO_SAMPLES)
        for box, duration in track.declared:
            if _too_long(duration / track.timescale, actual):
                raise CorruptMedia(f"{name}: the {box} header declares {duration / track.timescale:.0f} s "
                                   f"but the samples last {actual:.3f} s")
    if movie and movie[0] and longest > 0:
        declared = [("mvhd", movie[1])] + [("tkhd", t.tkhd_duration) for t in tracks if t.tkhd_duration]
        for box, duration in declared:
            if _too_long(duration / movie[0], longest):
                raise CorruptMedia(f"{name}: the {box} header declares {duration / movie[0]:.0f} s "
                                   f"but the samples last {longest:.3f} s")


# The video's end is read from its packets in the file's last seconds (bounded: a few seconds
# of even 240 fps video), or from all of them when the file states no end (4 h at 240 fps).
TAIL_SCAN_S = 5.0
_TAIL_PACKETS = 4000
_SCAN_PACKETS = 4 * 3600 * 240
_MAX_HOLD_S = 10.0  # the longest a last picture's stated duration holds it (see _held_for)


def _video_duration(container: av.container.InputContainer, vs: av.video.stream.VideoStream, start: float,
                    frame_s: float, iso: bool = False) -> float:
    """Seconds from the video's first frame to its end (frame times count from its first frame).

    The stream's own duration where the container gives one (MP4, AVI; FFmpeg estimates it for
    MPEG-TS). Matroska gives none: the end of the video's last packet, read near the file's end.
    Not the file's duration, which counts from the earliest stream (AAC's priming puts audio
    ~21 ms before the video: 121 frames were scheduled for 120) and to the latest (audio
    outlasting the video). Nor Matroska's ``DURATION`` tag: FFmpeg writes the track's end time
    there, mkvmerge its length. A streamed file (a browser's MediaRecorder WebM) states no
    duration at all: its packets are read to the end. Never more than a frame past the file's
    end, and a packet's stated duration is bounded (:func:`_held_for`: a forged one at the end
    would otherwise hold the last picture for hours).
    """
    if vs.duration is not None:
        stated = float(vs.duration * vs.time_base)
        if not (iso and vs.codec_context and vs.codec_context.has_b_frames):
            return stated
        # With B-frames an MP4's stated duration (its sample deltas summed: a decode-time span)
        # can end short of the last frame's presentation: frames missing (a variable rate) and
        # reordered made it a frame short, and the frame was lost (helper-42). The presentation
        # end, read from the last packets, is taken when it is at most a frame later.
        last = _last_packet_end(container, vs, start + stated, start, frame_s, any_frame=True)
        if last is not None and stated < last - start <= stated + frame_s + 1e-6:
            return last - start
        return stated
    file_end = None
    if container.duration is not None:
        file_end = (container.start_time or 0) / av.time_base + container.duration / av.time_base
    last = _last_packet_end(container, vs, file_end, start, frame_s)
    if last is not None and file_end is not None:
        last = min(last, file_end + frame_s)  # one forged timestamp at the end must not stretch it
    end = last if last is not None else file_end
    return max(0.0, end - start) if end is not None else 0.0


def _held_for(stated_s: float | None, at_s: float, frame_s: float) -> float:
    """How long a packet's picture is on screen: its stated duration, bounded. A last frame
    held a second in a ten-second clip (a screen recording's still ending) keeps its hold; a
    forged one of hours at the end of a short clip would render hours of one picture. The
    bound: two frames, or a tenth of the time before the packet up to 10 s, whichever is more."""
    if stated_s is None:
        return frame_s
    if not frame_s:
        return stated_s
    return min(stated_s, max(2 * frame_s, min(_MAX_HOLD_S, 0.1 * at_s)))


def _last_packet_end(container: av.container.InputContainer, vs: av.video.stream.VideoStream,
                     file_end: float | None, start: float, frame_s: float, *, any_frame: bool = False) -> float | None:
    """When the video's last packet ends, in seconds (None if it cannot be read): from a seek
    to the file's last seconds, or, when the file states no end (or one no seek can reach),
    from here to the end. ``start`` is the video's first frame time: a hold is bounded by the
    video before it, not by the timestamps' offset (a stream starting at 600 s).

    ``any_frame``: seek to any packet, not the key frame before (only times are read): for an
    MP4, whose index lists every packet, so a long GOP (8 s from x264's defaults) is not read
    too. Not for a file whose stated end can lie past its last packet (a Matroska segment
    duration stretched by a forged packet duration): a seek there finds no packet at all."""
    tb = vs.time_base
    limit = _SCAN_PACKETS
    try:
        target = (file_end - TAIL_SCAN_S) / tb if file_end is not None else None
        # A forged duration can put the seek beyond 64-bit ticks: read the packets instead.
        if target is not None and math.isfinite(target) and abs(target) < 2**62:
            container.seek(max(0, int(target)), stream=vs, backward=True, any_frame=any_frame)
            limit = _TAIL_PACKETS
        else:
            rewind(container, vs)  # every packet, those the first frame's decoding took too
        last = None
        for n, packet in enumerate(container.demux(vs)):
            if n >= limit:
                return None  # not near the end after all (a seek that did not land), or endless
            if packet.pts is None or not packet.size or packet.is_discard:
                continue  # (discarded: past the MP4's edit list, never shown)
            at = float(packet.pts * tb)
            stated = float(packet.duration * tb) if packet.duration else None
            end = at + _held_for(stated, at - start, frame_s)
            last = end if last is None else max(last, end)
        return last
    except (av.error.FFmpegError, OverflowError, ValueError):
        return None


def probe(path: StrPath) -> MediaInfo:
    """Read container and stream facts; decode at most one frame (for rotation metadata).

    Raises ``CorruptMedia`` when the file cannot be parsed and ``UnsupportedMedia`` when it
    has no video stream.
    """
    path = Path(path)
    if not path.is_file():
        folder = path.is_dir()
        raise InputNotFound(f"{path}: {'a folder, not a file' if folder else 'file not found'}",
                            filename=str(path), errno_=errno.EISDIR if folder else errno.ENOENT)
    if path.stat().st_size == 0:
        raise CorruptMedia(f"{path}: file is empty")
    kind = sniff_container(path)
    if kind is None:  # cannot be parsed as any container we read (text, images, playlists...)
        other = other_video_container(path)
        if other is not None:
            raise UnsupportedMedia(f"{path.name}: {other} files are not accepted ({ACCEPTED} expected)")
        raise CorruptMedia(f"{path.name}: not a video file ({ACCEPTED} expected)")
    if kind == "iso":
        check_iso_structure(path)
    try:
        rate = video_rate(path)  # before the probe's own open: one demuxer index in memory at a time
        container = open_media(path, readahead=kind not in FULLY_INDEXED)
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise CorruptMedia(f"{path.name}: not a readable media file ({exc.__class__.__name__})") from None
    with container:
        if not container.streams.video:
            raise UnsupportedMedia(f"{path.name}: no video stream")
        vs = container.streams.video[0]
        cc = vs.codec_context
        if cc is None:  # PyAV has no codec context for a codec FFmpeg does not know
            raise UnsupportedMedia(f"{path.name}: unknown video codec")
        if not cc.width or not cc.height:
            raise CorruptMedia(f"{path.name}: video stream has no dimensions")
        fps = rate
        if not fps or fps <= 0:
            raise CorruptMedia(f"{path.name}: video stream has no frame rate")
        if fps < MIN_FPS or fps > MAX_FPS:
            # A rate of ~0 divides by zero downstream; tens of thousands of fps (a forged stts)
            # would schedule that many output frames per second.
            raise UnsupportedMedia(f"{path.name}: frame rate of {float(fps):.4g} fps is outside "
                                   f"{float(MIN_FPS):g}..{MAX_FPS} fps")
        time_base = Fraction(vs.time_base)
        rotation, interlaced_frame = _first_frame_facts(container, vs)  # decodes it: before the seek to the end
        start = float(vs.start_time * vs.time_base) if vs.start_time is not None else 0.0
        duration = _video_duration(container, vs, start, float(1 / fps), iso=kind == "iso")
        declared = int(vs.frames)
        if declared > 2 * duration * fps + 16:
            # Exports schedule frame_count frames; a count the duration cannot hold is forged.
            raise CorruptMedia(f"{path.name}: declares {declared} frames but lasts {duration:.3f} s "
                               f"at {float(fps):.4g} fps")
        # Slots of 1/fps over the duration, not the samples stored: a variable-rate file (a
        # phone's, frames skipped) holds fewer samples than slots at its base rate, and an
        # overlay scheduling only the samples ended early, its last seconds cut. What is left
        # over past a quarter slot (or a tick, up to half a slot: 240 fps on 1/600 s ends 0.4
        # slot late; AVI's tick is a whole frame) gets a slot: a jittered last frame
        # (6.455-6.495 s at 25 fps) starts after the last whole slot (6.44 s), never shown.
        spare = max(0.25, min(float(time_base * fps), 0.5)) + 1e-6
        frame_count = math.ceil(duration * fps - spare) if duration > 0 else declared
        audio = container.streams.audio[0] if container.streams.audio else None
        if audio is not None and audio.codec_context is None:
            raise UnsupportedMedia(f"{path.name}: unknown audio codec")
        w, h = cc.width, cc.height
        upright = (h, w) if rotation in (90, 270) else (w, h)
        return MediaInfo(
            path=str(path), width=upright[0], height=upright[1], coded_width=w, coded_height=h,
            rotation=rotation, fps=fps, time_base=time_base, duration_s=duration, frame_count=frame_count,
            video_codec=cc.codec.canonical_name, pix_fmt=cc.format.name if cc.format else "unknown",
            has_audio=audio is not None,
            audio_codec=audio.codec_context.name if audio else None,
            audio_sample_rate=audio.codec_context.sample_rate if audio else None,
            faststart=is_faststart(path) if {"mp4", "mov"} & set(container.format.name.split(",")) else False,
            start_time_s=start, container=kind,
            # The decoded picture says, not the container's field-order tag: progressive H.264
            # remuxed into Matroska or MOV with a "tt" tag is still progressive.
            interlaced=interlaced_frame,
        )


def _first_frame_facts(container: av.container.InputContainer, stream: av.VideoStream) -> tuple[int, bool]:
    """Display-matrix rotation and whether the picture is interlaced: PyAV exposes both on
    decoded frames, so decode the first one."""
    try:
        for frame in container.decode(stream):
            return _normalise_rotation(frame.rotation), bool(frame.interlaced_frame)
    except av.error.FFmpegError:
        raise CorruptMedia(f"{Path(container.name).name}: first video frame cannot be decoded") from None
    raise CorruptMedia(f"{Path(container.name).name}: video stream has no decodable frames")
