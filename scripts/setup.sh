#!/usr/bin/env bash
# Shared setup for scripts/demo.sh and scripts/test.sh: a virtual environment in .venv with
# reelgpu installed (editable) plus the extras named in $1, and the ffmpeg CLI when asked.
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${1:-}"
need_ffmpeg="${2:-no}"

if [ "$need_ffmpeg" = "ffmpeg" ] && { ! command -v ffmpeg >/dev/null 2>&1 || ! command -v mkvmerge >/dev/null 2>&1 \
                                      || [ ! -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ]; }; then
  # ffmpeg is only an outside oracle for tests and a peer for benchmarks (reelgpu itself uses
  # PyAV); mkvmerge writes Matroska as most tools other than FFmpeg do; a CJK font lets the
  # banner tests check real CJK glyphs, not just "no error".
  if [ "$(id -u)" = "0" ]; then apt_get="apt-get"; elif command -v sudo >/dev/null; then apt_get="sudo apt-get"; else apt_get=""; fi
  if [ -n "$apt_get" ]; then
    $apt_get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $apt_get install -y -qq ffmpeg mkvtoolnix fonts-wqy-zenhei >/dev/null \
      || echo "warning: could not install ffmpeg/mkvtoolnix/fonts; the tests that need them will be skipped"
  else
    echo "warning: ffmpeg, mkvmerge or the CJK font missing and no root/sudo; the tests that use them will be skipped"
  fi
fi

python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
if [ -n "$extras" ]; then
  .venv/bin/python -m pip install -q -e ".[$extras]"
else
  .venv/bin/python -m pip install -q -e .
fi
