"""Shared helpers of the benchmark suites and scripts (not a test module, not a package).

- generated input media, cached under ``.benchmarks/media`` (gitignored);
- the specs every suite measures (framing: static crop, linear pan; overlay; annotate) and the
  matching ffmpeg filter strings and commands, so reelgpu and its peers always do the same work;
- running one measured job in a child process (wall time, CPU time and peak RSS from
  ``os.wait4``), with the child side in :func:`child_main`;
- a description of the machine and of the library files measured.

The folder is deliberately not a package: PyNvVideoCodec installs a top-level ``benchmarks``
package into site-packages. Scripts here import this module as ``benchlib`` (their own
folder is ``sys.path[0]``); ``conftest.py`` puts the folder on ``sys.path`` itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:  # scripts run as `python benchmarks/x.py` import the checkout
    sys.path.insert(1, str(REPO))

FFMPEG = os.environ.get("REELGPU_BENCH_FFMPEG", shutil.which("ffmpeg") or "/usr/bin/ffmpeg")

# Source media: 1920x1080 H.264 High profile (B-frames, CABAC, like camera footage) + AAC.
SRC_W, SRC_H = 1920, 1080
SRC_PRESET, SRC_CRF = "veryfast", 18
# The framing job every suite measures: a 608x1080 (9:16) box of the 1080p source, upscaled
# to a 1080x1920 reel. 656 = (1920 - 608) / 2: the centred box.
CROP_W, CROP_H, CROP_X = 608, 1080, 656
OUT_W, OUT_H = 1080, 1920
PAN_X_END = SRC_W - CROP_W  # the pan sweeps the box from the left edge to the right edge
# reelgpu's default x264 settings (reelgpu.specs.EncodeSettings + media.writer.Mp4Writer).
X264_PRESET, X264_CRF = "fast", 18


def media_dir() -> Path:
    path = Path(os.environ.get("REELGPU_BENCH_MEDIA", REPO / ".benchmarks" / "media"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def results_dir() -> Path:
    path = REPO / ".benchmarks" / "results"
    path.mkdir(parents=True, exist_ok=True)
    return path


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def bench_seconds() -> float:
    """Input duration for the suites: REELGPU_BENCH_SECONDS (default 10; 60 for a full run)."""
    return env_float("REELGPU_BENCH_SECONDS", 10.0)


# --------------------------------------------------------------------------- media
def sample_video(*, fps: int, seconds: float, width: int = SRC_W, height: int = SRC_H) -> Path:
    """A generated H.264 + AAC sample (reelgpu.media.samples), made once and cached by name."""
    from reelgpu.media.samples import make_sample_video

    dst = media_dir() / f"sample_{width}x{height}_{fps}fps_{seconds:g}s_{SRC_PRESET}_crf{SRC_CRF}.mp4"
    if not dst.exists():
        with tempfile.TemporaryDirectory(dir=dst.parent) as tmp:  # publish complete files only
            part = make_sample_video(Path(tmp) / dst.name, width=width, height=height, fps=fps, seconds=seconds,
                                     preset=SRC_PRESET, crf=SRC_CRF)
            os.replace(part, dst)
    return dst


def looped_video(base: Path, seconds: float) -> Path:
    """``base`` repeated to ``seconds`` by the ffmpeg CLI (stream copy, timestamps continue).

    Generating frames in Python costs ~0.16 s per 1080p frame; a 10-minute input is made from
    a shorter generated one without re-encoding, so long and short inputs have the same
    content per second.
    """
    dst = base.with_name(f"{base.stem}_looped_{seconds:g}s.mp4")
    if not dst.exists():
        tmp = dst.with_name(f".{dst.name}.partial.mp4")
        subprocess.run([FFMPEG, "-nostdin", "-hide_banner", "-v", "error", "-y", "-stream_loop", "-1",
                        "-i", str(base), "-t", f"{seconds:g}", "-c", "copy", "-movflags", "+faststart",
                        str(tmp)], check=True)
        os.replace(tmp, dst)
    return dst


def reel_video(src: Path, seconds: float) -> Path:
    """The static-crop reel of ``src`` (1080x1920, audio copied), rendered once by the ffmpeg CLI:
    the input of the no-ops baseline that encodes the same picture content as framing does."""
    dst = src.with_name(f"{src.stem}_reel_{OUT_W}x{OUT_H}.mp4")
    if not dst.exists():
        tmp = dst.with_name(f".{dst.name}.partial.mp4")
        subprocess.run(ffmpeg_cmd(src, tmp, ffmpeg_filter("static", seconds)), check=True)
        os.replace(tmp, dst)
    return dst


def raw_reel(src: Path, seconds: float, by: str) -> Path:
    """The static-crop reel of ``src`` as raw I420 frames (1080x1920, no audio), resampled by
    ``by``: ``"reelgpu"`` (``crop_scale``, the call framing makes for this box) or ``"ffmpeg"``
    (the CLI's ``crop,scale``). The input of the pixel-cost diagnostic: one encoder, the same
    frames, only the resampled pixels differ. ~93 MB per second of 30 fps input, cached."""
    if by not in ("reelgpu", "ffmpeg"):
        raise ValueError(f"by must be 'reelgpu' or 'ffmpeg', got {by!r}")
    dst = src.with_name(f"{src.stem}_reel_{OUT_W}x{OUT_H}_{by}.yuv")
    if dst.exists():
        return dst
    tmp = dst.with_name(f".{dst.name}.partial")
    if by == "ffmpeg":
        subprocess.run([FFMPEG, "-nostdin", "-hide_banner", "-v", "error", "-y", "-i", str(src), "-vf",
                        ffmpeg_filter("static", seconds), "-pix_fmt", "yuv420p", "-f", "rawvideo", str(tmp)],
                       check=True)
    else:
        from reelgpu.media.decode_cpu import PyAVVideoSource
        from reelgpu.ops.crop_scale import crop_scale

        source = PyAVVideoSource(src)
        try:
            with open(tmp, "wb") as f:
                for frame in source:
                    for plane in crop_scale(frame.planes, (CROP_X, 0, CROP_W, CROP_H), OUT_W, OUT_H):
                        f.write(plane.tobytes())
        finally:
            source.close()
    os.replace(tmp, dst)
    return dst


def raw_input_options(fps: float) -> list[str]:
    """ffmpeg CLI input options that read a :func:`raw_reel` file."""
    return ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{OUT_W}x{OUT_H}", "-r", f"{fps:g}"]


def warm_page_cache(path: Path) -> None:
    """Read the file once so the first measured run does not pay for the disk."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


# --------------------------------------------------------------------------- synthetic frames
def pattern_planes(width: int, height: int, shift: int = 0) -> Any:
    """I420 numpy planes with moving detail like the sample videos (``shift`` moves it). The ops'
    cost does not depend on the values; an encoder spends on them what it spends on real
    footage, where noise would make libx264 crawl."""
    import numpy as np

    from reelgpu.frames import Planes

    yy, xx = np.mgrid[0:height, 0:width]
    y = (60 + (xx + yy + 7 * shift) % 160 + 20 * (((xx + shift) // 8 + yy // 8) % 2)).astype(np.uint8)
    u = np.full((height // 2, width // 2), 110 + shift % 8, np.uint8)
    v = np.full((height // 2, width // 2), 150 - shift % 8, np.uint8)
    return Planes(y, u, v)


# --------------------------------------------------------------------------- jobs
def framing_spec(kind: str, duration_s: float) -> dict[str, Any]:
    """``static``: the centred box all along; ``pan``: x moves linearly 0 -> PAN_X_END over the clip."""
    box = {"y": 0, "width": CROP_W, "height": CROP_H}
    if kind == "static":
        keys = [{"time": 0, "x": CROP_X, **box}]
    elif kind == "pan":
        keys = [{"time": 0, "x": 0, **box}, {"time": duration_s, "x": PAN_X_END, **box}]
    else:
        raise ValueError(f"framing kind must be 'static' or 'pan', got {kind!r}")
    return {"target_width": OUT_W, "target_height": OUT_H, "interpolation": "linear", "keyframes": keys}


def overlay_spec(seconds: float) -> dict[str, Any]:
    """One highlight region following the sample's marker (reelgpu.media.samples.marker_position)
    for the whole clip, dim + stroke, in the contract's field names."""
    keys = [{"time": t, "x": SRC_W * (0.2 + 0.6 * ((t * 0.25) % 1.0)), "y": SRC_H / 2, "radiusX": 90, "radiusY": 90}
            for t in [i * 0.5 for i in range(int(seconds * 2) + 1)]]
    region = {"id": 1, "start_time": 0, "end_time": seconds, "video_width": SRC_W, "video_height": SRC_H,
              "keyframes": keys}
    return {"highlight_regions": [region]}


ANNOTATE_CLIPS = 4  # clips cut from the input, evenly spread, each a fifth of it


def annotate_spec(seconds: float) -> dict[str, Any]:
    """A compilation of :data:`ANNOTATE_CLIPS` clips spread over the input (each a fifth of its
    length, starting at 0.1 s past a whole fraction: not on a keyframe), every one with a
    banner of a different rating, with notes."""
    length = seconds / 5
    clips = [{"start_time": round(k * seconds / ANNOTATE_CLIPS + 0.1, 3),
              "end_time": round(k * seconds / ANNOTATE_CLIPS + 0.1 + length, 3),
              "name": f"Play {k + 1}", "rating": 1 + k % 5, "notes": "through ball, first touch, finish"}
             for k in range(ANNOTATE_CLIPS)]
    return {"clips": clips}


def annotate_banners(src: Path, seconds: float, folder: Path) -> list[tuple[Path, int, int]]:
    """Each clip's banner for ``src``'s frame size, rendered by reelgpu's own renderer, as an
    RGBA PNG with its place in the frame: the ffmpeg peer overlays exactly the pixels reelgpu
    blends (rendered here, outside the peer's timing; reelgpu renders its own inside the
    export: ~10 ms each)."""
    from PIL import Image

    from reelgpu.media.probe import probe
    from reelgpu.render.banner import display_title, render_banner

    info = probe(src)

    out = []
    for k, clip in enumerate(annotate_spec(seconds)["clips"]):
        sprite = render_banner(title=display_title(clip["name"], clip["rating"], [], k), notes=clip["notes"],
                               rating=clip["rating"], frame_w=info.width, frame_h=info.height)
        path = folder / f"banner{k}.png"
        Image.fromarray(sprite.rgba, "RGBA").save(path)
        out.append((path, sprite.x, sprite.y))
    return out


def ffmpeg_annotate_cmd(src: Path, dst: Path, seconds: float, banners: list[tuple[Path, int, int]]) -> list[str]:
    """The ffmpeg CLI doing annotate's work: each clip an accurate input seek (``-ss``/``-to``
    before ``-i``: decoded from the keyframe before it, frames before the start dropped), its
    banner overlaid, the clips joined by the concat filter; reelgpu's encoder settings and AAC
    at 192 kbit/s, ``+faststart``. No chapters or sidecar JSON (reelgpu writes both)."""
    cmd = [FFMPEG, "-nostdin", "-hide_banner", "-v", "error", "-y"]
    clips = annotate_spec(seconds)["clips"]
    for clip in clips:
        cmd += ["-ss", str(clip["start_time"]), "-to", str(clip["end_time"]), "-i", str(src)]
    for png, _, _ in banners:
        cmd += ["-i", str(png)]
    n = len(clips)
    graph = [f"[{k}:v][{n + k}:v]overlay={x}:{y}:format=auto,format=yuv420p[v{k}]"
             for k, (_, x, y) in enumerate(banners)]
    graph.append("".join(f"[v{k}][{k}:a]" for k in range(n)) + f"concat=n={n}:v=1:a=1[v][a]")
    return cmd + ["-filter_complex", ";".join(graph), "-map", "[v]", "-map", "[a]",
                  "-c:v", "libx264", "-preset", X264_PRESET, "-crf", str(X264_CRF), "-pix_fmt", "yuv420p",
                  "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv",
                  "-c:a", "aac", "-b:a", "192k", "-ar", "48000", "-movflags", "+faststart", str(dst)]


def ffmpeg_filter(kind: str, duration_s: float) -> str:
    """The ffmpeg CLI filter doing the same crop/scale as :func:`framing_spec` (``t`` in seconds).

    ffmpeg's crop filter truncates x to whole (even) pixels; reelgpu pans in sub-pixel steps.
    """
    scale = f"scale={OUT_W}:{OUT_H}:flags=bicubic"
    if kind == "static":
        return f"crop={CROP_W}:{CROP_H}:{CROP_X}:0,{scale}"
    if kind == "pan":
        return f"crop=w={CROP_W}:h={CROP_H}:x='{PAN_X_END}*t/{duration_s:g}':y=0,{scale}"
    raise ValueError(f"framing kind must be 'static' or 'pan', got {kind!r}")


def ffmpeg_cmd(src: Path, dst: Path, vf: str | None, input_options: list[str] | None = None) -> list[str]:
    """ffmpeg CLI with reelgpu's encoder settings: libx264 fast crf 18, BT.709 tags, audio copy, faststart."""
    cmd = [FFMPEG, "-nostdin", "-hide_banner", "-v", "error", "-y", *(input_options or []), "-i", str(src)]
    if vf:
        cmd += ["-vf", vf]
    return cmd + ["-c:v", "libx264", "-preset", X264_PRESET, "-crf", str(X264_CRF), "-pix_fmt", "yuv420p",
                  "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv",
                  "-c:a", "copy", "-movflags", "+faststart", str(dst)]


def reelgpu_cmd(job: dict[str, Any]) -> list[str]:
    """Command line running ``job`` in a fresh interpreter (see :func:`child_main`)."""
    return [sys.executable, str(HERE / "benchlib.py"), json.dumps(job)]


# --------------------------------------------------------------------------- measuring
@dataclass
class Measurement:
    label: str
    wall_s: float  # child process, start to exit (includes interpreter start for Python jobs)
    cpu_s: float  # user + sys of the child and its threads
    maxrss_mb: float  # peak resident set of the child (wait4 rusage, KiB -> MiB)
    rc: int
    load_before: float  # 1-minute load average when the run started (others share the machine)
    frames: int | None = None
    inner: dict[str, Any] = field(default_factory=dict)  # what the child reported (reelgpu timings)
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure(label: str, cmd: list[str], *, env: dict[str, str] | None = None,
            rss_every_s: float = 0.0) -> Measurement:
    """Run ``cmd`` to completion; wall clock here, CPU time and peak RSS from ``os.wait4``.

    ``rss_every_s`` > 0 also samples the child's resident set (``/proc/PID/status`` VmRSS)
    on a thread, into ``inner["rss_samples_mb"]`` as (seconds since start, MiB) pairs.
    """
    load = os.getloadavg()[0]
    samples: list[tuple[float, float]] = []
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE if _is_child(cmd) else subprocess.DEVNULL,
                                stderr=err, env={**os.environ, **(env or {})})
        done = threading.Event()
        sampler = threading.Thread(target=_sample_rss, args=(proc.pid, rss_every_s, t0, samples, done), daemon=True)
        if rss_every_s > 0:
            sampler.start()
        out = proc.stdout.read() if proc.stdout else b""
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        done.set()
        if rss_every_s > 0:
            sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    inner: dict[str, Any] = {}
    if out.strip():
        inner = json.loads(out.decode().strip().splitlines()[-1])
    if samples:
        inner["rss_samples_mb"] = samples
    return Measurement(label=label, wall_s=wall, cpu_s=usage.ru_utime + usage.ru_stime,
                       maxrss_mb=usage.ru_maxrss / 1024.0, rc=proc.returncode, load_before=load,
                       frames=inner.get("frames"), inner=inner,
                       error="" if proc.returncode == 0 else stderr[-2000:])


def _sample_rss(pid: int, every_s: float, t0: float, into: list[tuple[float, float]],
                done: threading.Event) -> None:
    status = Path(f"/proc/{pid}/status")
    while not done.wait(every_s):
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    into.append((round(time.perf_counter() - t0, 2), round(int(line.split()[1]) / 1024.0, 1)))
        except (OSError, ValueError):  # exited (or a zombie) between two samples
            return


def _is_child(cmd: list[str]) -> bool:
    return len(cmd) > 1 and cmd[1] == str(HERE / "benchlib.py")


def median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else 0.5 * (ordered[n // 2 - 1] + ordered[n // 2])


# --------------------------------------------------------------------------- describing
def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "nproc": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)), "cpu_model": cpu,
        "machine": platform.machine(), "python": platform.python_version(),
        "mem_total_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "blas_env": {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
                     if k in os.environ},
    }
    try:
        import av
        import numpy

        info["pyav"], info["numpy"] = av.__version__, numpy.__version__
        info["pyav_ffmpeg"] = av.library_versions.get("libavcodec")
    except ImportError:
        pass
    try:
        first = subprocess.run([FFMPEG, "-version"], capture_output=True, text=True, check=False).stdout
        info["ffmpeg_cli"] = first.splitlines()[0] if first else "missing"
    except OSError:
        info["ffmpeg_cli"] = "missing"
    return info


def library_fingerprint() -> dict[str, str]:
    """Short hashes of the library files on the hot path: others edit them while we measure."""
    files = ["reelgpu/ops/crop_scale.py", "reelgpu/ops/resample.py", "reelgpu/ops/_resample.c",
             "reelgpu/ops/highlight.py", "reelgpu/ops/lut.py", "reelgpu/pipeline.py", "reelgpu/timeline.py",
             "reelgpu/media/writer.py", "reelgpu/media/decode_cpu.py", "reelgpu/exports/framing.py",
             "reelgpu/exports/overlay.py"]
    out = {}
    for name in files:
        path = REPO / name
        out[name] = hashlib.sha1(path.read_bytes()).hexdigest()[:10] if path.exists() else "missing"
    return out


def gpu_skip_reason() -> str | None:
    """None when reelgpu can run device='cuda' here, else why not (probe runs in a subprocess)."""
    from reelgpu.device import backends_for
    from reelgpu.errors import BackendUnavailable

    try:
        backends_for("cuda")
    except BackendUnavailable as exc:
        return str(exc)
    return None


def stage_medians(runs: list[dict[str, float]]) -> dict[str, float]:
    keys = sorted({k for r in runs for k in r})
    return {k: round(median([r[k] for r in runs if k in r]), 3) for k in keys}


# --------------------------------------------------------------------------- child side
def _what_if(job: dict[str, Any]) -> None:
    """Diagnostic variants (never the default): patch the library in this child only, to
    measure a choice against its alternative in the same run: a proposed fix before anyone
    applies it, or an adopted one reverted (x264 sliced threads, FFmpeg's decoder threads)."""
    for name in job.get("what_if", []):
        if name in ("x264-sliced-threads", "x264-frame-threads-2"):
            from reelgpu.media import writer

            original = writer.Mp4Writer.__init__

            def patched(self: Any, *args: Any, original: Any = original, name: str = name, **kwargs: Any) -> None:
                original(self, *args, **kwargs)  # the codec opens at the first frame: still settable
                if name == "x264-sliced-threads":
                    self._stream.thread_type = "SLICE"  # PyAV's default; reelgpu's before 2026-12-02
                else:
                    self._stream.thread_count = 2  # frame threads, 2 instead of x264's auto (1.5 x cores)

            writer.Mp4Writer.__init__ = patched  # type: ignore[method-assign]
        elif name == "decoder-auto-threads":
            from reelgpu.media import decode_cpu

            original_source = decode_cpu.PyAVVideoSource.__init__

            def patched_source(self: Any, *args: Any, original: Any = original_source, **kwargs: Any) -> None:
                original(self, *args, **kwargs)
                self._stream.thread_count = 0  # FFmpeg's auto: cores + 1 frame threads
                self._stream.thread_type = "AUTO"

            decode_cpu.PyAVVideoSource.__init__ = patched_source  # type: ignore[method-assign]
        else:
            raise ValueError(f"unknown what_if {name!r}")


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job in this process; return what it did (frames, timings)."""
    _what_if(job)
    kind, src, dst = job["kind"], Path(job["src"]), Path(job["dst"])
    t0 = time.perf_counter()
    if kind in ("framing-static", "framing-pan"):
        import reelgpu

        spec = framing_spec(kind.split("-", 1)[1], job["duration_s"])
        result = reelgpu.framing(src, dst, spec, device=job.get("device", "cpu"))
        out = {"frames": result.frames, "timings_s": result.timings_s, "backend": result.backend}
    elif kind == "overlay":
        import reelgpu

        result = reelgpu.overlay(src, dst, overlay_spec(job["duration_s"]), device=job.get("device", "cpu"))
        out = {"frames": result.frames, "timings_s": result.timings_s, "backend": result.backend}
    elif kind == "annotate":
        import reelgpu

        result = reelgpu.annotate(src, dst, annotate_spec(job["duration_s"]), device=job.get("device", "cpu"))
        out = {"frames": result.frames, "timings_s": result.timings_s, "backend": result.backend}
    elif kind == "decode-encode":
        out = _decode_encode(src, dst)
    else:
        raise ValueError(f"unknown job kind {kind!r}")
    out["export_s"] = time.perf_counter() - t0
    out["maxrss_mb_self"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return out


def _decode_encode(src: Path, dst: Path) -> dict[str, Any]:
    """The no-ops baseline: decode ``src`` with reelgpu's PyAVVideoSource and encode every
    decoded frame as is with reelgpu's Mp4Writer at its default settings, audio packets copied.
    One plain loop. peers.py feeds it the 1920x1080 source (the same 2,073,600 pixels per frame
    as a 1080x1920 reel) and the pre-rendered 1080x1920 reel (the same pixels AND picture
    content as framing encodes)."""
    from reelgpu.media.audio_feed import PassthroughAudio
    from reelgpu.media.decode_cpu import PyAVVideoSource
    from reelgpu.media.probe import probe
    from reelgpu.media.writer import Mp4Writer
    from reelgpu.specs import EncodeSettings

    info = probe(src)
    source = PyAVVideoSource(src)
    writer = Mp4Writer(dst, width=info.width, height=info.height, fps=info.fps, encode=EncodeSettings(),
                       audio=PassthroughAudio(src) if info.has_audio else None)
    busy = {"decode": 0.0, "encode": 0.0}
    try:
        frames = iter(source)
        while True:
            t = time.perf_counter()
            frame = next(frames, None)
            busy["decode"] += time.perf_counter() - t
            if frame is None:
                break
            t = time.perf_counter()
            writer.write(frame.planes)
            busy["encode"] += time.perf_counter() - t
        t = time.perf_counter()
        writer.close()
        busy["finalize"] = time.perf_counter() - t
    except BaseException:
        writer.abort()
        raise
    finally:
        source.close()
    return {"frames": writer.frames, "timings_s": {k: round(v, 4) for k, v in busy.items()}}


def child_main(argv: list[str]) -> int:
    print(json.dumps(run_job(json.loads(argv[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
