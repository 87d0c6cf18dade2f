"""reelgpu against its peers, side by side in one run, on the same generated input.

    python benchmarks/peers.py [--seconds 10] [--fps 30] [--repeat 3] [--json out.json]
                               [--only static,pan,ops,overlay,annotate,gpu] [--what-if]

Comparisons (every row is a fresh process, wall clock from spawn to exit; the rows of one
comparison are interleaved, rotating the order each repeat: AB BA AB ...):

  static   reelgpu framing, static 608x1080 box -> 1080x1920  vs  ffmpeg CLI
           ``crop=608:1080:656:0,scale=1080:1920:flags=bicubic``
  pan      reelgpu framing, x moving linearly 0 -> 1312 (linear keyframes)  vs  ffmpeg CLI
           ``crop=w=608:h=1080:x='1312*t/T':y=0,scale=...`` (ffmpeg: whole pixels; reelgpu: sub-pixel)
  ops      reelgpu framing (static)  vs  the no-ops baseline: reelgpu's own PyAVVideoSource +
           Mp4Writer in a plain loop, every decoded frame encoded as is, same settings, audio
           copied. Its input is the 1080x1920 reel of the same crop, rendered once beforehand
           by the ffmpeg CLI, so the encoder gets the same pixels and the same picture content
           as framing gives it: the difference is what the ops (and the pipeline) add.
           Reference rows: the same loop on the 1920x1080 source (same pixel count, different
           content: cheaper to encode) and the ffmpeg CLI decode+encode of the source.
  overlay  reelgpu overlay  vs  the same baseline (skipped when reelgpu has no overlay export)
  annotate reelgpu annotate (4 clips, each a fifth of the input, banners, chapters, sidecar)
           vs  the ffmpeg CLI: one accurate ``-ss/-to`` input per clip, the same banner
           pixels (rendered by reelgpu beforehand) overlaid, concat filter, AAC 192k
  gpu      device='cuda' rows (skipped with the reason when this machine cannot run them)

Every encoder runs reelgpu's defaults: libx264 preset fast, crf 18, yuv420p, BT.709 tags,
audio packets copied, ``+faststart`` (x264 frame threads, auto count: the CLI's own settings).
``--what-if`` adds diagnostics:

  encoder  decode+encode of the pre-rendered reel: reelgpu's writer (and with x264 sliced
           threads, PyAV's default) vs the ffmpeg CLI
  what-if  static framing with one of reelgpu's choices reverted in the child process only
           (x264 sliced threads; FFmpeg's auto decoder threads)
  pixels   one ffmpeg CLI encoding the raw I420 reel resampled by reelgpu and by its own
           crop,scale: what the contract's pixels cost the encoder (~93 MB of raw frames per
           input second and resampler, cached next to the input)
Benchmarks report; they never assert on timings.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import benchlib


@dataclass
class Row:
    label: str
    kind: str  # reelgpu job kind, or "ffmpeg"
    vf: str | None = None  # ffmpeg filter
    env: dict[str, str] = field(default_factory=dict)
    what_if: list[str] = field(default_factory=list)
    device: str = "cpu"
    reel_input: bool = False  # read the pre-rendered 1080x1920 reel instead of the source
    raw: str | None = None  # ffmpeg rows: encode the raw I420 reel resampled by "reelgpu" or "ffmpeg"
    annotate: bool = False  # ffmpeg rows: annotate's work (benchlib.ffmpeg_annotate_cmd)


@dataclass
class Comparison:
    name: str
    title: str
    rows: list[Row]
    peer: str  # label of the row the others are divided by
    target: str = ""
    skipped: str | None = None


def comparisons(seconds: float, what_if: bool) -> list[Comparison]:
    fw = benchlib.ffmpeg_filter
    static = Row("reelgpu framing static", "framing-static")
    pan = Row("reelgpu framing pan", "framing-pan")
    baseline = Row("reelgpu decode+encode (no ops)", "decode-encode")
    reel_baseline = Row("reelgpu decode+encode of the reel (no ops)", "decode-encode", reel_input=True)
    out = [
        Comparison("static", "(a) static crop: reelgpu vs ffmpeg CLI",
                   [static, Row("ffmpeg CLI crop,scale", "ffmpeg", fw("static", seconds))],
                   peer="ffmpeg CLI crop,scale", target="reelgpu <= 1.00x ffmpeg"),
        Comparison("pan", "(b) pan: reelgpu vs ffmpeg CLI (time-expression crop)",
                   [pan, Row("ffmpeg CLI crop(t),scale", "ffmpeg", fw("pan", seconds))],
                   peer="ffmpeg CLI crop(t),scale", target="reelgpu <= 1.05x ffmpeg"),
        Comparison("ops", "(c) cost of the ops: framing vs plain decode+encode",
                   [static, reel_baseline, baseline, Row("ffmpeg CLI decode+encode (no filter)", "ffmpeg", None)],
                   peer=reel_baseline.label, target="framing <= 1.15x decode+encode of the reel"),
    ]
    overlay = Comparison("overlay", "(d) cost of the ops: overlay vs plain decode+encode",
                         [Row("reelgpu overlay", "overlay"), baseline], peer=baseline.label,
                         target="overlay <= 1.15x decode+encode")
    if importlib.util.find_spec("reelgpu.exports.overlay") is None:
        overlay.skipped = "reelgpu.overlay is not implemented in this checkout (no reelgpu/exports/overlay.py)"
    out.append(overlay)
    out.append(Comparison("annotate", "(f) annotate: reelgpu vs ffmpeg CLI (seek, overlay, concat)",
                          [Row("reelgpu annotate", "annotate"), Row("ffmpeg CLI annotate", "ffmpeg", annotate=True)],
                          peer="ffmpeg CLI annotate"))
    gpu = Comparison("gpu", "(e) GPU: reelgpu device='cuda' vs CPU",
                     [Row("reelgpu framing static (cuda)", "framing-static", device="cuda"), static],
                     peer=static.label)
    gpu.skipped = benchlib.gpu_skip_reason()
    out.append(gpu)
    if what_if:
        sliced, dec_auto = ["x264-sliced-threads"], ["decoder-auto-threads"]
        out.append(Comparison(
            "encoder", "(diagnostic) encoder alone: decode+encode of the reel, reelgpu vs CLI",
            [reel_baseline,
             Row("+ x264 sliced threads (PyAV's default)", "decode-encode", reel_input=True, what_if=sliced),
             Row("ffmpeg CLI decode+encode of the reel", "ffmpeg", None, reel_input=True)],
            peer="ffmpeg CLI decode+encode of the reel"))
        out.append(Comparison(
            "what-if", "(diagnostic) static crop with one choice reverted in the child only",
            [static, Row("+ x264 sliced threads (PyAV's default)", "framing-static", what_if=sliced),
             Row("+ decoder auto threads (FFmpeg's default)", "framing-static", what_if=dec_auto),
             Row("ffmpeg CLI crop,scale", "ffmpeg", fw("static", seconds))],
            peer="ffmpeg CLI crop,scale"))
        out.append(Comparison(
            "pixels", "(diagnostic) cost of the pixels: one ffmpeg CLI encoding each resampler's raw reel",
            [Row("ffmpeg CLI encode of reelgpu's pixels", "ffmpeg", None, raw="reelgpu"),
             Row("ffmpeg CLI encode of its own crop,scale pixels", "ffmpeg", None, raw="ffmpeg")],
            peer="ffmpeg CLI encode of its own crop,scale pixels"))
    return out


def run_row(row: Row, src: Path, seconds: float, fps: int, work: Path) -> benchlib.Measurement:
    dst = work / f"{row.kind}.mp4"
    if row.reel_input:
        src = benchlib.reel_video(src, seconds)
    if row.raw:
        raw = benchlib.raw_reel(src, seconds, row.raw)
        m = benchlib.measure(row.label, benchlib.ffmpeg_cmd(raw, dst, None, benchlib.raw_input_options(fps)),
                             env=row.env)
    elif row.annotate:
        banners = benchlib.annotate_banners(src, seconds, work)
        m = benchlib.measure(row.label, benchlib.ffmpeg_annotate_cmd(src, dst, seconds, banners), env=row.env)
    elif row.kind == "ffmpeg":
        m = benchlib.measure(row.label, benchlib.ffmpeg_cmd(src, dst, row.vf), env=row.env)
    else:
        job = {"kind": row.kind, "src": str(src), "dst": str(dst), "duration_s": seconds, "device": row.device,
               "what_if": row.what_if}
        m = benchlib.measure(row.label, benchlib.reelgpu_cmd(job), env=row.env)
    if m.rc == 0:
        from reelgpu.media.probe import probe

        info = probe(dst)
        m.frames = info.frame_count
        m.inner["out_bytes"] = dst.stat().st_size
        m.inner["out_size"] = f"{info.width}x{info.height}"
    dst.unlink(missing_ok=True)
    dst.with_name(dst.name + ".json").unlink(missing_ok=True)  # annotate's sidecar
    return m


def run_comparison(comp: Comparison, src: Path, seconds: float, fps: int, repeat: int,
                   work: Path) -> dict[str, Any]:
    runs: dict[str, list[benchlib.Measurement]] = {r.label: [] for r in comp.rows}
    n = len(comp.rows)
    for k in range(repeat):
        order = comp.rows[k % n:] + comp.rows[:k % n]  # rotate: AB BA AB ... / ABC BCA CAB ...
        for row in order:
            m = run_row(row, src, seconds, fps, work)
            runs[row.label].append(m)
            status = f"{m.wall_s:7.2f} s  cpu {m.cpu_s:6.1f} s  rss {m.maxrss_mb:6.0f} MB  load {m.load_before:4.1f}"
            print(f"  [{k + 1}/{repeat}] {row.label:<44} {status}" if m.rc == 0 else
                  f"  [{k + 1}/{repeat}] {row.label:<44} FAILED rc={m.rc}: {m.error[-300:]}", flush=True)
    return summarise(comp, runs)


def summarise(comp: Comparison, runs: dict[str, list[benchlib.Measurement]]) -> dict[str, Any]:
    med = benchlib.median
    peer_runs = [m for m in runs[comp.peer] if m.rc == 0]
    peer_med = med([m.wall_s for m in peer_runs]) if peer_runs else None
    rows = []
    for label, ms in runs.items():
        ok = [m for m in ms if m.rc == 0]
        if not ok:
            rows.append({"label": label, "failed": ms[-1].error if ms else "not run"})
            continue
        wall = med([m.wall_s for m in ok])
        frames = ok[-1].frames or 0
        paired = [m.wall_s / p.wall_s for m, p in zip(ms, runs[comp.peer]) if m.rc == 0 and p.rc == 0]
        inner_stages = [m.inner["timings_s"] for m in ok if "timings_s" in m.inner]
        rows.append({
            "label": label, "runs": len(ok), "wall_s_median": round(wall, 3),
            "wall_s_all": [round(m.wall_s, 3) for m in ok], "fps": round(frames / wall, 2) if wall else None,
            "frames": frames, "cpu_s_median": round(med([m.cpu_s for m in ok]), 2),
            "maxrss_mb_max": round(max(m.maxrss_mb for m in ok), 1),
            "ratio_to_peer": round(wall / peer_med, 3) if peer_med else None,
            "paired_ratio_median": round(med(paired), 3) if paired else None,
            "export_s_median": round(med([m.inner["export_s"] for m in ok]), 3) if "export_s" in ok[0].inner else None,
            "stages_median_s": benchlib.stage_medians(inner_stages) if inner_stages else None,
            "out_bytes": ok[-1].inner.get("out_bytes"), "out_size": ok[-1].inner.get("out_size"),
            "load_before": [round(m.load_before, 2) for m in ok],
        })
    return {"name": comp.name, "title": comp.title, "peer": comp.peer, "target": comp.target, "rows": rows}


def print_table(summary: dict[str, Any]) -> None:
    print(f"\n{summary['title']}   (ratio = median wall / median wall of '{summary['peer']}')")
    if summary.get("skipped"):
        print(f"  skipped: {summary['skipped']}")
        return
    print(f"  {'row':<44} {'median s':>9} {'fps':>7} {'cpu s':>7} {'RSS MB':>7} {'ratio':>6} {'paired':>7}")
    for r in summary["rows"]:
        if "failed" in r:
            print(f"  {r['label']:<44} FAILED: {r['failed'][-200:]}")
            continue
        print(f"  {r['label']:<44} {r['wall_s_median']:>9.2f} {r['fps']:>7.1f} {r['cpu_s_median']:>7.1f} "
              f"{r['maxrss_mb_max']:>7.0f} {r['ratio_to_peer']:>6.2f} {r['paired_ratio_median']:>7.2f}")
        if r.get("stages_median_s"):
            stages = "  ".join(f"{k} {v:.2f}" for k, v in r["stages_median_s"].items())
            print(f"  {'':<44} stages (busy s): {stages}")
    if summary.get("target"):
        print(f"  target: {summary['target']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=benchlib.bench_seconds(), help="input duration (default 10)")
    ap.add_argument("--fps", type=int, default=30, help="input frame rate (default 30)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per row (default 3)")
    ap.add_argument("--json", type=Path, help="write every measurement and the summary here")
    ap.add_argument("--only", default="static,pan,ops,overlay,annotate,gpu", help="comma-separated comparisons to run")
    ap.add_argument("--what-if", action="store_true",
                    help="add diagnostics: reelgpu's choices reverted one at a time, the encoder alone, the pixels' cost")
    args = ap.parse_args(argv)
    if not shutil.which(benchlib.FFMPEG):
        print(f"ffmpeg CLI not found ({benchlib.FFMPEG}); set REELGPU_BENCH_FFMPEG", file=sys.stderr)
        return 2

    wanted = set(args.only.split(",")) | ({"encoder", "what-if", "pixels"} if args.what_if else set())
    print(f"generating / reusing the input ({args.seconds:g} s 1920x1080 {args.fps} fps H.264 + AAC) ...", flush=True)
    src = benchlib.sample_video(fps=args.fps, seconds=args.seconds)
    benchlib.warm_page_cache(src)
    if wanted & {"ops", "encoder"}:
        benchlib.warm_page_cache(benchlib.reel_video(src, args.seconds))
    if "pixels" in wanted:
        for by in ("reelgpu", "ffmpeg"):
            benchlib.warm_page_cache(benchlib.raw_reel(src, args.seconds, by))
    machine = benchlib.machine_info()
    print(f"input: {src}\nmachine: {machine['nproc']} CPUs, {machine['cpu_model']}; {machine['ffmpeg_cli']}")
    started = time.time()
    library_before = benchlib.library_fingerprint()
    summaries = []
    with tempfile.TemporaryDirectory(prefix="reelgpu-peers-") as tmp:
        for comp in comparisons(args.seconds, args.what_if):
            if comp.name not in wanted:
                continue
            print(f"\n{comp.title}", flush=True)
            if comp.skipped:
                summary = {"name": comp.name, "title": comp.title, "peer": comp.peer, "target": comp.target,
                           "skipped": comp.skipped, "rows": []}
            else:
                summary = run_comparison(comp, src, args.seconds, args.fps, args.repeat, Path(tmp))
            summaries.append(summary)
    print("\n" + "=" * 100)
    for s in summaries:
        print_table(s)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "input": {"path": str(src), "seconds": args.seconds, "fps": args.fps, "size": "1920x1080"},
            "repeat": args.repeat, "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
            "elapsed_s": round(time.time() - started, 1), "machine": machine,
            "library": library_before, "library_changed_during_run": library_before != benchlib.library_fingerprint(),
            "comparisons": summaries}, indent=2))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
