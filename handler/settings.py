"""Worker configuration from the environment (see docs/handler.md, "Configuration")."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from reelgpu.limits import Limits

MiB = 1024 * 1024
GiB = 1024 * MiB


def env_number(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0,
               integer: bool = False) -> Any:
    """``env[name]`` as a number of at least ``minimum``; a bad value raises ``ValueError``
    naming the variable (the worker then exits at start-up, saying which one)."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if not value >= minimum or value == float("inf"):  # NaN fails the comparison
        raise ValueError(f"{name}={raw!r} must be a finite number >= {minimum:g}")
    if integer and value != int(value):  # 2.5 jobs at once, 0.5 clips: a typo, not a rounding
        raise ValueError(f"{name}={raw!r} must be a whole number")
    return int(value) if integer else value


def limits_from_env(env: Mapping[str, str]) -> Limits:
    """``REELGPU_LIMIT_<FIELD>`` overrides any field of :class:`reelgpu.Limits`."""
    overrides: dict[str, Any] = {}
    for f in dataclasses.fields(Limits):
        default = getattr(Limits(), f.name)
        name = f"REELGPU_LIMIT_{f.name.upper()}"
        if env.get(name):
            # 0 is a limit too (REELGPU_LIMIT_MAX_TEXT_LAYERS=0: no text layers).
            overrides[f.name] = env_number(env, name, default, integer=isinstance(default, int))
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
    # annotate and framing read inputs at least this large by byte range instead of whole
    range_read_min_bytes: int = 64 * MiB
    range_block_bytes: int = MiB  # one ranged GET fetches this much (or a run of such blocks)
    limits: Limits = dataclasses.field(default_factory=Limits)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        device = env.get("REELGPU_DEVICE", "auto")
        if device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"REELGPU_DEVICE must be auto, cpu or cuda, got {device!r}")
        return cls(
            device=device,
            job_timeout_s=env_number(env, "REELGPU_JOB_TIMEOUT_S", cls.job_timeout_s, minimum=1),
            max_input_bytes=env_number(env, "REELGPU_MAX_INPUT_BYTES", cls.max_input_bytes, minimum=1, integer=True),
            max_output_bytes=env_number(env, "REELGPU_MAX_OUTPUT_BYTES", cls.max_output_bytes, minimum=1,
                                        integer=True),
            scratch_dir=env.get("REELGPU_SCRATCH_DIR") or None,
            progress_interval_s=env_number(env, "REELGPU_PROGRESS_INTERVAL_S", cls.progress_interval_s),
            concurrency=env_number(env, "REELGPU_CONCURRENCY", cls.concurrency, minimum=1, integer=True),
            range_read_min_bytes=int(env_number(env, "REELGPU_RANGE_READ_MIN_MIB", cls.range_read_min_bytes / MiB)
                                     * MiB),
            # fractions allowed (0.25 = 256 KiB); at least 64 KiB, below which requests cost more than bytes
            range_block_bytes=int(env_number(env, "REELGPU_RANGE_BLOCK_MIB", cls.range_block_bytes / MiB,
                                             minimum=1 / 16) * MiB),
            limits=limits_from_env(env),
        )
