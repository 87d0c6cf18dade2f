"""The public names of ``reelgpu``: all resolve, type checkers see what they are, and importing
the package loads no video or GPU library (those come on first use)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import reelgpu

INIT = Path(reelgpu.__file__)


def test_every_public_name_resolves_and_is_listed() -> None:
    for name in reelgpu.__all__:
        assert getattr(reelgpu, name) is not None, name
    assert set(reelgpu.__all__) <= set(dir(reelgpu))  # tab completion sees the lazy ones


def test_type_checkers_see_every_lazy_name() -> None:
    # The names resolved on first use must also be imported under TYPE_CHECKING, or a type
    # checker sees them as Any (and a user's misspelt argument goes unnoticed).
    tree = ast.parse(INIT.read_text())
    guarded = next(node for node in tree.body if isinstance(node, ast.If)
                   and getattr(node.test, "id", None) == "TYPE_CHECKING")
    imported = {alias.name for stmt in guarded.body for alias in stmt.names}
    lazy = {key.value for key in next(node.value for node in tree.body if isinstance(node, ast.Assign)
                                      and node.targets[0].id == "_LAZY").keys}
    assert imported == lazy
    assert (INIT.parent / "py.typed").is_file()


def test_import_loads_no_video_or_gpu_library() -> None:
    code = "import sys, json, reelgpu; print(json.dumps(sorted(m for m in ('av', 'numpy', 'cupy', 'PyNvVideoCodec') if m in sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == []
