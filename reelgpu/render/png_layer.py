"""Overlay text layers: full-frame RGBA PNGs rasterised by the app, checked before decoding.

The contract requires each layer to be exactly the video's size (the editor raises on any
mismatch rather than resizing). The size is read from the PNG's IHDR chunk with ``struct``
before any pixel is inflated, so a small file claiming a huge image (a "PNG bomb") is refused
for the price of reading 24 bytes; after that check the decoder can allocate at most one
frame's worth of pixels.
"""

from __future__ import annotations

import io
import struct
import warnings

import numpy as np
from PIL import Image

from ..errors import InvalidSpec
from ..ops.sprite import RenderedSprite

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# IHDR colour types that carry an alpha channel; the others need a tRNS chunk to be a layer.
_ALPHA_COLOUR_TYPES = {4, 6}


def png_size(data: bytes, *, where: str) -> tuple[int, int, int]:
    """(width, height, colour type) from the IHDR chunk, without decoding anything."""
    if len(data) < 33 or data[:8] != PNG_SIGNATURE:
        raise InvalidSpec(f"{where}: not a PNG file", field=where)
    length, tag = struct.unpack(">I4s", data[8:16])
    if tag != b"IHDR" or length != 13:
        raise InvalidSpec(f"{where}: malformed PNG (the first chunk is not IHDR)", field=where)
    width, height, _bit_depth, colour_type = struct.unpack(">IIBB", data[16:26])
    return width, height, colour_type


def load_text_layer(png_bytes: bytes, *, width: int, height: int, where: str) -> RenderedSprite:
    """Decode a text-layer PNG that must be exactly ``width`` x ``height`` and carry alpha.

    Returns the RGBA raster placed at (0, 0). Raises :class:`InvalidSpec` naming ``where``
    (e.g. ``"params.text_layers[2]"``) for a non-PNG, a size mismatch (both sizes named,
    checked before decoding), an image without alpha, or undecodable data.
    """
    w, h, colour_type = png_size(png_bytes, where=where)
    if (w, h) != (width, height):
        raise InvalidSpec(
            f"{where}: PNG is {w}x{h} but the video is {width}x{height}; "
            "text layers must be full-frame images of exactly the video's size", field=where
        )
    try:
        with warnings.catch_warnings():
            # The size is already bounded by the frame; a DecompressionBombWarning is noise here
            # and Pillow's hard limit (DecompressionBombError) still applies above it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(png_bytes), formats=["PNG"]) as im:
                if im.size != (width, height):  # belt and braces: the decoder's own view
                    raise InvalidSpec(f"{where}: PNG is {im.size[0]}x{im.size[1]}, expected {width}x{height}",
                                      field=where)
                has_alpha = colour_type in _ALPHA_COLOUR_TYPES or "transparency" in im.info
                if not has_alpha:
                    raise InvalidSpec(
                        f"{where}: PNG has no alpha channel (mode {im.mode}); a text layer must be RGBA",
                        field=where,
                    )
                rgba = np.asarray(im.convert("RGBA"), dtype=np.uint8)
    except InvalidSpec:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidSpec(f"{where}: cannot decode PNG ({exc})", field=where) from None
    rgba = np.ascontiguousarray(rgba)
    rgba.setflags(write=False)
    return RenderedSprite(rgba=rgba, x=0, y=0)
