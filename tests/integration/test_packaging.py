"""The wheel users install: the library and every file it reads at run time, its licence, and
nothing else at the top level (the RunPod worker runs from the source tree, not site-packages)."""

from __future__ import annotations

import email
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    # Built from a copy of the tracked files: a build inside the checkout leaves build/ there.
    src = tmp_path_factory.mktemp("src")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=False)
    if tracked.returncode != 0:
        pytest.skip("needs a git checkout to know the tracked files (git ls-files failed)")
    for name in tracked.stdout.decode().split("\0"):
        if name and (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes((REPO / name).read_bytes())
    out = tmp_path_factory.mktemp("dist")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
                           capture_output=True, text=True, timeout=600, check=False)
    assert build.returncode == 0, build.stderr[-2000:]
    (path,) = out.glob("reelgpu-*.whl")
    return zipfile.ZipFile(path)


def test_only_the_library_is_installed(wheel: zipfile.ZipFile) -> None:
    tops = {name.split("/")[0] for name in wheel.namelist() if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"reelgpu"}, tops  # no top-level "handler" to shadow an application's own


def test_run_time_files_are_in_the_wheel(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    needed = [p.relative_to(REPO).as_posix() for p in sorted((REPO / "reelgpu").rglob("*"))
              if p.is_file() and p.suffix in {".cu", ".h", ".c", ".ttf", ".txt", ".typed"}]
    assert needed and not [n for n in needed if n not in names]


def test_metadata_names_the_licence_and_base_dependencies(wheel: zipfile.ZipFile) -> None:
    (meta_name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    meta = email.message_from_bytes(wheel.read(meta_name))
    assert meta["License-Expression"] == "MIT"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in wheel.namelist())
    base = {r.split(">")[0].split("=")[0].strip() for r in meta.get_all("Requires-Dist") if "extra ==" not in r}
    assert base == {"numpy", "av", "pillow", "pydantic", "threadpoolctl"}  # no GPU, RunPod or S3 package


def test_the_image_layout_runs_the_installed_library(wheel: zipfile.ZipFile, tmp_path: Path) -> None:
    """The Docker image installs the wheel and runs ``python -m handler`` from /app, which holds
    the worker and test_input.json but no reelgpu/ folder: one there would be imported instead
    of the installed package, the only one with the compiled resampler (it did: every CPU job
    ran the numpy fallback, 1.7x slower). Laid out here as the Dockerfile lays it out."""
    text = (REPO / "Dockerfile").read_text()
    install = text.index("pip install --no-deps .")
    assert "rm -rf reelgpu" in text[install:text.index("\n\n", install)], "the image keeps /app/reelgpu"
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                    wheel.filename], check=True, timeout=300)
    app = tmp_path / "app"
    for name in ("handler", "test_input.json"):
        src = REPO / name
        if src.is_dir():
            for f in src.rglob("*.py"):
                (app / f.relative_to(REPO)).parent.mkdir(parents=True, exist_ok=True)
                (app / f.relative_to(REPO)).write_bytes(f.read_bytes())
        else:
            (app / name).write_bytes(src.read_bytes())
    code = ("import reelgpu, handler.job; from reelgpu.ops import resample_native as r; "
            "print(reelgpu.__file__, r.AVAILABLE)")
    # PYTHONPATH stands for the image's site-packages; it comes before this venv's editable install.
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", code], cwd=app, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    location, compiled = done.stdout.split()
    assert Path(location).is_relative_to(site) and compiled == "True"
