"""Fixtures of the benchmark suites: generated 1080p H.264 + AAC inputs, cached on disk.

Environment:

* ``REELGPU_BENCH_SECONDS`` input duration (default 10 s, short enough for 2 cores; the
  numbers in docs/benchmarks.md also list 60 s runs);
* ``REELGPU_BENCH_ROUNDS`` rounds per export benchmark (default 1);
* ``REELGPU_BENCH_MEDIA`` cache folder of the generated inputs (default ``.benchmarks/media``).
"""

from __future__ import annotations

import fnmatch
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for `import benchlib` (not a package)

import benchlib  # noqa: E402


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """Collect bench_*.py even when another ini file (the repo's pyproject) is in charge."""
    patterns = parent.config.getini("python_files")
    if (file_path.suffix == ".py" and fnmatch.fnmatch(file_path.name, "bench_*.py")
            and not parent.session.isinitpath(file_path)  # files named on the command line are collected anyway
            and not any(fnmatch.fnmatch(file_path.name, p) for p in patterns)):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


@pytest.fixture(scope="session")
def bench_seconds() -> float:
    return benchlib.bench_seconds()


@pytest.fixture(scope="session")
def bench_rounds() -> int:
    return int(benchlib.env_float("REELGPU_BENCH_ROUNDS", 1))


@pytest.fixture(scope="session")
def src_1080p30(bench_seconds: float) -> Path:
    path = benchlib.sample_video(fps=30, seconds=bench_seconds)
    benchlib.warm_page_cache(path)
    return path


@pytest.fixture(scope="session")
def src_1080p60(bench_seconds: float) -> Path:
    path = benchlib.sample_video(fps=60, seconds=bench_seconds)
    benchlib.warm_page_cache(path)
    return path


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    return tmp_path
