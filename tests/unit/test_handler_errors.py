"""Which unexpected errors make the worker ask RunPod for a fresh process (``refresh_worker``)."""

from __future__ import annotations

import pytest

from handler.errors import error_result, needs_fresh_worker


def raised_in(module: str, name: str) -> Exception:
    """An exception of a class defined in ``module``, like the GPU libraries' own."""
    return type(name, (Exception,), {"__module__": module})("boom")


@pytest.mark.parametrize(("module", "name"), [
    ("_PyNvVideoCodec", "PyNvVCException"),  # PyNvVideoCodec 2.2's classes live in its extension module
    ("_PyNvVideoCodec", "PyNvVCExceptionUnsupported"),
    ("cupy_backends.cuda.api.runtime", "CUDARuntimeError"),
    ("cupy.cuda.memory", "OutOfMemoryError"),
    ("somewhere", "CUDADriverError"),
])
def test_gpu_library_failures_retire_the_worker(module: str, name: str) -> None:
    exc = raised_in(module, name)
    assert needs_fresh_worker(exc)
    result = error_result(exc)
    assert result["code"] == "INTERNAL" and result["refresh_worker"] is True
    assert "boom" not in result["error"]  # the message stays in the worker log


def test_other_failures_keep_the_worker() -> None:
    assert not needs_fresh_worker(ValueError("x"))
    assert "refresh_worker" not in error_result(raised_in("av.error", "InvalidDataError"))
    assert needs_fresh_worker(MemoryError())
