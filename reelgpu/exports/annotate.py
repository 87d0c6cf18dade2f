"""The annotate export: clips cut from full game footage, each with a rating banner, joined
into one compilation with chapters and a sidecar JSON; or each good clip as its own file."""

from __future__ import annotations

import contextlib
import json
import re
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..backends import Backend, fit_to_inputs, retry_on_cpu, select_backend
from ..device import Device
from ..errors import InvalidSpec
from ..frames import Planes
from ..limits import DEFAULT_LIMITS, Limits, check_output_length, check_output_size, check_spec_limits
from ..media.atomic import published
from ..media.decode_cpu import DecodedFrame
from ..media.prefetch import prefetch_cuts
from ..media.probe import MediaInfo
from ..ops.color import rgba_to_yuva
from ..ops.sprite import YUVASprite
from ..pipeline import ClipSource
from ..render.banner import display_name, display_title, render_banner
from ..result import CancelCheck, ExportResult, ProgressCallback, StrPath
from ..specs import AnnotateClip, AnnotateSpec, parse_spec
from ..timeline import OutputFrame, Pick, Piece, frame_count, schedule
from ._common import (
    AudioClip,
    Probes,
    assemble_audio,
    cancel_stops_remote_reads,
    check_destination,
    clip_cut,
    encoded_audio,
    given_inputs,
    render_to_mp4,
    resolve_source,
)


@dataclass(frozen=True)
class CutPlan:
    index: int
    clip: AnnotateClip
    path: Path
    info: MediaInfo
    name: str  # display name (chapter title, sidecar)
    pieces: list[Piece] = field(default_factory=list)
    source: str = ""  # the video as the caller named it: its input_keys key, or src as given


def _plan_cuts(spec: AnnotateSpec, src: Path, sources: Mapping[str, StrPath] | None,
               probes: Probes) -> list[CutPlan]:
    """Resolve and check every clip against its video before any decoding; errors name the clip."""
    plans = []
    for i, clip in enumerate(spec.clips):
        where = f"params.clips[{i}]"
        path, source = src, str(src)
        if clip.video_sequence is not None and spec.input_keys is not None:
            key = spec.input_keys.get(str(clip.video_sequence))
            if key is None:
                raise InvalidSpec(f"{where}.video_sequence: {clip.video_sequence!r} is not in params.input_keys "
                                  f"({sorted(spec.input_keys)})", field=f"{where}.video_sequence")
            path = resolve_source(key, src, sources, f"params.input_keys[{clip.video_sequence!r}]")
            source = key
        info = probes(path)
        tolerance = 1.0 / float(info.fps)
        # Past the end by more than a frame, or starting where the video has ended: nothing of
        # the range is in the video (clamping its end would leave an empty clip).
        if clip.end_time > info.duration_s + tolerance or clip.start_time >= info.duration_s:
            raise InvalidSpec(f"{where}: range {clip.start_time}-{clip.end_time} s is beyond the end of "
                              f"{path.name} ({info.duration_s:.3f} s)", field=where)
        end = min(clip.end_time, info.duration_s)
        plans.append(CutPlan(i, clip, path, info, display_name(clip.name, clip.rating, clip.tags, i),
                             [Piece(0.0, end - clip.start_time, 1.0)], source))
    return plans


def _sidecar(plans: list[CutPlan], fps: Fraction) -> list[dict[str, Any]]:
    entries, cursor = [], 0.0
    for p in plans:
        length = frame_count(p.pieces[0].out_duration, fps) / float(fps)
        entries.append({"index": p.index, "id": p.clip.id, "name": p.name, "rating": p.clip.rating,
                        "tags": list(p.clip.tags), "notes": p.clip.notes, "video_sequence": p.clip.video_sequence,
                        "source": p.source, "source_start": p.clip.start_time, "source_end": p.clip.end_time,
                        "start": round(cursor, 6), "end": round(cursor + length, 6)})
        cursor += length
    return entries


def _sidecar_path(dst: Path) -> Path:
    return dst.with_name(dst.name + ".json")


def _json_bytes(data: Any) -> bytes:
    """UTF-8 JSON, not the locale's encoding. A lone surrogate (a file name that is not UTF-8,
    as Python decodes it) is written as JSON's own escape, ``"\\udcff"``: UTF-8 cannot encode
    it, and the sidecar failed after the whole render."""
    return json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8", "backslashreplace")


def _write_atomic(path: Path, data: bytes) -> None:
    with published(path) as tmp:
        tmp.write_bytes(data)


# Latin letters that Unicode does not decompose into a base letter and an accent.
_LATIN_LETTERS = str.maketrans({"ß": "ss", "Ø": "O", "ø": "o", "Ł": "L", "ł": "l", "Æ": "AE", "æ": "ae",
                                "Œ": "OE", "œ": "oe", "Đ": "D", "đ": "d", "Ð": "D", "ð": "d", "Þ": "Th",
                                "þ": "th", "ı": "i"})


