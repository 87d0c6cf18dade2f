"""What an export wrote, mapped to output keys and checked before anything is published."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import reelgpu

from .errors import JobError
from .keys import resolve_key
from .plan import Plan
from .storage import content_type_for

Outputs = dict[str, tuple[Path, str]]  # user-relative key -> (local file, Content-Type)


def local_output_name(plan: Plan) -> str:
    """The export's ``dst`` name: the key's last segment, plus ``.mp4`` when it lacks one, since
    the container format follows the file extension (clips mode: a folder, used as is)."""
    name = plan.envelope.output_key.rsplit("/", 1)[-1]
    if not plan.clips_mode and not name.lower().endswith(".mp4"):
        name += ".mp4"
    return name


def output_files(result: Any, out_dir: Path) -> list[Path]:
    """The files behind ``result.output`` and ``result.extra_outputs`` (folders expanded), all of
    which must lie in our output folder: anything else would be published from elsewhere."""
    files: list[Path] = []
    main = Path(result.output)
    if main.is_file():
        files.append(main)
    elif main.is_dir():
        files.extend(sorted(p for p in main.rglob("*") if p.is_file()))
    for extra in result.extra_outputs or []:
        extra = Path(extra)
        if extra.is_dir():
            files.extend(sorted(p for p in extra.rglob("*") if p.is_file()))
        elif extra.is_file():
            files.append(extra)
    unique = list(dict.fromkeys(p.resolve() for p in files))
    for path in unique:
        if not path.is_relative_to(out_dir.resolve()):
            raise JobError("INTERNAL", "the export wrote an output outside its output folder")
    return unique


def verify_video(path: Path) -> None:
    """Never publish what the editor cannot play: frames, a duration, and moov before mdat."""
    try:
        info = reelgpu.probe(path)
    except Exception as exc:
        raise JobError("INTERNAL", f"output verification failed: the file does not probe "
                                   f"({type(exc).__name__})") from None
    problems = []
    if not (info.frame_count or 0) > 0:
        problems.append("no video frames")
    if not (info.duration_s or 0) > 0:
        problems.append("zero duration")
    if not info.faststart:
        problems.append("moov atom after mdat (not faststart)")
    if problems:
        raise JobError("INTERNAL", f"output verification failed: {', '.join(problems)}")


def name_sidecar_sources(result: Any, names: dict[Path, str]) -> None:
    """The annotate sidecar names each clip's video as the library was given it: a scratch
    path for the job's main input (``in/00.mp4``, meaningless to the reader). Rewrite those to
    the storage keys they were downloaded from, before publishing."""
    by_path = {str(path): key for path, key in names.items()}
    for extra in result.extra_outputs or []:
        extra = Path(extra)
        if extra.suffix != ".json" or not extra.is_file():
            continue
        data = json.loads(extra.read_text(encoding="utf-8"))
        clips = data.get("clips") if isinstance(data, dict) else None
        if not isinstance(clips, list):
            continue
        for clip in clips:
            if isinstance(clip, dict) and clip.get("source") in by_path:
                clip["source"] = by_path[clip["source"]]
        extra.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")


def write_manifest(path: Path, keys: list[str], plan: Plan) -> None:
    """Clips mode without a library sidecar: list what was published, as the completion marker."""
    path.write_text(json.dumps({"job_id": plan.envelope.job_id, "outputs": keys}, indent=2), encoding="utf-8")


def collect_outputs(plan: Plan, result: Any, out_dir: Path, dst: Path) -> Outputs:
    """Every file the export wrote, as user-relative key -> (path, Content-Type), checked.

    Files map to keys by their place beside ``dst``: ``<dst>.json`` becomes
    ``<output_key>.json``, ``<dst>/x.mp4`` becomes ``<output_key>/x.mp4``."""
    env = plan.envelope
    files = output_files(result, out_dir)
    if not files and not plan.clips_mode:  # clips mode: possibly no clip reached min_rating
        raise JobError("INTERNAL", "the export produced no output file")
    out_base, _, basename = env.output_key.rpartition("/")
    out_base = out_base + "/" if out_base else ""
    keyed: dict[str, Path] = {}
    for path in files:
        rel = path.relative_to(out_dir.resolve()).as_posix()
        if rel.startswith(dst.name):  # the local name may carry an added ".mp4"
            rel = basename + rel[len(dst.name):]
        keyed[out_base + rel] = path
    if plan.marker_key not in keyed:
        if not plan.clips_mode:
            raise JobError("INTERNAL", "the export did not write its main output")
        manifest = out_dir / (dst.name + ".json")
        write_manifest(manifest, sorted(keyed), plan)
        keyed[plan.marker_key] = manifest.resolve()
    outputs: Outputs = {}
    for key, path in keyed.items():
        resolve_key(key, env.user_id, "output", write=True)  # library-chosen names obey the rules too
        # The main output is a video whatever its key's extension; the rest go by extension.
        ctype = "video/mp4" if (key == env.output_key and not plan.clips_mode) else content_type_for(key)
        if ctype == "video/mp4":
            verify_video(path)
        outputs[key] = (path, ctype)
    return outputs
