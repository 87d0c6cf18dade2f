"""Transition mixing on the CPU: fade to black computes the per-sample formula exactly."""

from __future__ import annotations

import numpy as np
import pytest

from reelgpu.frames import Planes
from reelgpu.ops.mix import fade_to_black


def _per_sample(plane: np.ndarray, base: int, brightness: float) -> np.ndarray:
    """The definition: round((v - base) * brightness + base) in float32, clipped."""
    scaled = (plane.astype(np.float32) - base) * brightness + base
    return np.clip(scaled + 0.5, 0, 255).astype(np.uint8)


def _every_value() -> np.ndarray:
    return np.arange(256, dtype=np.uint8).reshape(16, 16)


@pytest.mark.parametrize("brightness", [0.0, 1e-9, 0.001, 1 / 3, 0.4, 0.5, 0.5000001, 0.75, 0.999999])
def test_fade_equals_the_per_sample_formula_for_every_value(brightness: float) -> None:
    v = _every_value()
    faded = fade_to_black(Planes(v, v, v), brightness)
    for got, base in zip(faded, (16, 128, 128)):
        np.testing.assert_array_equal(got, _per_sample(v, base, brightness))


def test_fade_leaves_its_input_alone_and_accepts_views() -> None:
    big = np.random.default_rng(3).integers(0, 256, (64, 96), dtype=np.uint8)
    y, u, v = big[::2, ::2], big[:16, 48:72], big[16:32, 48:72]  # non-contiguous views
    before = big.copy()
    faded = fade_to_black(Planes(y, u, v), 0.3)
    np.testing.assert_array_equal(big, before)
    for got, src, base in zip(faded, (y, u, v), (16, 128, 128)):
        assert got.flags.c_contiguous
        np.testing.assert_array_equal(got, _per_sample(src, base, 0.3))


def test_full_brightness_returns_the_frame_itself() -> None:
    v = _every_value()
    frame = Planes(v, v, v)
    assert fade_to_black(frame, 1.0) is frame