def _slug(text: str) -> str:
    """A file-name part from a display name: ASCII letters and digits, accents dropped rather
    than the letter ("Ödegaard" is "Odegaard", "Ødegaard" too, not "degaard"), other runs as
    one "_"."""
    plain = unicodedata.normalize("NFKD", text.translate(_LATIN_LETTERS))
    ascii_text = plain.encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9]+", "_", ascii_text).strip("_")[:40] or "clip"


@retry_on_cpu
@cancel_stops_remote_reads
def annotate(src: StrPath, dst: StrPath, spec: AnnotateSpec | Mapping[str, Any], *, device: Device = "auto",
             progress: ProgressCallback | None = None, cancel: CancelCheck | None = None,
             sources: Mapping[str, StrPath] | None = None, limits: Limits | None = None) -> ExportResult:
    """Cut the spec's clips from the game video ``src`` (and the ``input_keys`` videos, found in
    ``sources``), each with its rating banner burned in (docs/annotate.md).

    ``compilation`` mode writes one MP4 at ``dst`` (a chapter per clip) plus ``<dst>.json`` (each
    clip's place in it); ``clips`` mode treats ``dst`` as a folder and writes one MP4 per clip
    rated at least ``min_rating`` (``result.extra_outputs``; ``result.output`` is the folder).
    ``spec``: a dict (``reelgpu schema annotate``) or an :class:`~reelgpu.specs.AnnotateSpec`.
    ``device``, ``progress(done, total)``, ``cancel()`` and ``limits`` work as in
    :func:`reelgpu.framing`; every clip is checked against its video before any decoding, and
    errors name the clip (``params.clips[2]``). Returns an :class:`~reelgpu.ExportResult`.
    """
    started = time.perf_counter()
    limits = limits or DEFAULT_LIMITS
    spec = parse_spec("annotate", spec)
    check_spec_limits(spec, limits)
    inputs = given_inputs(src, sources)
    if spec.mode == "clips":
        check_destination(Path(dst), inputs, folder=True)  # and each clip's file, once named
    else:
        for output in (Path(dst), _sidecar_path(Path(dst))):
            check_destination(output, inputs)
    backend = select_backend(device)  # fails here, before any work, if the device cannot run
    plans = _plan_cuts(spec, Path(src), sources, Probes(limits))
    # What will be rendered (every clip of a compilation at the first video's rate; in clips mode
    # the chosen clips at their own rates), bounded before any banner or schedule is built.
    compiled = spec.mode == "compilation"
    rendered = _rendered(plans, spec)
    total_s = sum(p.pieces[0].out_duration for p in rendered)
    frames = sum(p.pieces[0].out_duration * float(plans[0].info.fps if compiled else p.info.fps) for p in rendered)
    check_output_length(total_s, frames, "params.clips", limits)
    for size in {p.info.picture_size for p in (rendered if not compiled else plans[:1])}:
        check_output_size(*size, limits)  # clips mode: every clip at its own size, before the first renders
    backend = fit_to_inputs(backend, device, [p.info for p in plans])
    if spec.mode == "clips":
        return _export_clips(plans, Path(dst), spec, backend, progress, cancel, limits, started, inputs)
    return _export_compilation(plans, Path(dst), spec, backend, progress, cancel, limits, started)


def _rendered(plans: list[CutPlan], spec: AnnotateSpec) -> list[CutPlan]:
    """The clips an export renders: all of them in a compilation, those rated at least
    ``min_rating`` in clips mode."""
    if spec.mode == "compilation":
        return plans
    return [p for p in plans if p.clip.rating >= spec.min_rating]


def _frame_geometry(plans: list[CutPlan]) -> tuple[int, int, Fraction]:
    """Native resolution and rate of the first clip's video (even sizes for 4:2:0)."""
    first = plans[0].info
    return (*first.picture_size, first.fps)


def _render_cut(size: tuple[int, int], banners: list[YUVASprite | None], backend: Backend):
    out_w, out_h = size
    ops = backend.ops
    banners = [None if b is None else ops.prepare_sprite(b) for b in banners]  # uploaded once

    def render(of: OutputFrame, chosen: list[tuple[Pick, DecodedFrame]]) -> Planes:
        pick, frame = chosen[0]
        src = frame.planes
        if (src.width, src.height) == (out_w, out_h):
            planes = ops.copy_planes(src)  # never draw on the decoder's buffers
        else:  # a second video of another size is scaled to the compilation's size
            planes = ops.crop_scale(src, (0.0, 0.0, float(src.width), float(src.height)), out_w, out_h)
        banner = banners[pick.clip]
        if banner is not None:
            ops.blend_sprite(planes, banner)
        return planes

    return render


