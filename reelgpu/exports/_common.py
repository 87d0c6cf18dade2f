"""Pieces every export shares: input resolution and probing, the CPU source opener, audio
assembly for re-timed clips, and running the frame loop into an MP4."""

from __future__ import annotations

import errno
import functools
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .. import pipeline
from ..backends import Backend, Export
from ..errors import InputNotFound, InvalidSpec
from ..limits import DEFAULT_LIMITS, Limits, check_input_limits, check_output_size
from ..media.audio import fit_length, ramp, read_audio, silence, time_stretch
from ..media.audio_feed import AudioFeed, EncodedAudio, PassthroughAudio, TranscodedAudio
from ..media.lazy_input import cancelled_by
from ..media.prefetch import prefetch_probe
from ..media.probe import MediaInfo, probe
from ..result import CancelCheck, ExportResult, ProgressCallback, StrPath
from ..specs import EncodeSettings
from ..timeline import OutputFrame, Piece, clip_lengths, dissolve_overlap, frame_count


def resolve_source(key: str | None, default: Path, sources: Mapping[str, StrPath] | None, field: str) -> Path:
    """Local path of a key the spec names (``None`` = the export's main input)."""
    if key is None:
        return default
    if sources and key in sources:
        return Path(sources[key])
    raise InvalidSpec(f"{field}: {key!r} is not among the provided sources", field=field)


def read_input(path: Path, field: str) -> bytes:
    """The bytes of a small input (a text layer's PNG), with the field named when it is missing."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputNotFound(f"{field}: {path}: file not found", filename=str(path), field=field) from None
    except IsADirectoryError:
        raise InputNotFound(f"{field}: {path}: a folder, not a file", filename=str(path), field=field,
                            errno_=errno.EISDIR) from None


def given_inputs(src: StrPath, sources: Mapping[str, StrPath] | None) -> list[Path]:
    """Every file an export was handed: ``src`` and the ``sources`` values."""
    return [Path(src), *(Path(p) for p in (sources or {}).values())]


def cancel_stops_remote_reads(export: Export) -> Export:
    """Make ``cancel()`` stop the export's reads of its remote inputs (:class:`~reelgpu.LazyInput`)
    too, not only its frame loop: the probe and the audio read before the first frame, and on
    slow storage those reads alone can take longer than a caller waits for a cancel."""

    @functools.wraps(export)
    def run(src: Any, dst: Any, spec: Any, *, cancel: CancelCheck | None = None, **kwargs: Any) -> Any:
        with cancelled_by(cancel):
            return export(src, dst, spec, cancel=cancel, **kwargs)

    return run  # type: ignore[return-value]


def _entry(path: Path) -> Path:
    """The directory entry a path names: its folder resolved (symlinks, ``..``), its own name
    kept. Publishing replaces that entry (``os.replace``), never a file a link points to."""
    return path.parent.resolve() / path.name


def check_destination(dst: Path, inputs: Iterable[Path], *, folder: bool = False) -> None:
    """Refuse, before any work, an output that would replace an input (``framing a.mp4
    a.mp4`` rendered, then published the reel over the source) or that cannot be a file (an
    existing folder, or a file where a folder of its path should be: both failed only after
    every frame was encoded). ``folder``: ``dst`` is a folder to write into (annotate's clips
    mode). A link to an input is not the input: publishing replaces the link's name only."""
    for parent in dst.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InvalidSpec(f"dst: {dst}: {parent} is a file, not a folder", field="dst")
            break
    if folder:
        if dst.exists() and not dst.is_dir():
            raise InvalidSpec(f"dst: {dst} is a file; clips mode writes into a folder", field="dst")
        return
    if dst.is_dir():
        raise InvalidSpec(f"dst: {dst} is a folder; give the output file's path", field="dst")
    target = _entry(dst)
    for path in inputs:
        if _entry(path) == target:
            raise InvalidSpec(f"dst: {dst} is an input of this export ({path}); the output would replace it",
                              field="dst")


