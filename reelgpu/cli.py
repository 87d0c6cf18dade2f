"""The ``reelgpu`` command: run exports, probe files, print schemas and capabilities, demo."""

from __future__ import annotations

import os

# The frame loop runs decode, render and encode threads; BLAS threads inside the ops would then
# fight them for the cores (crop_scale's small matrix products measured ~10 ms/frame with one
# BLAS thread and ~200 ms with two on a loaded 2-core machine). Set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from . import __version__, specs
from .errors import ReelGpuError

EXPORTS = ("framing", "overlay", "annotate")


class ProgressBar:
    """A one-line progress bar on stderr, redrawn at most 10 times a second."""

    def __init__(self, label: str, enabled: bool = True) -> None:
        self.label, self.enabled, self._last = label, enabled and sys.stderr.isatty(), 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.1 and done < total):
            return
        self._last = now
        width = 30
        filled = int(width * done / max(total, 1))
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done >= total:  # muxing and the +faststart rewrite still follow (seconds on long exports)
            sys.stderr.write(", finishing the file\n")
        sys.stderr.flush()


# Exit codes (README, "Command line").
EXIT_FAILED = 1  # something other than the request failed: the file system, or reelgpu itself
EXIT_REFUSED = 2  # the command line, the spec or an input is at fault (argparse uses 2 too)


class SpecFileError(Exception):
    """The --spec file cannot be read or is not JSON."""


def load_spec(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpecFileError(f"cannot read spec {path}: {exc}") from None


def _sources_for(kind: str, data: dict[str, Any], spec_path: Path) -> dict[str, Path]:
    """Keys a spec names (source_key, png_key, input_keys) are paths relative to the spec file."""
    spec = specs.parse_spec(kind, data)
    return {key: (spec_path.parent / key) for key in specs.referenced_keys(spec)}


def _run_export(args: argparse.Namespace) -> int:
    import reelgpu

    data = load_spec(Path(args.spec))
    sources = _sources_for(args.command, data, Path(args.spec))
    export = getattr(reelgpu, args.command)
    result = export(args.src, args.dst, data, device=args.device, sources=sources,
                    progress=ProgressBar(args.command, not args.quiet))
    print(json.dumps(result.to_dict(), indent=2, default=str))
    return 0


def _probe(args: argparse.Namespace) -> int:
    from .media.probe import probe

    print(json.dumps(probe(args.src).to_dict(), indent=2))
    return 0


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(specs.json_schema(args.name), indent=2))
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from .device import capabilities

    caps = capabilities()
    print(json.dumps(caps.to_dict(), indent=2) if args.json else caps.as_table())
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(Path(args.out), device=args.device, progress=not args.quiet)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reelgpu", description=__doc__)
    parser.add_argument("--version", action="version", version=f"reelgpu {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in EXPORTS:
        p = sub.add_parser(name, help=f"run the {name} export")
        p.add_argument("src", help="input video" + (" (the game video)" if name == "annotate" else ""))
        p.add_argument("dst", help="output MP4" + (" (sidecar JSON written as DST.json)" if name == "annotate" else ""))
        p.add_argument("--spec", required=True, help="JSON file with the export's params (see `reelgpu schema`)")
        p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.set_defaults(func=_run_export)
    p = sub.add_parser("probe", help="print a media file's facts as JSON")
    p.add_argument("src")
    p.set_defaults(func=_probe)
    p = sub.add_parser("schema", help="print an export's params as JSON Schema")
    p.add_argument("name", choices=EXPORTS)
    p.set_defaults(func=_schema)
    p = sub.add_parser("doctor", help="print GPU/codec capabilities and the backends device=auto picks")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_doctor)
    p = sub.add_parser("demo", help="generate sample media and run every export on it")
    p.add_argument("--out", default="demo-output", help="folder for the outputs and before/after PNGs")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; 0 when it succeeded, else one line on stderr and ``EXIT_REFUSED`` (the
    request is at fault) or ``EXIT_FAILED``. A bug in reelgpu keeps its traceback (to report)."""
    args = build_parser().parse_args(argv)
    try:
        status = args.func(args)
        sys.stdout.flush()  # here, not at exit: a closed pipe must reach the handler below
        return status
    except ReelGpuError as exc:
        print(f"error [{exc.code}]: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except SpecFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except BrokenPipeError:
        # `reelgpu schema framing | head`: the reader left. Point stdout at /dev/null so that
        # Python's own flush at exit does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except OSError as exc:  # the output folder is read-only, the disk is full...
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
