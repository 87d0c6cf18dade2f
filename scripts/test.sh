#!/usr/bin/env bash
# Fresh machine -> lint + the whole test suite (the same command CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test ffmpeg
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
