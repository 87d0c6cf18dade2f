"""Exact 8-bit table lookups (reelgpu.ops.lut), both ways they run."""

from __future__ import annotations

import numpy as np
import pytest

from reelgpu.ops.lut import affine_fit, apply_table

RNG = np.random.default_rng(7)


def _plane() -> np.ndarray:
    plane = RNG.integers(0, 256, (101, 67), dtype=np.uint8)
    plane[0, :] = 0
    plane[1, :] = 255
    return plane


@pytest.mark.parametrize("scale, offset", [(0.85, 2.4), (1.0, 0.0), (0.0, 16.0), (0.15, 108.8), (1.2, -20.0)])
def test_affine_tables_take_the_fixed_point_pass_and_match(scale: float, offset: float) -> None:
    table = np.clip(np.arange(256, dtype=np.float32) * scale + offset + 0.5, 0, 255).astype(np.uint8)
    assert affine_fit(table.tobytes()) is not None or scale > 1.0  # clipped ramps need not fit
    plane = _plane()
    expected = table[plane]
    apply_table(plane, table)
    np.testing.assert_array_equal(plane, expected)


def test_other_tables_take_numpy_gather_and_match() -> None:
    table = RNG.permutation(256).astype(np.uint8)
    assert affine_fit(table.tobytes()) is None
    plane = _plane()
    expected = table[plane]
    apply_table(plane, table)
    np.testing.assert_array_equal(plane, expected)


def test_strided_views_are_written_in_place() -> None:
    base = _plane()
    view = base[3:90:2, 5:60]
    table = (255 - np.arange(256)).astype(np.uint8)
    expected_base = base.copy()
    expected_base[3:90:2, 5:60] = table[view]
    apply_table(view, table)
    np.testing.assert_array_equal(base, expected_base)


def test_table_shape_is_checked() -> None:
    with pytest.raises(ValueError, match="256 uint8"):
        apply_table(_plane(), np.arange(255, dtype=np.uint8))
