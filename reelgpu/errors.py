"""Typed errors. Every error a user can cause has a class here with a stable ``code``.

The handler turns any :class:`ReelGpuError` into ``{"error": "<CODE>: <msg>", "code", "retryable"}``;
the message always names the field, file or limit at fault and never carries a traceback.
"""

from __future__ import annotations


class ReelGpuError(Exception):
    """Base class. ``code`` is stable and machine-readable; ``retryable`` says whether trying
    the same job again can succeed."""

    code: str = "INTERNAL"
    retryable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidSpec(ReelGpuError, ValueError):
    """The export parameters break the contract (names the field)."""

    code = "INVALID_INPUT"


class LimitExceeded(ReelGpuError, ValueError):
    """An input is larger than a configured limit (names the limit)."""

    code = "LIMIT_EXCEEDED"


class InputNotFound(ReelGpuError, FileNotFoundError):
    """An input file (video, text-layer PNG) is not there; a missing file is not a damaged one.
    Also a ``FileNotFoundError``, as Python's own file functions raise."""

    code = "INPUT_NOT_FOUND"


class UnsupportedMedia(ReelGpuError):
    """The file is readable but not something we render (no video stream, odd codec...)."""

    code = "UNSUPPORTED_MEDIA"


class NvdecRefused(UnsupportedMedia):
    """NVDEC refused a stream that the probe's capabilities said it could decode (a profile or
    level it lacks, say). The CPU can still decode it: ``device="auto"`` renders again there."""


class CorruptMedia(ReelGpuError):
    """The file cannot be parsed or decoded."""

    code = "CORRUPT_MEDIA"


class BackendUnavailable(ReelGpuError):
    """``device="cuda"`` was asked for and the GPU stage cannot run here."""

    code = "BACKEND_UNAVAILABLE"


class Cancelled(ReelGpuError):
    """The caller's cancel check returned True between frames."""

    code = "CANCELLED"
