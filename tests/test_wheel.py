"""The wheel installs into a fresh virtualenv and runs `escrow-exporter --version` from there.

The wheel is built from a copy of the sources (so nothing is written into the checkout) and
installed without its dependencies; those come from this checkout's .venv on PYTHONPATH, which
does not activate the editable install (a .pth hook), so `exporter` can only come from the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from exporter import __version__
from tests.support.util import ROOT, VENV_BIN

SOURCES = ("pyproject.toml", "README.md", "exporter", "devchain")


def _run(*argv: str | Path, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=300, **kw)  # type: ignore[call-overload]


def test_wheel_installs_and_runs_version_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, src / name)
    built = _run(VENV_BIN / "pip", "wheel", "-q", "--no-deps", "-w", tmp_path / "dist", src)
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = list((tmp_path / "dist").glob("*.whl"))

    # Every data file the package reads at run time is in the wheel (package-data globs).
    names = set(zipfile.ZipFile(wheel).namelist())
    data = [
        p.relative_to(ROOT).as_posix()
        for pkg in ("exporter", "devchain")
        for p in (ROOT / pkg).rglob("*")
        if p.is_file() and p.suffix in {".json", ".sql", ".yml", ".html"} and "__pycache__" not in p.parts
    ]
    assert data and not [d for d in data if d not in names]

    venv = tmp_path / "fresh"
    made = _run(sys.executable, "-m", "venv", venv)
    assert made.returncode == 0, made.stderr
    installed = _run(venv / "bin" / "pip", "install", "-q", "--no-deps", wheel)
    assert installed.returncode == 0, installed.stderr[-3000:]
    deps = sysconfig.get_paths(vars={"base": str(ROOT / ".venv"), "platbase": str(ROOT / ".venv")})["purelib"]
    env = {**os.environ, "PYTHONPATH": deps}
    version = _run(venv / "bin" / "escrow-exporter", "--version", env=env, cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"escrow-exporter {__version__}"
    where = _run(
        venv / "bin" / "python", "-c", "import exporter; print(exporter.__file__)", env=env, cwd=tmp_path
    )
    assert where.stdout.strip().startswith(str(venv)), where.stdout + where.stderr
