"""Range reads vs whole downloads: an annotate job through the handler, storage on a network model.

    python benchmarks/range_reads.py [--game 600] [--mbps 8] [--clips 4] [--clip 2]
                                     [--latency-ms 50] [--bandwidth 100] [--repeat 2] [--json out.json]

A ``--game``-second 1920x1080 30 fps H.264 + AAC recording at about ``--mbps`` Mbit/s (10 s of
noisy test pattern made by the ffmpeg CLI, looped by stream copy) is the job's input. The same
annotate job (``--clips`` clips of ``--clip`` s, spread over the game, x264 ultrafast) runs
through ``handler.job.run`` twice per round: once downloading the game
(``REELGPU_RANGE_READ_MIN_MIB`` above its size) and once reading it by range (the default),
the order alternating between rounds.

Storage is a local folder behind a network model: every request waits ``--latency-ms`` and its
bytes take their share of a ``--bandwidth`` MB/s link (a download is one request for the whole
object, as if its parallel parts filled the link). moto's S3 server is no model of a real
bucket here: its ranged GET costs grow with the object (112 ms for 1 MiB of a 119 MB object,
11 ms of a 2 MB one, on the 2-core machine of docs/benchmarks.md), which real stores do not do.
The bytes read are exact; the seconds are the model's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import benchlib

from handler import job as hjob
from handler.settings import MiB, Settings
from handler.storage import LocalStorage

USER = "bench/users/u1"


def noisy_game(seconds: float, mbps: float) -> Path:
    """10 s of 1080p30 test pattern with grain at ``mbps`` (the ffmpeg CLI), looped to ``seconds``."""
    base = benchlib.media_dir() / f"noisy_1080p30_10s_{mbps:g}mbps.mp4"
    if not base.exists():
        part = base.with_name(f".{base.name}.partial.mp4")
        subprocess.run([benchlib.FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                        "testsrc2=size=1920x1080:rate=30", "-f", "lavfi", "-i", "sine=f=440:sample_rate=48000",
                        "-t", "10", "-vf", "noise=alls=12:allf=t", "-c:v", "libx264", "-preset", "ultrafast",
                        "-b:v", f"{mbps:g}M", "-maxrate", f"{mbps:g}M", "-bufsize", f"{2 * mbps:g}M", "-g", "60",
                        "-c:a", "aac", "-shortest", "-movflags", "+faststart", str(part)], check=True)
        part.replace(base)
    return benchlib.looped_video(base, seconds)


def annotate_params(game_s: float, clips: int, clip_s: float) -> dict[str, Any]:
    starts = [round(game_s * (i + 0.5) / clips, 3) for i in range(clips)]
    return {"clips": [{"start_time": t, "end_time": t + clip_s, "name": f"Clip {i + 1}", "rating": 4}
                      for i, t in enumerate(starts)], "encode": {"preset": "ultrafast"}}


class ModelledStorage(LocalStorage):
    """A local folder behind a network model: each request waits ``latency_s``, and bytes pass
    one at a time through a link of ``bandwidth`` bytes/s (requests in parallel share it)."""

    def __init__(self, root: Path, latency_s: float, bandwidth: float) -> None:
        super().__init__(root)
        self.latency_s, self.bandwidth = latency_s, bandwidth
        self.requests = 0
        self.bytes = 0
        self._link = threading.Lock()
        self._free_at = 0.0  # when the link has sent everything queued so far

    def _transfer(self, n: int) -> None:
        time.sleep(self.latency_s)
        with self._link:
            self.requests += 1
            self.bytes += n
            start = max(time.monotonic(), self._free_at)
            self._free_at = start + n / self.bandwidth
            done = self._free_at
        time.sleep(max(0.0, done - time.monotonic()))

    def read_range(self, key: str, start: int, length: int, *, version: str | None = None) -> bytes:
        data = super().read_range(key, start, length, version=version)
        self._transfer(len(data))
        return data

    def download(self, key: str, path: Path, **kwargs: Any) -> None:
        super().download(key, path, **kwargs)
        self._transfer(path.stat().st_size)


def run_once(root: Path, latency_s: float, bandwidth: float, ranged: bool, params: dict[str, Any], size: int,
             scratch: Path, n: int) -> dict[str, Any]:
    store = ModelledStorage(root, latency_s, bandwidth)
    settings = Settings(device="cpu", scratch_dir=str(scratch), job_timeout_s=3600, progress_interval_s=10,
                        range_read_min_bytes=0 if ranged else size + 1)
    job_id = f"bench-{n}"
    job = {"id": job_id, "input": {"job_id": job_id, "user_id": USER, "type": "annotate", "input_key": "game.mp4",
                                   "output_key": f"out/{job_id}.mp4", "params": params}}
    t0 = time.monotonic()
    result = asyncio.run(hjob.run(job, storage=store, settings=settings, send=lambda p: None))
    wall = time.monotonic() - t0
    if result.get("status") != "success":
        raise SystemExit(f"job failed: {result}")
    timings = result["timings_s"]
    return {"bytes": store.bytes, "requests": store.requests, "download_s": timings["download"],
            "export_s": timings["export"], "total_s": round(wall, 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--game", type=float, default=600.0, help="game length, seconds (default 600)")
    ap.add_argument("--mbps", type=float, default=8.0, help="game bit rate, Mbit/s (default 8)")
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--clip", type=float, default=2.0, help="clip length, seconds (default 2)")
    ap.add_argument("--latency-ms", type=float, default=50.0, help="per request (default 50)")
    ap.add_argument("--bandwidth", type=float, default=100.0, help="link, MB/s (default 100)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    game = noisy_game(args.game, args.mbps)
    size = game.stat().st_size
    params = annotate_params(args.game, args.clips, args.clip)
    latency_s, bandwidth = args.latency_ms / 1000, args.bandwidth * 1e6
    print(f"game: {args.game:g} s, {size / MiB:.0f} MiB; {args.clips} clips of {args.clip:g} s; "
          f"network model: {args.latency_ms:g} ms per request, {args.bandwidth:g} MB/s", flush=True)
    report: dict[str, Any] = {"machine": benchlib.machine_info(), "game_s": args.game, "game_bytes": size,
                              "latency_ms": args.latency_ms, "bandwidth_mb_s": args.bandwidth, "params": params}
    runs: dict[str, list[dict[str, Any]]] = {"download": [], "range": []}
    with tempfile.TemporaryDirectory(prefix="reelgpu-range-") as tmp:
        root = Path(tmp) / "bucket"
        (root / USER).mkdir(parents=True)
        try:  # the bucket's copy of the game: a hard link where the file system allows one
            os.link(game, root / USER / "game.mp4")
        except OSError:
            shutil.copy(game, root / USER / "game.mp4")
        for k in range(args.repeat):
            for variant in (("download", "range") if k % 2 == 0 else ("range", "download")):
                runs[variant].append(run_once(root, latency_s, bandwidth, variant == "range", params, size,
                                              Path(tmp) / "scratch", len(runs["download"]) + len(runs["range"])))
    summary = {v: {key: statistics.median(r[key] for r in rs) for key in rs[0]} for v, rs in runs.items()}
    report.update(median=summary, runs=runs)
    print(f"\nmedian of {args.repeat}:")
    print(f"  {'':10} {'MiB read':>9} {'requests':>9} {'download s':>11} {'export s':>9} {'job s':>7}")
    for variant, m in summary.items():
        print(f"  {variant:10} {m['bytes'] / MiB:9.1f} {m['requests']:9.0f} {m['download_s']:11.2f} "
              f"{m['export_s']:9.2f} {m['total_s']:7.2f}")
    d, r = summary["download"], summary["range"]
    print(f"  range/download: bytes {r['bytes'] / d['bytes']:.3f}, job time {r['total_s'] / d['total_s']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
