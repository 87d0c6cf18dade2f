"""The real PyNvVideoCodec 2.2.4 binary, loaded against stub NVIDIA driver libraries (see README.md).

The stubs in ``stubs/`` are compiled once per session into a temporary folder. Every use of
PyNvVideoCodec happens in a child process (the ``run_nvc`` fixture) with that folder on
``LD_LIBRARY_PATH``: without a driver the package raises at import, and some of its failures
end the process (SIGABRT), so the pytest process never imports it.

Everything here skips, with the reason, when the ``pynvvideocodec`` distribution is not
installed (or is not 2.2.4, the version the stubs' struct offsets were checked against) or
when there is no C compiler.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import av
import pytest

from reelgpu.media.samples import make_sample_video
from tests.conftest import write_moving_bar

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DISTRIBUTION = "pynvvideocodec"
VERSION = "2.2.4"
STUBS = {"libcuda.so.1": "cuda.c", "libnvcuvid.so.1": "nvcuvid.c", "libnvidia-encode.so.1": "nvenc.c"}
RESULT = "@@pynvvc-result@@"

# Run before every snippet (ARGS: the snippet's arguments; emit(): its result, as JSON).
PRELUDE = f"""\
import faulthandler, json as _json, sys
faulthandler.enable()
ARGS = _json.loads(sys.argv[1])
def emit(value):
    print({RESULT!r}, _json.dumps(value), flush=True)
import PyNvVideoCodec as nvc
"""


def missing_requirement() -> str | None:
    """Why this folder cannot run here, or None. Never imports PyNvVideoCodec."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "aarch64"):
        here = f"{platform.system()} {platform.machine()}"
        return f"the stub driver libraries are for Linux x86-64/aarch64 (this is {here})"
    try:
        version = importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return f"the {DISTRIBUTION} distribution is not installed (pip install {DISTRIBUTION}=={VERSION})"
    if version != VERSION:
        return (f"{DISTRIBUTION} {version} is installed; these tests and the stubs' struct offsets are for "
                f"{VERSION} (pip install {DISTRIBUTION}=={VERSION})")
    if compiler() is None:
        return "no C compiler (cc, gcc or clang; or $CC) to build the stub driver libraries"
    return None


def compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="session")
def stub_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the three compiled stub libraries, under their real sonames."""
    reason = missing_requirement()
    if reason:
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("stub-drivers")
    cc = compiler()
    assert cc is not None
    for soname, source in STUBS.items():
        # -fexceptions: PyNvVideoCodec throws C++ exceptions from inside the parser callbacks,
        # through the stub's frames, up to Python; the frames need unwind tables for that.
        cmd = [cc, "-shared", "-fPIC", "-fexceptions", "-O1", "-Wall", "-o", str(out / soname),
               str(HERE / "stubs" / source)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if done.returncode:
            pytest.fail(f"building {soname} failed ({' '.join(cmd)}):\n{done.stderr}")
    return out


@pytest.fixture(autouse=True)
def _stub_drivers(stub_dir: Path) -> None:
    """Every test here needs them (and skips, with the reason, where they cannot be had)."""


@dataclass
class Result:
    """What a snippet did: its exit status and output, its ``emit()``, and the stubs' log."""

    returncode: int
    stdout: str
    stderr: str
    log: list[str] = field(default_factory=list)

    @property
    def value(self) -> Any:
        """The snippet's last ``emit(...)``."""
        lines = [line for line in self.stdout.splitlines() if line.startswith(RESULT)]
        assert lines, f"the snippet emitted nothing\n{self.explain()}"
        return json.loads(lines[-1][len(RESULT):])

    def calls(self, name: str) -> list[dict[str, str]]:
        """The logged calls named ``name``, each as its ``key=value`` fields (in order)."""
        out = []
        for line in self.log:
            head, _, rest = line.partition(" ")
            if head == name:
                out.append(dict(token.split("=", 1) for token in rest.split() if "=" in token))
        return out

    def explain(self) -> str:
        tail = "\n".join(self.log[-20:])
        return (f"exit status {self.returncode}\n--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}"
                f"\n--- stub log (last 20 lines)\n{tail}")


class RunNvc(Protocol):
    def __call__(self, code: str, *, args: Any = None, env: dict[str, str] | None = None,
                 timeout: float = 60) -> Result: ...


def _no_core_dumps() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the SIGABRT tests would leave core files


@pytest.fixture
def run_nvc(stub_dir: Path, tmp_path: Path) -> RunNvc:
    """Run a Python snippet in a child process with the stub drivers and PyNvVideoCodec loaded.

    The snippet runs after ``PRELUDE`` (``nvc`` is the package, ``ARGS`` is ``args``, ``emit(x)``
    reports ``x``); ``env`` sets the stubs' switches. The working tree's ``reelgpu`` and
    ``handler`` come first on the path.
    """
    count = 0

    def run(code: str, *, args: Any = None, env: dict[str, str] | None = None, timeout: float = 60) -> Result:
        nonlocal count
        count += 1
        log = tmp_path / f"stub-{count}.log"
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("PYNVVC_STUB_")}
        child_env.update(
            LD_LIBRARY_PATH=os.pathsep.join(p for p in (str(stub_dir), os.environ.get("LD_LIBRARY_PATH")) if p),
            PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
            PYTHONDONTWRITEBYTECODE="1",
            PYNVVC_STUB_LOG=str(log),
            **(env or {}),
        )
        source = PRELUDE + textwrap.dedent(code)
        try:
            done = subprocess.run([sys.executable, "-c", source, json.dumps(args)], capture_output=True, text=True,
                                  env=child_env, cwd=tmp_path, timeout=timeout, preexec_fn=_no_core_dumps)
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            pytest.fail(f"the snippet ran past {timeout} s (hung?)\n"
                        f"--- stdout\n{out[-3000:]}\n--- stderr\n{err[-3000:]}")
        lines = log.read_text().splitlines() if log.exists() else []
        return Result(done.returncode, done.stdout, done.stderr, lines)

    return run


# --------------------------------------------------------------------------- media
def _needs_encoder(name: str) -> None:
    if name not in av.codecs_available:
        pytest.skip(f"this PyAV build has no {name} encoder to make the sample")


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``media(name)`` -> path of a generated sample, made on first use (see ``SAMPLES``)."""
    folder = tmp_path_factory.mktemp("pynvvc-media")
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            made[name] = SAMPLES[name](folder / name)
        return made[name]

    return get


def _x265(path: Path) -> Path:
    _needs_encoder("libx265")
    return write_moving_bar(path, "libx265", {"preset": "ultrafast", "x265-params": "log-level=error:bframes=3"})


def _svtav1(path: Path) -> Path:
    _needs_encoder("libsvtav1")
    return write_moving_bar(path, "libsvtav1", {"preset": "12"})


# H.264 with B-frames (libx264 "medium") and an AAC track, through the project's own sample
# writer; the container follows the file name.
SAMPLES: dict[str, Callable[[Path], Path]] = {
    "h264.mp4": lambda p: make_sample_video(p, width=320, height=240, fps=30, seconds=1.0, preset="medium"),
    "h264.ts": lambda p: make_sample_video(p, width=320, height=240, fps=30, seconds=1.0, preset="medium"),
    "hevc.mp4": _x265,
    "hevc.mkv": _x265,
    "av1.mp4": _svtav1,
    "av1.mkv": _svtav1,
}
