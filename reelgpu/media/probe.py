"""Probe a media file: the facts every export needs before it decodes anything."""

from __future__ import annotations

import struct
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from ..errors import CorruptMedia, UnsupportedMedia


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
    frame_count: int  # from the container, or estimated from duration x fps
    video_codec: str
    pix_fmt: str
    has_audio: bool
    audio_codec: str | None
    audio_sample_rate: int | None
    faststart: bool  # moov before mdat (MP4/MOV only; False for other containers)
    start_time_s: float

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["fps"] = f"{self.fps.numerator}/{self.fps.denominator}"
        out["time_base"] = f"{self.time_base.numerator}/{self.time_base.denominator}"
        return out


def top_level_atoms(path: str | Path, limit: int = 64) -> list[str]:
    """Names of the top-level MP4 boxes in file order (reads headers only)."""
    names: list[str] = []
    with open(path, "rb") as f:
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


def is_faststart(path: str | Path) -> bool:
    atoms = top_level_atoms(path)
    return "moov" in atoms and "mdat" in atoms and atoms.index("moov") < atoms.index("mdat")


def _normalise_rotation(value: float | None) -> int:
    if not value:
        return 0
    rot = int(round(value)) % 360
    if rot % 90:
        raise UnsupportedMedia(f"rotation metadata of {rot} degrees is not a multiple of 90")
    return rot


def probe(path: str | Path) -> MediaInfo:
    """Read container and stream facts; decode at most one frame (for rotation metadata).

    Raises ``CorruptMedia`` when the file cannot be parsed and ``UnsupportedMedia`` when it
    has no video stream.
    """
    path = Path(path)
    if not path.is_file():
        raise CorruptMedia(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise CorruptMedia(f"{path}: file is empty")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise CorruptMedia(f"{path.name}: not a readable media file ({exc.__class__.__name__})") from None
    with container:
        if not container.streams.video:
            raise UnsupportedMedia(f"{path.name}: no video stream")
        vs = container.streams.video[0]
        cc = vs.codec_context
        if not cc.width or not cc.height:
            raise CorruptMedia(f"{path.name}: video stream has no dimensions")
        fps = vs.average_rate or vs.guessed_rate or vs.base_rate
        if not fps or fps <= 0:
            raise CorruptMedia(f"{path.name}: video stream has no frame rate")
        fps = Fraction(fps).limit_denominator(1001)
        time_base = Fraction(vs.time_base)
        if vs.duration is not None:
            duration = float(vs.duration * vs.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            duration = 0.0
        frame_count = int(vs.frames) or int(round(duration * fps))
        rotation = _rotation_of(container, vs)
        audio = container.streams.audio[0] if container.streams.audio else None
        start = float(vs.start_time * vs.time_base) if vs.start_time is not None else 0.0
        w, h = cc.width, cc.height
        upright = (h, w) if rotation in (90, 270) else (w, h)
        return MediaInfo(
            path=str(path), width=upright[0], height=upright[1], coded_width=w, coded_height=h,
            rotation=rotation, fps=fps, time_base=time_base, duration_s=duration, frame_count=frame_count,
            video_codec=cc.name, pix_fmt=cc.format.name if cc.format else "unknown",
            has_audio=audio is not None,
            audio_codec=audio.codec_context.name if audio else None,
            audio_sample_rate=audio.codec_context.sample_rate if audio else None,
            faststart=is_faststart(path) if {"mp4", "mov"} & set(container.format.name.split(",")) else False,
            start_time_s=start,
        )


def _rotation_of(container: av.container.InputContainer, stream: av.VideoStream) -> int:
    """Display-matrix rotation. PyAV exposes it on decoded frames, so decode the first one."""
    try:
        for frame in container.decode(stream):
            return _normalise_rotation(frame.rotation)
    except av.error.FFmpegError:
        raise CorruptMedia(f"{Path(container.name).name}: first video frame cannot be decoded") from None
    raise CorruptMedia(f"{Path(container.name).name}: video stream has no decodable frames")
