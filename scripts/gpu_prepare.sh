#!/usr/bin/env bash
# Prepare, on a machine with network, what scripts/gpu_run.sh needs on a lent GPU machine (no
# network there, at most 64 MiB carried per call): docs/gpu.md, "Running on a GPU machine".
#
#   bash scripts/gpu_prepare.sh download   cp312 wheels of scripts/gpu_wheels.txt -> .gpu-wheels/,
#                                          and the 10 s 1080p benchmark input -> .benchmarks/media/
#   bash scripts/gpu_prepare.sh stage 1    .whl/ = the wheels of call 1 (all but PyAV), ~36 MB
#   bash scripts/gpu_prepare.sh stage 2    .whl/ = the wheels of call 2 (PyAV), ~36 MB
#
# Call 1 (carry .whl and the benchmark input, printed by `download`): bash scripts/gpu_run.sh install
# Call 2, made at once (the machine is handed back after ~30 s idle; carry .whl): bash scripts/gpu_run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-.venv/bin/python}"
[[ -x "$PY" ]] || PY=python3
[[ "$PY" == */* ]] || PY="$(command -v "$PY")"
[[ "$PY" == /* ]] || PY="$PWD/$PY"  # it also runs from benchmarks/
WHEELS=.gpu-wheels
SAMPLE=.benchmarks/media/sample_1920x1080_30fps_10s_veryfast_crf18.mp4

case "${1:-}" in
download)
    mkdir -p "$WHEELS"
    "$PY" -m pip download -q --only-binary=:all: --no-deps --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        -d "$WHEELS" -r scripts/gpu_wheels.txt
    (cd benchmarks && "$PY" -c 'import benchlib; print(benchlib.sample_video(fps=30, seconds=10))')
    du -sh "$WHEELS" "$SAMPLE"
    echo "carry for call 1: [\".whl\", \"$SAMPLE\"]"
    ;;
stage)
    rm -rf .whl && mkdir -p .whl
    shopt -s nullglob
    case "${2:-}" in
    1) for w in "$WHEELS"/*.whl; do [[ "$(basename "$w")" == av-* ]] || cp "$w" .whl/; done ;;
    2) cp "$WHEELS"/av-*.whl .whl/ ;;
    *) echo "usage: $0 stage 1|2" >&2; exit 2 ;;
    esac
    ls .whl
    du -sh .whl
    ;;
*)
    echo "usage: $0 download | stage 1 | stage 2" >&2
    exit 2
    ;;
esac
