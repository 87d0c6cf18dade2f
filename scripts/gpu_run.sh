#!/usr/bin/env bash
# Run reelgpu's GPU checks on a lent GPU machine and collect everything under $OUT.
#
#   bash scripts/gpu_run.sh            install the carried wheels, then probe, test, benchmark
#   bash scripts/gpu_run.sh install    only install the carried wheels (first of two calls; scripts/gpu_prepare.sh stages them)
#   bash scripts/gpu_run.sh run        only probe, test, benchmark (wheels already installed)
#
# The machine has Python 3.12 and CuPy (cupy-cuda13x) but no network: every other package comes
# as a cp312 manylinux wheel carried in .whl/ (see docs/gpu.md, "Running on a GPU machine", for
# the pip download command and for splitting them over two calls when they exceed the carry
# limit). Wheels are installed with --target into $REELGPU_SITE (default /tmp/site), which
# survives between calls for as long as the machine stays warm.
#
# Carried benchmark inputs (.benchmarks/media/sample_*.mp4, e.g. the 10 s 1080p one, 5.5 MB) are kept in
# $REELGPU_BENCH_MEDIA (default /tmp/reelgpu-media) so the run does not spend device time
# generating them.
#
# Writes to $OUT (default ./gpu-run-out): report.json (summary: versions, doctor, exit codes,
# test counts, throughput targets), doctor.json, nvidia-smi.txt, pip.log, gpu-tests.log +
# gpu-tests.xml, throughput.log + throughput.json, bench.log + bench.json. Each step has a time
# limit (60 + 240 + 150 + 100 s, within one 600 s call), so one hang cannot eat the session's
# device time, and each step's files survive a later step being cut off. Exits with the tests' code.
set -uo pipefail
cd "$(dirname "$0")/.."

