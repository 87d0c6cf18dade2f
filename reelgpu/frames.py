"""The frame representation shared by the ops and the pipeline.

CPU path: a frame is three C-contiguous uint8 numpy planes (Y, U, V) of planar YUV 4:2:0
(I420): Y is H x W, U and V are H/2 x W/2. Width and height are even. The GPU path keeps the
same three planes as CuPy arrays (NV12 from NVDEC is split into views/deinterleaved once on
the device), so every op has one signature for both backends.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Planes(NamedTuple):
    y: Any  # numpy.ndarray | cupy.ndarray, shape (H, W), uint8
    u: Any  # shape (H/2, W/2)
    v: Any  # shape (H/2, W/2)

    @property
    def width(self) -> int:
        return int(self.y.shape[1])

    @property
    def height(self) -> int:
        return int(self.y.shape[0])


# Black and neutral chroma in BT.709 limited range: used for borders (rotation, letterbox).
BLACK_Y = 16
NEUTRAL_C = 128
