"""scripts/gpu_wheels.txt covers what the GPU run imports.

The lent GPU machines have no network: every package beyond Python 3.12, CuPy and numpy must be
carried there as a wheel listed in scripts/gpu_wheels.txt. A missing one only shows on the GPU
machine, in device time that is scarce (threadpoolctl was missing once), so the list is checked
here against the imports of every file scripts/gpu_run.sh runs.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# What scripts/gpu_run.sh runs: the library, the GPU tests, the GPU benchmarks.
RUN_FILES = [*REPO.glob("reelgpu/**/*.py"), *REPO.glob("tests/gpu/*.py"), REPO / "tests/conftest.py",
             *(REPO / "benchmarks" / n for n in ("conftest.py", "benchlib.py", "bench_ops.py", "bench_exports.py",
                                                  "gpu_throughput.py"))]
LOCAL = {"reelgpu", "tests", "benchlib"}
ON_THE_MACHINE = {"cupy", "cupyx", "cupy_backends", "numpy", "torch"}  # Python 3.12 + CuPy 14 + PyTorch
# Optional there: the NVRTC wheel is carried only when CuPy finds no NVRTC (docs/gpu.md); the
# kernel tests look for it and skip its case when it is absent.
OPTIONAL = {"nvidia"}
NOT_INSTALLED_HERE = {"PyNvVideoCodec": "pynvvideocodec"}  # GPU-only; CI cannot import it


def wheel_names() -> set[str]:
    lines = (REPO / "scripts/gpu_wheels.txt").read_text().splitlines()
    return {normalise(line.split("==")[0]) for line in lines if line.strip() and not line.startswith("#")}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def top_level_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_every_import_of_the_gpu_run_is_carried_or_on_the_machine() -> None:
    dists = packages_distributions()
    carried = wheel_names()
    missing = {}
    for path in RUN_FILES:
        for module in top_level_imports(path) - LOCAL - ON_THE_MACHINE - OPTIONAL - set(sys.stdlib_module_names):
            names = [NOT_INSTALLED_HERE[module]] if module in NOT_INSTALLED_HERE else dists.get(module, [])
            if not names or not any(normalise(n) in carried for n in names):
                missing.setdefault(module, []).append(str(path.relative_to(REPO)))
    assert not missing, f"imported by the GPU run but not in scripts/gpu_wheels.txt: {missing}"


def test_the_list_is_pinned() -> None:
    lines = [ln for ln in (REPO / "scripts/gpu_wheels.txt").read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines and all("==" in ln for ln in lines), "pin every wheel: pydantic and pydantic-core must match"


# The GPU machine, for evaluating dependency markers (Python 3.12 on x86-64 Linux).
TARGET = {"python_version": "3.12", "python_full_version": "3.12.0", "sys_platform": "linux",
          "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
          "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}
ON_THE_MACHINE_DISTS = {"numpy"}


def test_the_list_is_closed_under_dependencies() -> None:
    """Wheels are fetched with --no-deps, so a listed wheel's own requirements must be listed too."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement

    carried = wheel_names()
    missing: dict[str, list[str]] = {}
    for name in sorted(carried):
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:  # not installed here: nothing to read its requirements from
            continue
        for req in map(Requirement, requires):
            if req.marker is not None and not req.marker.evaluate(TARGET):
                continue
            if normalise(req.name) not in carried | ON_THE_MACHINE_DISTS:
                missing.setdefault(name, []).append(str(req))
    assert not missing, f"required by listed wheels but not in scripts/gpu_wheels.txt: {missing}"
