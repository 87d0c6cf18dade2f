"""Exact 8-bit table lookups on whole planes: ``plane = table[plane]``.

Ops whose result for a sample depends on that sample's value alone (the highlight's dim and
fill, a fade to black) evaluate their formula once for the 256 possible values and apply the
table, instead of evaluating it in float32 for every sample: same bytes, a fraction of the
work.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["affine_fit", "apply_table"]

# Rows per strip of the fixed-point pass, so its uint32 temporaries stay in cache.
STRIP_ROWS = 48


@lru_cache(maxsize=128)
def affine_fit(table: bytes) -> tuple[int, int] | None:
    """(A, B) with ``(v*A + B) >> 16 == table[v]`` for all 256 v, or None (then np.take).

    Dim, fill and fade tables are affine maps rounded once, so a 16-bit fixed-point
    multiply-add can reproduce them, ~2.5x faster than numpy's gather. Candidates for A around
    the least-squares slope are checked against all 256 entries at once (for a given A the
    feasible B form an interval), so a returned fit is exact. Cached: a table repeats on every
    frame with the same fade.
    """
    t = np.frombuffer(table, dtype=np.uint8).astype(np.int64)
    v = np.arange(256, dtype=np.int64)
    slope = np.polyfit(v, t, 1)[0]
    cand = int(round(slope * 65536)) + np.arange(-48, 49, dtype=np.int64)
    cand = cand[cand >= 0]
    base = t * 65536
    lo = (base[None, :] - cand[:, None] * v[None, :]).max(axis=1)
    hi = (base[None, :] + 65535 - cand[:, None] * v[None, :]).min(axis=1)
    ok = np.flatnonzero((lo <= hi) & (lo >= 0) & (255 * cand + hi < 2**32))
    if ok.size == 0:
        return None
    i = ok[ok.size // 2]
    return int(cand[i]), int((lo[i] + hi[i]) // 2)


def apply_table(plane: np.ndarray, table: np.ndarray) -> None:
    """``plane = table[plane]`` in place (a uint8 plane, a 256-entry uint8 table)."""
    if table.shape != (256,) or table.dtype != np.uint8:
        raise ValueError(f"table must be 256 uint8 values, got {table.dtype} {table.shape}")
    fit = affine_fit(table.tobytes())
    if fit is None:
        np.take(table, plane, out=plane, mode="clip")
        return
    a, b = np.uint32(fit[0]), np.uint32(fit[1])
    for r0 in range(0, plane.shape[0], STRIP_ROWS):
        rows = plane[r0 : r0 + STRIP_ROWS]
        t = rows.astype(np.uint32)
        t *= a
        t += b
        t >>= np.uint32(16)
        rows[...] = t
