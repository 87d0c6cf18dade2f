"""What every export returns, and the callback types it accepts."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# progress(done_frames, total_frames): called from the frame loop, throttle on the receiving side;
# what it returns is ignored.
ProgressCallback = Callable[[int, int], object]
# A file path as callers give it: str, pathlib.Path or any os.PathLike.
StrPath = str | os.PathLike[str]
# cancel() -> True to stop: checked between frames and before each fetch of a LazyInput's bytes
# (from the export's own threads too: keep it cheap and thread-safe, e.g. an Event's is_set); the
# export then raises `Cancelled`.
CancelCheck = Callable[[], bool]


@dataclass
class ExportResult:
    """Outcome of one export. ``backend`` names what ran per stage, never silently."""

    output: Path
    frames: int
    duration_s: float
    width: int
    height: int
    fps: float
    # {"decode", "process", "encode"}, plus "fallback" (why) when an "auto" export was rendered
    # again on the CPU after NVDEC refused a stream mid-decode (backends.retry_on_cpu)
    backend: dict[str, str] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    has_audio: bool = False
    extra_outputs: list[Path] = field(default_factory=list)  # sidecar JSON, per-clip files
    meta: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["output"] = str(self.output)
        out["extra_outputs"] = [str(p) for p in self.extra_outputs]
        return out
