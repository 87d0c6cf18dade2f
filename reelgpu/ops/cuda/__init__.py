"""CuPy implementations of the frame ops, with the numpy references' signatures.

``reelgpu.ops.cuda.crop_scale(planes, box, out_w, out_h, rotation_deg=...)`` takes and returns
:class:`~reelgpu.frames.Planes` of CuPy arrays and computes what
``reelgpu.ops.crop_scale.crop_scale`` computes (within 1 level, see docs/gpu.md); likewise
``draw_highlight`` and ``blend_sprite`` (in place), ``dissolve`` and ``fade_to_black``.

Properties the pipeline relies on:

* Nothing is imported from CuPy until an op runs, so ``import reelgpu`` stays GPU-free.
* Kernels are compiled once per process (NVRTC via ``cupy.RawModule``; CuPy also caches the
  binaries on disk).
* All work goes to one non-blocking stream (:func:`stream`); ops never synchronise with the
  host and never copy frames to it. Outputs come from a pool and are reused once nothing
  references them (see ``_pool.py``), so a steady-state frame allocates nothing.
* Sprites are uploaded once (:func:`upload_sprite`, cached per sprite object).

The op logic itself lives in ``_ops.py``, written against a small backend interface, so the
host tests run it with the same kernels compiled for the CPU.
"""

from __future__ import annotations

from typing import Any

from ...frames import Planes
from ..crop_scale import Box
from ..highlight import HighlightDraw
from ..sprite import YUVASprite
from . import _ops
from ._ops import DeviceSprite

__all__ = [
    "DeviceSprite",
    "backend",
    "blend_sprite",
    "copy_planes",
    "crop_scale",
    "dissolve",
    "draw_highlight",
    "fade_to_black",
    "record_ready",
    "stream",
    "to_device",
    "to_host",
    "upload_sprite",
    "warm_up",
]


def backend(device_id: int = 0) -> Any:
    """The process-wide :class:`~._runtime.CupyBackend` (imports CuPy on first call)."""
    from ._runtime import backend as _backend

    return _backend(device_id)


def stream() -> Any:
    """The ``cupy.cuda.Stream`` every reelgpu kernel runs on."""
    return backend().stream


def record_ready() -> Any:
    """A ``cupy.cuda.Event`` after everything queued on the reelgpu stream so far.

    A consumer on another stream (host copies, an encoder) waits on it with
    ``other_stream.wait_event(event)``, or the host with ``event.synchronize()``.
    """
    return backend().record()


def warm_up() -> None:
    """Compile all kernels now, so NVRTC problems surface before the first frame."""
    backend().compile_all()


def crop_scale(planes: Planes, box: Box, out_w: int, out_h: int, *, rotation_deg: float = 0.0) -> Planes:
    """GPU :func:`reelgpu.ops.crop_scale.crop_scale`: crop/rotate/resample to ``out_w x out_h``."""
    return _ops.crop_scale(backend(), planes, box, out_w, out_h, rotation_deg=rotation_deg)


def draw_highlight(planes: Planes, d: HighlightDraw) -> None:
    """GPU :func:`reelgpu.ops.highlight.draw_highlight`, in place."""
    _ops.draw_highlight(backend(), planes, d)


def upload_sprite(sprite: YUVASprite | DeviceSprite) -> DeviceSprite:
    """Upload ``sprite`` once (cached while the sprite object lives); blending reuses it."""
    return _ops.upload_sprite(backend(), sprite)


def blend_sprite(planes: Planes, sprite: YUVASprite | DeviceSprite, opacity: float = 1.0) -> None:
    """GPU :func:`reelgpu.ops.sprite.blend_sprite`, in place (uploads the sprite on first use)."""
    _ops.blend_sprite(backend(), planes, sprite, opacity)


def dissolve(a: Planes, b: Planes, alpha: float) -> Planes:
    """GPU :func:`reelgpu.ops.mix.dissolve`."""
    return _ops.dissolve(backend(), a, b, alpha)


def fade_to_black(p: Planes, brightness: float) -> Planes:
    """GPU :func:`reelgpu.ops.mix.fade_to_black` (returns ``p`` itself when ``brightness >= 1``)."""
    return _ops.fade_to_black(backend(), p, brightness)


def copy_planes(p: Planes) -> Planes:
    """A pooled device copy (the overlay/annotate exports draw on a copy of the decoded frame)."""
    return _ops.copy_planes(backend(), p)


def to_device(p: Planes) -> Planes:
    """Upload numpy planes (tests, and a CPU-decoded frame entering the GPU ops)."""
    b = backend()
    with b.using():
        return Planes(*(b.upload(plane) for plane in p))


def to_host(p: Planes) -> Planes:
    """Download planes to numpy, synchronously. For tests and diagnostics only: the pipeline's
    host path is :mod:`reelgpu.media.host_transfer`, which overlaps the copies."""
    b = backend()
    with b.using():
        out = Planes(*(plane.get(stream=b.stream) for plane in p))
    return out
