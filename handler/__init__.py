"""RunPod serverless adapter for :mod:`reelgpu`.

``python -m handler`` starts the worker; :func:`handler.job.handler` is the job function.
The package knows nothing about pixels: it validates jobs, moves files between object storage
(Cloudflare R2 / S3, or a local folder) and a scratch directory, calls ``reelgpu.<type>()``,
and turns every outcome into the result or error contract of ``docs/handler.md``.
The library never imports this package.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