def _export_compilation(plans: list[CutPlan], dst: Path, spec: AnnotateSpec, backend: Backend,
                        progress: ProgressCallback | None, cancel: CancelCheck | None, limits: Limits,
                        started: float) -> ExportResult:
    out_w, out_h, fps = _frame_geometry(plans)
    banners: list[YUVASprite | None] = []
    for p in plans:  # rasterised once per clip, before any decoding
        rendered = render_banner(title=display_title(p.clip.name, p.clip.rating, p.clip.tags, p.index),
                                 notes=p.clip.notes, rating=p.clip.rating, frame_w=out_w, frame_h=out_h)
        banners.append(rgba_to_yuva(rendered.rgba, x=rendered.x, y=rendered.y))
    frames = schedule([p.pieces for p in plans], fps)
    sidecar = _sidecar(plans, fps)
    sidecar_json = _json_bytes({"clips": sidecar, "meta": spec.meta})  # before the render, not after it
    chapters = [{"id": i, "start": round(e["start"] * 1000), "end": round(e["end"] * 1000),
                 "time_base": Fraction(1, 1000), "metadata": {"title": e["name"]}} for i, e in enumerate(sidecar)]
    with prefetch_cuts([clip_cut(p.path, p.clip.start_time, p.pieces) for p in plans]):  # inputs read by range only
        audio = None
        if spec.include_audio and any(p.info.has_audio for p in plans):
            clips = [AudioClip(p.path, p.info.has_audio, p.clip.start_time, p.pieces) for p in plans]
            audio = encoded_audio(assemble_audio(clips, fps, "cut", 0.0), spec.encode)
        result = render_to_mp4(dst=dst, frames=frames,
                               clips=[ClipSource(p.path, p.clip.start_time, p.info.rotation) for p in plans],
                               render=_render_cut((out_w, out_h), banners, backend), size=(out_w, out_h), fps=fps,
                               encode=spec.encode, audio=audio, backend=backend, limits=limits, progress=progress,
                               cancel=cancel, chapters=chapters, started=started)
    sidecar_path = _sidecar_path(dst)
    try:
        _write_atomic(sidecar_path, sidecar_json)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            dst.unlink()  # the pair is published together or not at all
        raise
    result.extra_outputs = [sidecar_path]
    result.meta = spec.meta
    return result


def _export_clips(plans: list[CutPlan], dst: Path, spec: AnnotateSpec, backend: Backend,
                  progress: ProgressCallback | None, cancel: CancelCheck | None, limits: Limits,
                  started: float, inputs: list[Path]) -> ExportResult:
    """One MP4 per clip rated >= min_rating under ``dst/``, with title/description metadata."""
    chosen = _rendered(plans, spec)
    names = {p.index: dst / f"clip_{p.index:03d}_{_slug(p.name)}.mp4" for p in chosen}
    for path in names.values():
        check_destination(path, inputs)
    created = not dst.exists()
    dst.mkdir(parents=True, exist_ok=True)
    total = sum(frame_count(p.pieces[0].out_duration, p.info.fps) for p in chosen)
    done_before = 0
    outputs: list[Path] = []
    results: list[ExportResult] = []
    try:
        with prefetch_cuts([clip_cut(p.path, p.clip.start_time, p.pieces) for p in chosen]):
            for p in chosen:
                (out_w, out_h), fps = p.info.picture_size, p.info.fps
                frames = schedule([p.pieces], fps)
                audio = None
                if spec.include_audio and p.info.has_audio:
                    clip_audio = [AudioClip(p.path, True, p.clip.start_time, p.pieces)]
                    audio = encoded_audio(assemble_audio(clip_audio, fps, "cut", 0), spec.encode)
                offset = done_before
                results.append(render_to_mp4(
                    dst=names[p.index], frames=frames,
                    clips=[ClipSource(p.path, p.clip.start_time, p.info.rotation)],
                    render=_render_cut((out_w, out_h), [None], backend),
                    size=(out_w, out_h), fps=fps, encode=spec.encode, audio=audio, backend=backend, limits=limits,
                    progress=(lambda d, _t, o=offset: progress(o + d, total)) if progress else None, cancel=cancel,
                    metadata={"title": p.name, "description": p.clip.notes, "comment": f"rating {p.clip.rating}"}))
                outputs.append(results[-1].output)
                done_before += results[-1].frames
    except BaseException:
        for path in outputs:  # all or nothing
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        if created:  # nor the folder made for them (left alone if something else was put in it)
            with contextlib.suppress(OSError):
                dst.rmdir()
        raise
    frames_total = sum(r.frames for r in results)
    first = results[0] if results else None
    # Each stage's time summed over the clips' files, as one export reports it.
    timings = {stage: round(sum(r.timings_s.get(stage, 0.0) for r in results), 4)
               for stage in dict.fromkeys(k for r in results for k in r.timings_s)}
    timings["total"] = round(time.perf_counter() - started, 4)
    return ExportResult(output=dst, frames=frames_total, duration_s=sum(r.duration_s for r in results),
                        width=first.width if first else 0, height=first.height if first else 0,
                        fps=first.fps if first else 0.0, backend=first.backend if first else {},
                        timings_s=timings, has_audio=any(r.has_audio for r in results), extra_outputs=outputs,
                        meta=spec.meta)
