"""The GPU parity criteria of docs/gpu.md, shared by the tests in this folder."""

from __future__ import annotations

from typing import Any

import numpy as np


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * float(np.log10(255.0**2 / mse))


def assert_planes_close(got: Any, ref: Any, *, max_diff: int = 2, min_psnr: float = 48.0, what: str = "") -> None:
    """The documented GPU parity: max abs diff <= 2 levels and PSNR >= 48 dB, per plane."""
    for name, g, r in zip("yuv", got, ref):
        g, r = np.asarray(g), np.asarray(r)
        assert g.shape == r.shape, f"{what} {name}: shape {g.shape} != {r.shape}"
        diff = int(np.abs(g.astype(np.int16) - r.astype(np.int16)).max())
        assert diff <= max_diff, f"{what} {name}: max abs diff {diff} > {max_diff}"
        assert psnr(g, r) >= min_psnr, f"{what} {name}: PSNR {psnr(g, r):.1f} dB < {min_psnr}"
