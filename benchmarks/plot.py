"""Plot throughput (frames/s, wall clock) per export and backend from a peers.py JSON file.

    python benchmarks/plot.py .benchmarks/results/peers-10s.json --out docs/benchmarks-throughput.png
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import Any


def colour(label: str) -> str:
    if label.startswith("ffmpeg"):
        return "#8c8c8c"
    if "decode+encode" in label:
        return "#59a14f"
    if label.startswith("+"):
        return "#f28e2b"
    return "#4e79a7"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("peers_json", type=Path)
    ap.add_argument("--out", type=Path, default=Path("docs/benchmarks-throughput.png"))
    args = ap.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data: dict[str, Any] = json.loads(args.peers_json.read_text())
    labels, values, colours, groups = [], [], [], []
    for comp in data["comparisons"]:
        if comp.get("skipped") or not comp["rows"]:
            continue
        groups.append((len(labels), comp["title"]))
        for row in comp["rows"]:
            if "failed" in row:
                continue
            labels.append(row["label"])
            values.append(row["fps"])
            colours.append(colour(row["label"]))
    fig, ax = plt.subplots(figsize=(10, 0.38 * len(labels) + 0.5 * len(groups) + 1.2))
    ypos, y = [], 0.0
    starts = {start for start, _ in groups}
    titles = dict(groups)
    for i in range(len(labels)):
        if i in starts:
            y += 0.9 if i else 0.0
            ax.text(0, y - 0.55, textwrap.shorten(titles[i], 80, placeholder="..."), fontsize=9,
                    fontweight="bold", va="center")
        ypos.append(y)
        y += 0.6
    ax.barh(ypos, values, height=0.5, color=colours)
    for yy, v in zip(ypos, values):
        ax.text(v, yy, f" {v:.1f}", va="center", fontsize=8)
    ax.set_yticks(ypos, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("frames per second (wall clock, higher is better)")
    m = data["machine"]
    inp = data["input"]
    ax.set_title(f"{inp['seconds']:g} s {inp['size']} {inp['fps']} fps H.264 + AAC, libx264 fast crf 18, audio copied\n"
                 f"{m['nproc']} CPUs ({m['cpu_model']}), no GPU; median of {data['repeat']} "
                 f"interleaved runs ({data['started']})", fontsize=9)
    ax.set_xlim(0, max(values) * 1.15)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
