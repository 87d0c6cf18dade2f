"""Throughput of the GPU path, stage by stage, against its targets (docs/gpu.md, "Targets").

    python benchmarks/gpu_throughput.py [--device cuda|cpu] [--seconds 10] [--passes 3] [--iters 200]
                                        [--json out.json]

On one generated 1920x1080 30 fps H.264 input (benchlib.sample_video), measures:

* ``kernels``: each op at 1080p into a 1080x1920 reel, ``--iters`` calls after a warm-up,
  timed with CUDA events on the reelgpu stream (target: each < 0.2 ms);
* ``decode``: NVDEC alone (PyNvVideoCodec's own demuxer and decoder, frames fetched, nothing else);
* ``source``: reelgpu's NvdecVideoSource (PyAV demux, NVDEC, the NV12 -> I420 kernel);
* ``framing``: the source plus crop_scale per frame, no encode (target: >= 0.90 x decode);
* ``encode``: the NVENC writer alone, on frames already on the GPU (skipped without NVENC);
* ``pipeline``: ``reelgpu.framing(device=...)`` end to end, file to file: the whole call's rate,
  and its steady rate (fixed costs taken out by the difference with a 1 s export). With NVENC
  the target is steady >= 0.85 x min(decode, encode); without it (A100, H100, H200) this is the
  libx264 fallback, reported beside ``device='cpu'`` on the same machine.

Stage rates count frames from the first one delivered to the last one finished (host wall
clock, device synchronised at the end), summed over ``--passes`` passes, so decoder start-up
is left out of every stage alike.

``--device cpu`` runs the same stages with PyAV, the CPU ops and libx264, timed with the host
clock: the CPU's own numbers, and a check of this script on machines without a GPU
(tests/integration/test_gpu_throughput_script.py runs it so).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import benchlib
import numpy as np
from benchlib import CROP_H, CROP_W, CROP_X, OUT_H, OUT_W, SRC_H, SRC_W

KERNEL_LIMIT_MS = 0.2
FRAMING_VS_DECODE = 0.90
PIPELINE_VS_MIN = 0.85
STATIC_BOX = (float(CROP_X), 0.0, float(CROP_W), float(CROP_H))


# --------------------------------------------------------------------------- the device under test
class Device:
    """What one side (``cuda`` or ``cpu``) runs: ops, frame source, writer, and its clocks."""

    def __init__(self, name: str) -> None:
        self.name = name
        if name == "cuda":
            import cupy

            from reelgpu.ops import cuda

            cuda.warm_up()
            self.xp, self.ops, self.stream = cupy, cuda, cuda.stream()
        else:
            from reelgpu.backends import cpu_backend

            self.xp, self.stream, self.ops = np, None, cpu_backend().ops

    def asarray(self, host: np.ndarray) -> Any:
        """``host`` where the ops run; on the GPU uploaded on the reelgpu stream, in its order."""
        if self.stream is None:
            return host
        with self.ops.backend().using():
            return self.xp.asarray(host)

    def finish(self) -> None:
        """Wait until everything queued so far has run (no-op on the CPU)."""
        if self.stream is not None:
            self.stream.synchronize()

    def time_ms(self, fn: Callable[[], Any], iters: int, warmup: int = 10) -> float:
        """Mean milliseconds per call: CUDA events around ``iters`` calls on the GPU, else the host clock."""
        for _ in range(warmup):
            fn()
        self.finish()
        if self.stream is None:
            t0 = time.perf_counter()
            for _ in range(iters):
                fn()
            return (time.perf_counter() - t0) * 1e3 / iters
        start, end = self.xp.cuda.Event(), self.xp.cuda.Event()
        start.record(self.stream)
        for _ in range(iters):
            fn()
        end.record(self.stream)
        end.synchronize()
        return self.xp.cuda.get_elapsed_time(start, end) / iters

    def source(self, path: Path) -> Any:
        if self.name == "cuda":
            from reelgpu.media.decode_nvdec import NvdecVideoSource

            return NvdecVideoSource(path)
        from reelgpu.media.decode_cpu import PyAVVideoSource

        return PyAVVideoSource(path)

    def writer(self, dst: Path, nvenc: bool) -> Any:
        """The NVENC writer when ``nvenc``, else libx264 (which takes host planes)."""
        from reelgpu.specs import EncodeSettings

        kwargs = {"width": OUT_W, "height": OUT_H, "fps": Fraction(30), "encode": EncodeSettings()}
        if nvenc:
            from reelgpu.media.encode_nvenc import NvencWriter

            return NvencWriter(dst, **kwargs)
        from reelgpu.media.writer import Mp4Writer

        return Mp4Writer(dst, **kwargs)


def pattern_planes(dev: Device, width: int, height: int, shift: int = 0) -> Any:
    """benchlib's moving-detail planes, where ``dev`` runs the ops."""
    from reelgpu.frames import Planes

    return Planes(*(dev.asarray(p) for p in benchlib.pattern_planes(width, height, shift)))


