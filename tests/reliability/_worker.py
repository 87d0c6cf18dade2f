"""The worker as the reliability tests run it: ``python -m handler`` plus one test hook.

A framing job whose ``params.meta`` is ``{"reliability_inject": "internal"}`` raises an
unexpected exception that carries the storage secret and a presigned-URL signature in its
message: the only way to produce an ``INTERNAL`` error in a real worker process, and the
worst case for the log and response scan (the text must be scrubbed everywhere).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import reelgpu  # noqa: E402

_real_framing = reelgpu.framing


def _framing(src: Any, dst: Any, spec: Any, **kwargs: Any) -> Any:
    meta = getattr(spec, "meta", None) or {}
    if meta.get("reliability_inject") == "internal":
        secret = os.environ.get("R2_SECRET_ACCESS_KEY", "")
        key_id = os.environ.get("R2_ACCESS_KEY_ID", "")
        raise RuntimeError(f"injected bug: key {key_id} secret {secret} "
                           f"https://x.r2/o?X-Amz-Signature=feedface{secret}")
    return _real_framing(src, dst, spec, **kwargs)


reelgpu.framing = _framing

if __name__ == "__main__":
    from handler.__main__ import main

    main()