class Probes:
    """Probe each input once and check it against the limits before any decoding."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._cache: dict[Path, MediaInfo] = {}

    def __call__(self, path: Path) -> MediaInfo:
        if path not in self._cache:
            with prefetch_probe(path):  # a remote input's samples fetched a few at once
                info = probe(path)
            check_input_limits(info.width, info.height, info.duration_s, path.name, self._limits)
            self._cache[path] = info
        return self._cache[path]


@dataclass(frozen=True)
class AudioClip:
    """Where one output clip's sound comes from: a source file, its clip-time origin, pieces."""

    path: Path
    has_audio: bool
    origin_s: float
    pieces: Sequence[Piece]


def clip_cut(path: Path, origin_s: float, pieces: Sequence[Piece]) -> tuple[Path, float, float]:
    """The stretch of ``path`` a clip plays (seconds from its video's first frame): what
    :func:`~reelgpu.media.prefetch.prefetch_cuts` fetches ahead of a lazy input's reads."""
    return path, origin_s + min(p.start for p in pieces), origin_s + max(p.end for p in pieces)


STRETCH_CONTEXT_S = 0.1  # audio read on each side of a slowed piece for atempo's windows (~30 ms)
JOIN_SAMPLES = 480  # 10 ms: the cross-fade where a clip's pieces of different speeds meet


def _piece_audio(clip: AudioClip, piece: Piece, tail: int) -> tuple[np.ndarray, int]:
    """One piece's audio at its output speed, followed by ``tail`` samples of what would play
    after its end (for the cross-fade into the next piece); and ``tail``."""
    if not clip.has_audio:
        return silence(piece.out_duration + tail / 48000), tail
    if piece.speed != 1.0:
        # The audio on either side too, for atempo's first and last windows.
        raw = read_audio(clip.path, clip.origin_s + piece.start - STRETCH_CONTEXT_S,
                         clip.origin_s + piece.end + STRETCH_CONTEXT_S)
        return time_stretch(raw, piece.speed, context=int(round(STRETCH_CONTEXT_S * 48000)), tail=tail), tail
    length = int(round((piece.end - piece.start) * 48000))
    return fit_length(read_audio(clip.path, clip.origin_s + piece.start,
                                 clip.origin_s + piece.end + tail / 48000), length + tail), tail