# --------------------------------------------------------------------------- kernels
def kernel_times(dev: Device, iters: int) -> dict[str, float]:
    """Milliseconds per call of each op, as the exports call them."""
    from reelgpu.ops.color import rgba_to_yuva
    from reelgpu.ops.highlight import HighlightDraw

    src, reel, other = pattern_planes(dev, SRC_W, SRC_H), pattern_planes(dev, OUT_W, OUT_H, 1), pattern_planes(dev, OUT_W, OUT_H, 2)
    pan = itertools.count()
    draw = HighlightDraw(cx=540.0, cy=1100.0, rx=140.0, ry=60.0, arc="ground", dim=0.35, fill_opacity=0.15,
                         fill_yuv=(180, 100, 140), stroke_opacity=0.85, stroke_width=4.0, outline_width=6.0,
                         outline_opacity=0.5, stroke_yuv=(180, 100, 140), outline_yuv=(60, 120, 130))
    rgba = np.zeros((240, OUT_W, 4), np.uint8)
    rgba[..., 2], rgba[..., 3] = 200, np.linspace(0, 230, OUT_W, dtype=np.float32).astype(np.uint8)[None, :]
    banner = rgba_to_yuva(rgba, x=0, y=1600)
    if dev.name == "cuda":
        banner = dev.ops.upload_sprite(banner)
    ops: dict[str, Callable[[], Any]] = {
        "crop_scale static 1080p": lambda: dev.ops.crop_scale(src, STATIC_BOX, OUT_W, OUT_H),
        # a new sub-pixel x every call: the tap tables are rebuilt (and uploaded) as in a pan
        "crop_scale pan 1080p": lambda: dev.ops.crop_scale(
            src, (STATIC_BOX[0] + (next(pan) % 4000) * 0.137 - 274.0, *STATIC_BOX[1:]), OUT_W, OUT_H),
        "draw_highlight": lambda: dev.ops.draw_highlight(reel, draw),
        "blend_sprite 1080x240": lambda: dev.ops.blend_sprite(reel, banner, 0.9),
        "dissolve": lambda: dev.ops.dissolve(reel, other, 0.4),
        "fade_to_black": lambda: dev.ops.fade_to_black(reel, 0.6),
    }
    if dev.name == "cuda":
        from reelgpu.ops.cuda import _ops

        b = dev.ops.backend()
        nv12_in = dev.asarray(np.full((SRC_H * 3 // 2, SRC_W), 128, np.uint8))
        nv12_out = dev.asarray(np.zeros((OUT_H * 3 // 2, OUT_W), np.uint8))
        ops["nv12 -> i420 1080p (decode side)"] = lambda: _ops.planes_from_nv12(
            b, nv12_in[:SRC_H], nv12_in[SRC_H:], SRC_W, SRC_H)
        ops["i420 -> nv12 1080x1920 (encode side)"] = lambda: _ops.planes_to_nv12(b, reel, nv12_out)
    return {name: round(dev.time_ms(fn, iters), 4) for name, fn in ops.items()}


# --------------------------------------------------------------------------- stages
def _rate(frames: Iterator[Any], dev: Device, per_frame: Callable[[Any], Any] | None = None) -> tuple[int, float]:
    """(frames after the first, seconds from the first frame to the last one finished)."""
    t0, n = None, 0
    for frame in frames:
        if per_frame is not None:
            per_frame(frame)
        if t0 is None:
            dev.finish()
            t0 = time.perf_counter()
        else:
            n += 1
    dev.finish()
    return n, (time.perf_counter() - t0) if t0 is not None else 0.0


def _raw_nvdec_frames(path: Path) -> Iterator[Any]:
    """NVDEC alone, the way NVIDIA's samples drive it: PyNvVideoCodec's own demuxer into its
    decoder, frames only fetched (its last, empty packet flushes the decoder)."""
    import PyNvVideoCodec as nvc  # noqa: N813 - the package's own name

    demuxer = nvc.CreateDemuxer(str(path))
    # Stream 0, as NvdecVideoSource opens it (media/decode_nvdec.open_nvdec: the copy out of each
    # surface is waited for before the surface is unmapped).
    decoder = nvc.CreateDecoder(gpuid=0, codec=demuxer.GetNvCodecId(), cudacontext=0,
                                cudastream=0, usedevicememory=True)
    for packet in demuxer:
        yield from decoder.Decode(packet)


def _frames_of(source: Any) -> Iterator[Any]:
    try:
        yield from source
    finally:
        source.close()


def stage_rates(dev: Device, src: Path, passes: int) -> dict[str, float]:
    """Frames per second of decode, source and framing (see the module docstring)."""

    def crop(frame: Any) -> None:
        dev.ops.crop_scale(frame.planes, STATIC_BOX, OUT_W, OUT_H)

    stages: dict[str, Callable[[], tuple[int, float]]] = {
        "source": lambda: _rate(_frames_of(dev.source(src)), dev),
        "framing": lambda: _rate(_frames_of(dev.source(src)), dev, crop),
    }
    if dev.name == "cuda":
        stages = {"decode": lambda: _rate(_raw_nvdec_frames(src), dev), **stages}
    totals = {name: [0, 0.0] for name in stages}
    for _ in range(passes):  # interleaved, so drift in clocks or load hits every stage alike
        for name, run in stages.items():
            n, s = run()
            totals[name][0] += n
            totals[name][1] += s
    rates = {name: round(n / s, 1) for name, (n, s) in totals.items() if s > 0}
    if dev.name != "cuda":  # PyAV's decode is the source: there is no separate stage
        rates = {"decode": rates["source"], **rates}
    return rates


def encode_rate(dev: Device, frames: int, nvenc: bool, work: Path) -> float:
    """Frames per second of the writer alone, fed 8 frames of moving detail in turn (open excluded)."""
    pool = [pattern_planes(dev, OUT_W, OUT_H, shift) for shift in range(8)]
    if dev.name == "cuda" and not nvenc:
        from reelgpu.ops.cuda import to_host

        pool = [to_host(p) for p in pool]  # libx264 alone: the host transfer is the fallback's, not the encoder's
    writer = dev.writer(work / "encode.mp4", nvenc)
    try:
        dev.finish()
        t0 = time.perf_counter()
        for i in range(frames):
            writer.write(pool[i % len(pool)])
        writer.close()
        return round(frames / (time.perf_counter() - t0), 1)
    except BaseException:
        writer.abort()
        raise


SHORT_S = 1.0  # the short export whose time stands for the pipeline's fixed costs


def _export_wall(device: str, src: Path, seconds: float, dst: Path) -> tuple[Any, float]:
    """The static framing export of the first ``seconds`` of ``src``, and its wall time."""
    import reelgpu

    spec = {**benchlib.framing_spec("static", seconds), "segment_data": {"trim_start": 0.0, "trim_end": seconds}}
    t0 = time.perf_counter()
    result = reelgpu.framing(src, dst, spec, device=device)
    return result, time.perf_counter() - t0


def pipeline_rate(device: str, src: Path, seconds: float, work: Path) -> dict[str, Any]:
    """``reelgpu.framing`` file to file: ``fps`` over the whole call (probe, sessions, audio, mux,
    publish included) and ``steady_fps``, the rate once running, from the difference with a
    ``SHORT_S`` export of the same input: the stage rates leave start-up out, so the target
    compares like with like."""
    # the full export first: a warmed-up short one makes the fixed costs smaller, not larger,
    # so the steady rate errs low rather than high
    result, wall = _export_wall(device, src, seconds, work / f"pipeline-{device}.mp4")
    short, short_wall = _export_wall(device, src, SHORT_S, work / f"short-{device}.mp4")
    extra_frames, extra_s = result.frames - short.frames, wall - short_wall
    return {"fps": round(result.frames / wall, 1), "frames": result.frames, "wall_s": round(wall, 3),
            "steady_fps": round(extra_frames / extra_s, 1) if extra_frames > 0 and extra_s > 0 else None,
            "fixed_s": round(short_wall - short.frames * extra_s / extra_frames, 3) if extra_frames > 0 else None,
            "backend": dict(result.backend)}


# --------------------------------------------------------------------------- report
def _ratio(value: float | None, bound: float | None) -> float | None:
    return round(value / bound, 3) if value and bound else None


def targets(dev: Device, report: dict[str, Any], nvenc: bool) -> list[dict[str, Any]]:
    """Each target of docs/gpu.md with its measured value (None, with ``why``, where a stage saw
    no frames); CPU runs carry none (the targets are the GPU path's)."""
    if dev.name != "cuda":
        return []
    rates, out = report["fps"], []
    for name, ms in report["kernels_ms"].items():
        out.append({"target": f"{name} < {KERNEL_LIMIT_MS} ms", "value": ms, "met": ms < KERNEL_LIMIT_MS})

    def verdict(target: str, value: float | None, limit: float, why: str) -> dict[str, Any]:
        met = None if value is None else value >= limit
        return {"target": target, "value": value, "met": met, **({"why": why} if value is None else {})}

    out.append(verdict(f"decode + framing kernels >= {FRAMING_VS_DECODE:.2f} x NVDEC decode-only",
                       _ratio(rates.get("framing"), rates.get("decode")), FRAMING_VS_DECODE,
                       "a stage delivered no frames (see fps)"))
    name = f"full pipeline >= {PIPELINE_VS_MIN:.2f} x min(NVDEC, NVENC)"
    if not nvenc:
        out.append({"target": name, "value": None, "met": None,
                    "why": f"no NVENC on this GPU ({report['gpu']}): NVENC remains unverified"})
        return out
    bound = min(rates.get("decode") or 0.0, rates.get("encode") or 0.0)
    steady = report["pipeline"]["cuda"].get("steady_fps")
    out.append(verdict(name, _ratio(steady, bound), PIPELINE_VS_MIN, "no steady pipeline rate or stage rate"))
    return out


def kernels_only_reason(caps: Any) -> str | None:
    """Why only the kernels can be timed here (CuPy and NVRTC work, NVDEC does not: no
    ``video`` driver capability, PyNvVideoCodec missing...), or None when everything can."""
    reason = benchlib.gpu_skip_reason()
    return reason if reason and caps.cupy and caps.nvrtc else None


def run(device: str, seconds: float, passes: int, iters: int, kernels_only: str | None = None) -> dict[str, Any]:
    """Every stage; with ``kernels_only`` (the reason), the kernel timings alone."""
    from reelgpu import capabilities

    caps = capabilities()
    nvenc = device == "cuda" and bool(caps.can_encode_gpu)
    dev = Device(device)
    report: dict[str, Any] = {"device": device, "gpu": caps.gpu, "driver": caps.driver, "nvenc": nvenc,
                              "passes": passes, "iters": iters,
                              "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print(f"kernels ({iters} calls each) ...", flush=True)
    report["kernels_ms"] = kernel_times(dev, iters)  # synthetic planes: no input file needed
    if kernels_only:
        report.update(input=None, fps={}, pipeline={}, stages_skipped=kernels_only, machine=benchlib.machine_info())
        report["targets"] = [t if t["value"] is not None or t["met"] is not None else {**t, "why": kernels_only}
                             for t in targets(dev, report, False)]
        return report
    src = benchlib.sample_video(fps=30, seconds=seconds)
    benchlib.warm_page_cache(src)
    report["input"] = f"{src.name} ({SRC_W}x{SRC_H}, {seconds:g} s)"
    print("decode / source / framing ...", flush=True)
    report["fps"] = stage_rates(dev, src, passes)
    with tempfile.TemporaryDirectory(prefix="reelgpu-gpu-throughput-") as tmp:
        print("encode ...", flush=True)
        report["fps"]["encode"] = encode_rate(dev, int(seconds * 30), nvenc, Path(tmp))
        report["fps"]["encode_backend"] = "nvenc" if nvenc else "libx264"
        print("pipeline ...", flush=True)
        report["pipeline"] = {device: pipeline_rate(device, src, seconds, Path(tmp))}
        if device == "cuda":  # the CPU path on the same machine, for the side-by-side ratio
            report["pipeline"]["cpu"] = pipeline_rate("cpu", src, seconds, Path(tmp))
            report["pipeline"]["cuda_vs_cpu"] = round(report["pipeline"]["cuda"]["fps"] / report["pipeline"]["cpu"]["fps"], 2)
    report["targets"] = targets(dev, report, nvenc)
    report["machine"] = benchlib.machine_info()
    return report


def print_report(report: dict[str, Any]) -> None:
    print(f"\n{report['device']} on {report['gpu'] or 'no GPU'}; input {report['input']}")
    for name, ms in report["kernels_ms"].items():
        print(f"  {name:<40} {ms:8.4f} ms")
    for name, fps in report["fps"].items():
        print(f"  {name:<40} {fps!s:>8} fps" if name != "encode_backend" else f"  {'encoder':<40} {fps:>8}")
    for name, p in report["pipeline"].items():
        print(f"  pipeline {name:<31} {p!s:>8}" if not isinstance(p, dict) else
              f"  pipeline {name:<31} {p['fps']:8.1f} fps  ({p['backend']})")
    for t in report["targets"]:
        verdict = {True: "met", False: "MISSED", None: "not measured"}[t["met"]]
        print(f"  target {t['target']:<60} {t['value']!s:>8}  {verdict}  {t.get('why', '')}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--seconds", type=float, default=10.0, help="input length (default 10)")
    ap.add_argument("--passes", type=int, default=3, help="passes over the input per stage (default 3)")
    ap.add_argument("--iters", type=int, default=200, help="calls per kernel timing (default 200)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    kernels_only = None
    if args.device == "cuda" and (reason := benchlib.gpu_skip_reason()):
        from reelgpu import capabilities

        kernels_only = kernels_only_reason(capabilities())
        if kernels_only is None:
            print(f"cannot measure the GPU path here: {reason}", file=sys.stderr)
            return 2
        print(f"timing the kernels only; the stages cannot run here: {reason}", file=sys.stderr)
    report = run(args.device, args.seconds, max(1, args.passes), max(1, args.iters), kernels_only)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
