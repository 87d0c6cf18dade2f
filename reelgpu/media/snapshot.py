"""Still pictures of videos for docs and the demo (RGB via PyAV; not on any render path)."""

from __future__ import annotations

from pathlib import Path

import av
from PIL import Image, ImageDraw

from ..frames import Planes
from .decode_cpu import frame_to_planes


def frame_at(path: str | Path, t: float) -> Image.Image:
    """The upright frame on screen at ``t`` seconds, as an RGB image."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        origin = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        chosen = None
        for frame in container.decode(stream):
            if chosen is not None and float(frame.pts * stream.time_base) - origin > t + 1e-4:
                break
            chosen = frame
        if chosen is None:
            raise ValueError(f"{path}: no frames")
        if chosen.rotation % 360:
            planes = frame_to_planes(chosen, int(round(chosen.rotation)) % 360)
            return planes_to_image(planes)
        return chosen.to_image()


def planes_to_image(planes: Planes) -> Image.Image:
    import numpy as np

    h, w = planes.y.shape
    stacked = np.concatenate([planes.y, planes.u.reshape(-1, w), planes.v.reshape(-1, w)])
    return av.VideoFrame.from_ndarray(stacked, format="yuv420p").to_image()


def before_after(src: str | Path, t_src: float, dst: str | Path, t_dst: float, png: str | Path,
                 height: int = 360) -> Path:
    """Side-by-side picture: the input frame (left) and the output frame (right), labelled."""
    left, right = frame_at(src, t_src), frame_at(dst, t_dst)
    scale = lambda im: im.resize((max(1, round(im.width * height / im.height)), height), Image.BICUBIC)  # noqa: E731
    left, right = scale(left), scale(right)
    gap = 16
    canvas = Image.new("RGB", (left.width + right.width + gap, height + 24), (24, 24, 24))
    canvas.paste(left, (0, 24))
    canvas.paste(right, (left.width + gap, 24))
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 4), f"before (t={t_src:.2f}s)", fill=(230, 230, 230))
    draw.text((left.width + gap + 4, 4), f"after (t={t_dst:.2f}s)", fill=(230, 230, 230))
    canvas.save(png)
    return Path(png)