def _join_pieces(chunks: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """The pieces one after the other, each one's tail cross-faded into the next one's first
    samples: a slowed piece's audio does not continue its neighbour's in phase, and the join
    clicked (a tone broke by more than its own amplitude). Lengths and times are unchanged."""
    out: list[np.ndarray] = []
    pending: np.ndarray | None = None
    for samples, tail in chunks:
        body = np.array(samples[:, :samples.shape[1] - tail], np.float32)
        if pending is not None:
            n = min(pending.shape[1], body.shape[1])
            body[:, :n] = pending[:, :n] * ramp(n, rising=False) + body[:, :n] * ramp(n, rising=True)
        out.append(body)
        pending = samples[:, samples.shape[1] - tail:] if tail else None
    return np.concatenate(out, axis=1) if out else silence(0)


def assemble_audio(clips: Sequence[AudioClip], fps: Fraction, transition: str, transition_s: float) -> np.ndarray:
    """Cut, re-time (atempo) and join the clips' audio, each clip locked to its video length.

    Fades mirror the video: ``fade`` ramps out/in at each join, ``dissolve`` cross-fades over
    the overlap. A clip whose source has no audio contributes silence, so sync holds.
    """
    parts: list[np.ndarray] = []
    lengths = clip_lengths([clip.pieces for clip in clips], fps)
    for clip, seconds in zip(clips, lengths):
        chunks = [_piece_audio(clip, p, JOIN_SAMPLES if k + 1 < len(clip.pieces) else 0)
                  for k, p in enumerate(clip.pieces)]
        parts.append(fit_length(_join_pieces(chunks), int(round(seconds * 48000))))
    if len(parts) == 1 or transition == "cut" or transition_s <= 0:
        return np.concatenate(parts, axis=1)
    d = int(round(transition_s * 48000))
    if transition == "fade":
        for i, part in enumerate(parts):
            n = min(d, part.shape[1])
            if i > 0:
                part[:, :n] *= ramp(n, rising=True)
            if i + 1 < len(parts):
                part[:, part.shape[1] - n:] *= ramp(n, rising=False)
        return np.concatenate(parts, axis=1)
    # dissolve: overlap-add with complementary ramps, every join by the video's overlap
    n = int(round(dissolve_overlap(lengths, transition_s) * 48000))
    out = parts[0]
    for part in parts[1:]:
        head = out[:, out.shape[1] - n:] * ramp(n, rising=False) + part[:, :n] * ramp(n, rising=True)
        out = np.concatenate([out[:, :out.shape[1] - n], head, part[:, n:]], axis=1)
    # As long as the video: its overlaps need not be whole frames, and its frame count rounds
    # the total (halves up), so the audio ended up to a frame early (20 ms at 25 fps).
    joined_s = sum(lengths) - (len(lengths) - 1) * dissolve_overlap(lengths, transition_s)
    video_s = frame_count(joined_s, fps) / float(fps)
    return fit_length(out, int(round(video_s * 48000)))


def encoded_audio(samples: np.ndarray, encode: EncodeSettings) -> AudioFeed:
    return EncodedAudio(samples, encode.audio_bitrate_bps)


def audio_parameters_known(info: MediaInfo) -> bool:
    """Whether FFmpeg found the audio's parameters in the header: the MP4 muxer refuses to copy
    packets without them (an M2TS whose audio starts late reads as 0 Hz); decoding reads them."""
    return bool(info.audio_sample_rate)


def can_copy_audio(info: MediaInfo) -> bool:
    """Whether the source's audio packets can go into the output as they are: every output's
    audio is AAC (CONTRACT.md, "Encoding"); MP3, Opus or PCM is decoded and encoded instead,
    and so is AAC whose parameters are not known (:func:`audio_parameters_known`)."""
    return info.audio_codec == "aac" and audio_parameters_known(info)


def whole_source_audio(path: Path, info: MediaInfo, seconds: float, encode: EncodeSettings) -> AudioFeed:
    """The source's audio with its timing unchanged, as long as ``seconds`` of video: copied
    bit-exactly when it is AAC, else encoded to AAC as the video advances (never held whole)."""
    if can_copy_audio(info):
        return PassthroughAudio(path, end_s=seconds)
    return TranscodedAudio(path, seconds, encode.audio_bitrate_bps)


def render_to_mp4(*, dst: Path, frames: Sequence[OutputFrame], clips: Sequence[pipeline.ClipSource],
                  render: pipeline.Render, size: tuple[int, int], fps: Fraction, encode: EncodeSettings,
                  audio: AudioFeed | None, backend: Backend, limits: Limits = DEFAULT_LIMITS,
                  progress: ProgressCallback | None = None, cancel: CancelCheck | None = None,
                  metadata: dict[str, str] | None = None, chapters: list[dict] | None = None,
                  started: float | None = None) -> ExportResult:
    """Run the frame loop into ``dst`` (atomically) and describe what ran."""
    started = started if started is not None else time.perf_counter()
    check_output_size(*size, limits)
    dst.parent.mkdir(parents=True, exist_ok=True)
    writer = backend.make_writer(dst, width=size[0], height=size[1], fps=fps, encode=encode, audio=audio,
                       metadata=metadata, chapters=chapters)
    t0 = time.perf_counter()
    try:
        busy = pipeline.run(frames=frames, clips=clips, open_source=backend.open_source, render=render,
                            sink=writer, progress=progress, cancel=cancel)
        t_mux = time.perf_counter()
        writer.close()
    except BaseException:
        writer.abort()
        raise
    end = time.perf_counter()
    timings = {"prepare": t0 - started, **busy, "finalize": end - t_mux, "total": end - started}
    return ExportResult(
        output=dst, frames=writer.frames, duration_s=writer.frames / float(fps), width=size[0], height=size[1],
        fps=float(fps), backend={**backend.stages, "encode": writer.backend}, timings_s={k: round(v, 4) for k, v in timings.items()},
        has_audio=audio is not None and audio.written,
    )
