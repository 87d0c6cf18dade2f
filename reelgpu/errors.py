"""Typed errors. Every error a user can cause has a class here with a stable ``code``.

The handler turns any :class:`ReelGpuError` into ``{"error": "<CODE>: <msg>", "code", "retryable"}``;
the message always names the field, file or limit at fault and never carries a traceback.
"""

from __future__ import annotations

import errno


class ReelGpuError(Exception):
    """Base class. ``code`` is stable and machine-readable; ``retryable`` says whether trying
    the same job again can succeed; ``field`` is the parameter at fault as the message names it
    (``"params.clips[0].keyframes[1].time"``, ``"dst"``, ``"device"``), or None where the fault
    is a file's content rather than a parameter. A UI can point at ``field`` without parsing
    the message."""

    code: str = "INTERNAL"
    retryable: bool = False

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __reduce__(self) -> tuple[object, ...]:
        # Exception pickles as cls(*args), which would drop the keyword attributes (field,
        # limit...) on the way through a process pool; rebuild with all of them.
        state = dict(self.__dict__)
        if isinstance(self, OSError):  # InputNotFound: OSError keeps these outside __dict__
            state["filename"], state["errno"] = self.filename, self.errno
        return _rebuild, (type(self), self.message, state)

    def __str__(self) -> str:
        return self.message


def _rebuild(cls: type[ReelGpuError], message: str, state: dict[str, object]) -> ReelGpuError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    for name, value in state.items():
        setattr(error, name, value)
    return error


class InvalidSpec(ReelGpuError, ValueError):
    """The export parameters break the contract (names the field). ``field`` is the first
    field at fault; ``fields`` lists every one the message names (a spec can break several
    rules at once)."""

    code = "INVALID_INPUT"

    def __init__(self, message: str, *, field: str | None = None, fields: tuple[str, ...] = ()) -> None:
        super().__init__(message, field=field if field is not None else (fields[0] if fields else None))
        self.fields = fields or ((field,) if field is not None else ())


class LimitExceeded(ReelGpuError, ValueError):
    """An input is larger than a configured limit (names the limit). ``limit`` is the
    :class:`~reelgpu.Limits` field (the worker's ``REELGPU_LIMIT_<NAME>``), ``value`` what was
    found and ``maximum`` the limit's value; ``field`` is set where a parameter is at fault
    rather than a file."""

    code = "LIMIT_EXCEEDED"

    def __init__(self, message: str, *, limit: str | None = None, value: float | None = None,
                 maximum: float | None = None, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.limit = limit
        self.value = value
        self.maximum = maximum


class InputNotFound(ReelGpuError, FileNotFoundError):
    """An input file (video, text-layer PNG) is not there; a missing file is not a damaged one.
    Also a ``FileNotFoundError``, as Python's own file functions raise, with its ``filename``."""

    code = "INPUT_NOT_FOUND"

    def __init__(self, message: str, *, filename: str | None = None, field: str | None = None,
                 errno_: int = errno.ENOENT) -> None:
        super().__init__(message, field=field)
        self.filename = filename
        self.errno = errno_  # as Python's own: ENOENT, or EISDIR for a folder where a file goes


class UnsupportedMedia(ReelGpuError):
    """The file is readable but not something we render (no video stream, odd codec...)."""

    code = "UNSUPPORTED_MEDIA"


class NvdecRefused(UnsupportedMedia):
    """NVDEC refused a stream that the probe's capabilities said it could decode (a profile or
    level it lacks, say). The CPU can still decode it: ``device="auto"`` renders again there."""


class CorruptMedia(ReelGpuError):
    """The file cannot be parsed or decoded."""

    code = "CORRUPT_MEDIA"


class InputReadError(ReelGpuError):
    """A remote input (:class:`~reelgpu.LazyInput`) could not be read: its ``fetch`` raised (the
    exception is ``__cause__``) or returned too few bytes. Retryable: the file may be fine. Its
    own class, so that no reader in the library takes it for a damaged file (``OSError``,
    ``ValueError`` and FFmpeg's errors all mean that there)."""

    code = "INPUT_READ_ERROR"
    retryable = True


class BackendUnavailable(ReelGpuError):
    """``device="cuda"`` was asked for and the GPU stage cannot run here."""

    code = "BACKEND_UNAVAILABLE"


class Cancelled(ReelGpuError):
    """The caller's cancel check returned True: between frames, or before a fetch of a
    :class:`~reelgpu.LazyInput`'s bytes."""

    code = "CANCELLED"
