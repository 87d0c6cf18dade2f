"""The package ships ``py.typed``, so its users' type checkers read its hints: a program written
as the README shows must check clean, and a misspelt name must not (mypy, as a user runs it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

DOWNSTREAM = '''
from pathlib import Path
from types import MappingProxyType

import reelgpu
from reelgpu.specs import CropKeyframe, FramingClip, FramingSpec


def on_progress(done: int, total: int) -> bool:  # a return value is allowed, and ignored
    return done == total


spec = FramingSpec(clips=[FramingClip(keyframes=[CropKeyframe(time=0, x=1, y=2, width=3, height=4)])])
result: reelgpu.ExportResult = reelgpu.framing(Path("a.mp4"), "b.mp4", spec, device="cpu", progress=on_progress,
                                               cancel=lambda: False, limits=reelgpu.Limits(max_clips=3))
frames: int = result.frames
gpu: str | None = reelgpu.capabilities(timeout_s=5).gpu
reelgpu.annotate("game.mp4", "review.mp4", MappingProxyType({"clips": []}))
try:
    reelgpu.overlay("a.mp4", "b.mp4", {"text_layers": []}, sources={"t.png": Path("t.png")})
except reelgpu.LimitExceeded as exc:
    limit: str | None = exc.limit
except reelgpu.InvalidSpec as exc:
    fields: tuple[str, ...] = exc.fields
except reelgpu.InputNotFound as exc:
    missing: str | None = exc.filename


def fetch(offset: int, length: int) -> bytes:
    return bytes(length)


with reelgpu.LazyInput(Path("/tmp/game.mp4"), 1000, fetch, block_size=4096) as game:
    try:
        reelgpu.annotate(game.path, "review.mp4", {"clips": []})
    except reelgpu.InputReadError as exc:
        cause: BaseException | None = exc.__cause__
    fetched: int = game.fetched_bytes
'''


def mypy(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("mypy", reason="mypy (the test extra) is not installed")
    program = tmp_path / "app.py"
    program.write_text(source)
    # MYPYPATH finds the source tree (an editable install's import hook is invisible to mypy);
    # follow-imports=silent reports the program's errors only, as for an installed package.
    env = {**os.environ, "MYPYPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--follow-imports=silent",
                           "--strict-optional", "--python-version", f"{sys.version_info[0]}.{sys.version_info[1]}",
                           str(program)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
                          check=False)


def test_a_program_using_the_public_api_checks_clean(tmp_path: Path) -> None:
    done = mypy(tmp_path, DOWNSTREAM)
    assert done.returncode == 0, done.stdout


def test_a_misspelt_name_is_an_error(tmp_path: Path) -> None:
    """The lazy module ``__getattr__`` is hidden from checkers, or every name would pass as Any."""
    done = mypy(tmp_path, "import reelgpu\nreelgpu.framng('a.mp4', 'b.mp4', {})\n")
    assert done.returncode == 1 and 'has no attribute "framng"' in done.stdout, done.stdout
