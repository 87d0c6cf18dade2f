#!/usr/bin/env bash
# Fresh machine -> demo of all three exports on generated sample media (CPU or GPU as available).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "" no
exec .venv/bin/reelgpu demo --out "${1:-demo-output}"
