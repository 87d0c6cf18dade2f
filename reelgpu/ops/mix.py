"""Frame mixing for transitions: cross-dissolve of two frames and fade to black.

Numpy reference. Luma fades towards 16 and chroma towards 128 (black in limited range), so a
fade never tints the picture.
"""

from __future__ import annotations

import numpy as np

from ..frames import BLACK_Y, NEUTRAL_C, Planes


def dissolve(a: Planes, b: Planes, alpha: float) -> Planes:
    """(1 - alpha) * a + alpha * b per plane, rounded."""
    out = []
    for pa, pb in zip(a, b):
        mixed = pa.astype(np.float32) * (1.0 - alpha) + pb.astype(np.float32) * alpha
        out.append(np.clip(mixed + 0.5, 0, 255).astype(np.uint8))
    return Planes(*out)


def fade_to_black(p: Planes, brightness: float) -> Planes:
    """Scale the picture towards black: brightness 1 = unchanged, 0 = black."""
    if brightness >= 1.0:
        return p
    out = []
    for plane, base in zip(p, (BLACK_Y, NEUTRAL_C, NEUTRAL_C)):
        scaled = (plane.astype(np.float32) - base) * brightness + base
        out.append(np.clip(scaled + 0.5, 0, 255).astype(np.uint8))
    return Planes(*out)
