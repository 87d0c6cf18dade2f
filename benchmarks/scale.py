"""Does an export scale linearly with the input length, with flat memory?

    python benchmarks/scale.py [--short 60] [--long 600] [--base 60] [--fps 30] [--repeat 1] [--json out.json]
                               [--what-if x264-sliced-threads]

Runs the framing export (static 608x1080 box -> 1080x1920, CPU, libx264 fast crf 18, audio
copied) on a ``--short`` and a ``--long`` 1920x1080 input, each in a fresh process, short and
long interleaved. Reports the wall time of each, their ratio (ideal: long / short), and the
peak RSS of each process (``os.wait4`` rusage), with the resident set sampled every second
to show whether it stays flat.

The inputs are a ``--base``-second generated sample (reelgpu.media.samples) repeated by the
ffmpeg CLI with stream copy, so both have the same content per second. The full run (1 vs 10
minutes) takes about an hour on 2 cores; ``--short 10 --long 100 --base 10`` is the quick one.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--short", type=float, default=60.0, help="short input, seconds (default 60)")
    ap.add_argument("--long", type=float, default=600.0, help="long input, seconds (default 600)")
    ap.add_argument("--base", type=float, default=None, help="generated sample length (default: --short)")
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=1, help="runs per length (default 1)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--what-if", action="append", default=[], metavar="NAME",
                    help="diagnostic variant patched into the child (benchlib._what_if), e.g. x264-sliced-threads or decoder-auto-threads")
    args = ap.parse_args(argv)
    base_s = args.base or args.short

    print(f"inputs: {base_s:g} s generated sample, looped to {args.short:g} s and {args.long:g} s ...", flush=True)
    base = benchlib.sample_video(fps=args.fps, seconds=base_s)
    inputs = {"short": base if args.short == base_s else benchlib.looped_video(base, args.short),
              "long": benchlib.looped_video(base, args.long)}
    seconds = {"short": args.short, "long": args.long}
    for path in inputs.values():
        benchlib.warm_page_cache(path)
    machine = benchlib.machine_info()
    library = benchlib.library_fingerprint()
    runs: dict[str, list[benchlib.Measurement]] = {"short": [], "long": []}
    with tempfile.TemporaryDirectory(prefix="reelgpu-scale-") as tmp:
        for k in range(args.repeat):
            for which in (("short", "long") if k % 2 == 0 else ("long", "short")):
                dst = Path(tmp) / f"{which}.mp4"
                job = {"kind": "framing-static", "src": str(inputs[which]), "dst": str(dst),
                       "duration_s": seconds[which], "device": "cpu", "what_if": args.what_if}
                m = benchlib.measure(f"framing static {seconds[which]:g} s", benchlib.reelgpu_cmd(job), rss_every_s=1.0)
                dst.unlink(missing_ok=True)
                runs[which].append(m)
                if m.rc:
                    print(f"  {which}: FAILED rc={m.rc}\n{m.error}", file=sys.stderr)
                    return 1
                print(f"  [{k + 1}/{args.repeat}] {which:<5} {seconds[which]:>6g} s input: wall {m.wall_s:8.1f} s, "
                      f"export {m.inner['export_s']:8.1f} s, {m.frames} frames, cpu {m.cpu_s:8.1f} s, "
                      f"peak RSS {m.maxrss_mb:6.0f} MB (load {m.load_before:.1f})", flush=True)

    summary = summarise(runs, seconds)
    print_summary(summary)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "inputs": {k: str(v) for k, v in inputs.items()}, "seconds": seconds, "fps": args.fps,
            "base_s": base_s, "repeat": args.repeat, "what_if": args.what_if, "machine": machine, "library": library,
            "library_changed_during_run": library != benchlib.library_fingerprint(),
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "summary": summary,
            "runs": {k: [m.to_dict() for m in v] for k, v in runs.items()}}, indent=1))
        print(f"wrote {args.json}")
    return 0


def summarise(runs: dict[str, list[benchlib.Measurement]], seconds: dict[str, float]) -> dict[str, Any]:
    med = benchlib.median
    out: dict[str, Any] = {"ideal_ratio": seconds["long"] / seconds["short"]}
    for which, ms in runs.items():
        wall = med([m.wall_s for m in ms])
        export = med([m.inner["export_s"] for m in ms])
        frames = ms[-1].frames or 0
        rss = [mb for m in ms for _, mb in m.inner.get("rss_samples_mb", [])]
        out[which] = {
            "input_s": seconds[which], "frames": frames, "wall_s": round(wall, 2), "export_s": round(export, 2),
            "cpu_s": round(med([m.cpu_s for m in ms]), 1), "ms_per_frame": round(1000 * export / frames, 2),
            "fps": round(frames / export, 2), "peak_rss_mb": round(max(m.maxrss_mb for m in ms), 1),
            "rss_sampled_mb": {"min": min(rss), "median": med(rss), "max": max(rss)} if rss else None,
            "stages_median_s": benchlib.stage_medians([m.inner["timings_s"] for m in ms]),
        }
    out["ratio_wall"] = round(out["long"]["wall_s"] / out["short"]["wall_s"], 3)
    out["ratio_export"] = round(out["long"]["export_s"] / out["short"]["export_s"], 3)
    out["ratio_cpu"] = round(out["long"]["cpu_s"] / out["short"]["cpu_s"], 3)
    return out


def print_summary(s: dict[str, Any]) -> None:
    print(f"\n{'input':>8} {'frames':>7} {'wall s':>8} {'export s':>9} {'cpu s':>8} {'ms/frame':>9} {'fps':>6} "
          f"{'peak RSS MB':>12} {'RSS sampled min/med/max MB':>28}")
    for which in ("short", "long"):
        r = s[which]
        sampled = r["rss_sampled_mb"]
        rss = f"{sampled['min']:.0f} / {sampled['median']:.0f} / {sampled['max']:.0f}" if sampled else "-"
        print(f"{r['input_s']:>7g}s {r['frames']:>7} {r['wall_s']:>8.1f} {r['export_s']:>9.1f} {r['cpu_s']:>8.1f} "
              f"{r['ms_per_frame']:>9.2f} {r['fps']:>6.1f} {r['peak_rss_mb']:>12.0f} {rss:>28}")
    print(f"ratio long/short: wall {s['ratio_wall']:.2f}, export {s['ratio_export']:.2f}, cpu {s['ratio_cpu']:.2f} "
          f"(ideal {s['ideal_ratio']:g}; target: within 10 +- 1 for 10x the length)")


if __name__ == "__main__":
    sys.exit(main())