MODE="${1:-all}"
OUT="${OUT:-$PWD/gpu-run-out}"
SITE="${REELGPU_SITE:-/tmp/site}"
export REELGPU_BENCH_MEDIA="${REELGPU_BENCH_MEDIA:-/tmp/reelgpu-media}"
PY="${PYTHON:-python3}"
[[ "$PY" == */* && "$PY" != /* ]] && PY="$PWD/$PY"  # steps below run from other folders
mkdir -p "$OUT" "$SITE" "$REELGPU_BENCH_MEDIA"
OUT="$(cd "$OUT" && pwd)"  # absolute: later steps run from benchmarks/ and read REELGPU_CAPS_FILE under it
shopt -s nullglob
# the generated inputs only, not the derived (looped, reel) ones
for media in .benchmarks/media/sample_*s_veryfast_crf18.mp4; do cp -n "$media" "$REELGPU_BENCH_MEDIA/"; done

if [[ "$MODE" == "all" || "$MODE" == "install" ]]; then
    wheels=(.whl/*.whl)
    if (( ${#wheels[@]} )); then
        "$PY" -m pip install -q --no-index --no-deps --upgrade --target "$SITE" "${wheels[@]}" >>"$OUT/pip.log" 2>&1 \
            || echo "pip install failed, see pip.log" >>"$OUT/pip.log"
        printf '%s\n' "${wheels[@]}" >>"$OUT/wheels.txt"
    else
        echo "no wheels in .whl/ (nothing installed)" >>"$OUT/pip.log"
    fi
    [[ "$MODE" == "install" ]] && exit 0
fi

export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
# NVRTC from a carried nvidia-cuda-nvrtc wheel: CuPy dlopens libnvrtc through the loader path.
# Only a folder that holds libnvrtc: the runtime wheel's libcudart (same folder name) must not
# shadow the machine's own.
for lib in "$SITE"/nvidia/cu13/lib "$SITE"/nvidia/cuda_nvrtc/lib; do
    libs=("$lib"/libnvrtc.so*)
    (( ${#libs[@]} )) && export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
# CuPy 14 also needs cuda_runtime.h for every kernel compile. Its search (cuda-pathfinder) looks
# in site-packages, not in a --target folder on PYTHONPATH, so point CUDA_PATH at the carried
# nvidia-cuda-runtime wheel's headers (2 MB, always carried) unless CUDA_PATH already has them:
# an image that sets CUDA_PATH to a folder without headers would otherwise hide the carried ones.
if [[ -f "$SITE/nvidia/cu13/include/cuda_runtime.h" && ! -f "${CUDA_PATH:-/nonexistent}/include/cuda_runtime.h" ]]; then
    export CUDA_PATH="$SITE/nvidia/cu13"
fi
export PYTHONDONTWRITEBYTECODE=1

# The CPU resampler's C module (setup.py builds it at install; nothing is installed here). Best
# effort: without a compiler or Python.h the CPU rows use the numpy fallback, and doctor.json
# ("cpu_resampler") says so.
"$PY" - >"$OUT/build.log" 2>&1 <<'PYEOF'
import importlib.util, shutil, subprocess, sysconfig
from pathlib import Path
cc, include = shutil.which("cc") or shutil.which("gcc"), sysconfig.get_paths()["include"]
if importlib.util.find_spec("reelgpu.ops._resample") is not None:
    print("already built for this Python")
elif cc and (Path(include) / "Python.h").exists():
    out = Path("reelgpu/ops") / ("_resample" + sysconfig.get_config_var("EXT_SUFFIX"))
    done = subprocess.run([cc, "-O3", "-shared", "-fPIC", f"-I{include}", "reelgpu/ops/_resample.c", "-o", str(out)])
    print(f"built {out}" if done.returncode == 0 else f"cc failed with {done.returncode}")
else:
    print(f"not built: compiler {cc}, Python.h in {include}: {(Path(include) / 'Python.h').exists()}")
PYEOF

{ nvidia-smi; echo; nvidia-smi -q | grep -iE "product name|driver version|cuda version|encoder|decoder"; } \
    >"$OUT/nvidia-smi.txt" 2>&1

timeout 60 "$PY" -c 'import sys; from reelgpu.cli import main; sys.exit(main(["doctor", "--json"]))' \
    >"$OUT/doctor.json" 2>"$OUT/doctor.err"
rc_doctor=$?
# Every later process reads this answer instead of probing again (each probe opens CUDA
# contexts for NVDEC's and NVENC's caps: seconds of device time per process).
if (( rc_doctor == 0 )) && [[ -s "$OUT/doctor.json" ]]; then
    export REELGPU_CAPS_FILE="$OUT/doctor.json"
fi

# tests/gpu only: the kernel host-shim and nvcc tests are CPU checks that CI runs.
timeout 240 "$PY" -m pytest tests/gpu \
    -q -rA -p no:cacheprovider --junitxml="$OUT/gpu-tests.xml" >"$OUT/gpu-tests.log" 2>&1
rc_tests=$?

# Stage by stage against the targets (NVDEC decode-only, decode + kernels, NVENC, pipeline; kernels with CUDA events).
(cd benchmarks && timeout 150 "$PY" gpu_throughput.py --json "$OUT/throughput.json") >"$OUT/throughput.log" 2>&1
rc_throughput=$?

timeout 100 "$PY" -m pytest benchmarks -k "cupy or cuda" -p no:cacheprovider \
    --benchmark-json="$OUT/bench.json" >"$OUT/bench.log" 2>&1
rc_bench=$?

RC_DOCTOR=$rc_doctor RC_TESTS=$rc_tests RC_BENCH=$rc_bench RC_THROUGHPUT=$rc_throughput OUT_DIR="$OUT" \
    "$PY" - >"$OUT/report.json" 2>>"$OUT/doctor.err" <<'EOF'
import json, os, platform, re, subprocess, time
from pathlib import Path

out = Path(os.environ["OUT_DIR"])

def version(mod):
    try:
        m = __import__(mod)
        return getattr(m, "__version__", "unknown")
    except Exception as exc:  # report, never fail the summary
        return f"not importable: {exc.__class__.__name__}: {exc}"[:300]

def read_json(name):
    try:
        return json.loads((out / name).read_text())
    except Exception:
        return None

log = (out / "gpu-tests.log").read_text(errors="replace") if (out / "gpu-tests.log").exists() else ""
counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|error|errors|xfailed|xpassed)", log[-2000:])}
try:
    smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                         capture_output=True, text=True, timeout=60).stdout.strip()
except (OSError, subprocess.SubprocessError) as exc:
    smi = f"nvidia-smi failed: {exc}"
print(json.dumps({
    "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "gpu": smi,
    "python": platform.python_version(),
    "versions": {m: version(m) for m in ("numpy", "cupy", "av", "PIL", "pydantic")},
    "doctor": read_json("doctor.json"),
    "exit_codes": {"doctor": int(os.environ["RC_DOCTOR"]), "tests": int(os.environ["RC_TESTS"]),
                   "bench": int(os.environ["RC_BENCH"]), "throughput": int(os.environ["RC_THROUGHPUT"])},
    "tests": counts,
    "bench_results": len((read_json("bench.json") or {}).get("benchmarks", [])),
    "throughput": {k: (read_json("throughput.json") or {}).get(k) for k in ("kernels_ms", "fps", "pipeline", "targets")},
}, indent=2))
EOF

exit "$rc_tests"
