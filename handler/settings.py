"""Worker configuration from the environment (see docs/handler.md, "Configuration")."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from reelgpu.limits import Limits

MiB = 1024 * 1024
GiB = 1024 * MiB


def limits_from_env(env: Mapping[str, str]) -> Limits:
    """``REELGPU_LIMIT_<FIELD>`` overrides any field of :class:`reelgpu.Limits`."""
    overrides: dict[str, Any] = {}
    for f in dataclasses.fields(Limits):
        raw = env.get(f"REELGPU_LIMIT_{f.name.upper()}")
        if raw:
            default = getattr(Limits(), f.name)
            overrides[f.name] = type(default)(float(raw)) if isinstance(default, int) else float(raw)
    return Limits(**overrides)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Per-job knobs. Read once per job (cheap), so a test or an operator can change them."""

    device: str = "auto"
    job_timeout_s: float = 1800.0
    max_input_bytes: int = 8 * GiB
    max_output_bytes: int = 16 * GiB
    scratch_dir: str | None = None
    progress_interval_s: float = 0.5
    concurrency: int = 1
    limits: Limits = dataclasses.field(default_factory=Limits)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        device = env.get("REELGPU_DEVICE", "auto")
        if device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"REELGPU_DEVICE must be auto, cpu or cuda, got {device!r}")
        return cls(
            device=device,
            job_timeout_s=float(env.get("REELGPU_JOB_TIMEOUT_S", cls.job_timeout_s)),
            max_input_bytes=int(float(env.get("REELGPU_MAX_INPUT_BYTES", cls.max_input_bytes))),
            max_output_bytes=int(float(env.get("REELGPU_MAX_OUTPUT_BYTES", cls.max_output_bytes))),
            scratch_dir=env.get("REELGPU_SCRATCH_DIR") or None,
            progress_interval_s=float(env.get("REELGPU_PROGRESS_INTERVAL_S", cls.progress_interval_s)),
            concurrency=max(1, int(env.get("REELGPU_CONCURRENCY", cls.concurrency))),
            limits=limits_from_env(env),
        )
