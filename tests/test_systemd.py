"""deploy/systemd: the unit verifies, is hardened, and its command line starts the exporter."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.util import ROOT, VENV_BIN, free_port, stop_process, wait_http

UNIT = ROOT / "deploy" / "systemd" / "escrow-exporter.service"
INSTALLED_BINARY = "/opt/escrow-exporter/venv/bin/escrow-exporter"

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (Debian package systemd)",
)


def _exec_start() -> list[str]:
    text = UNIT.read_text().replace("\\\n", " ")
    line = next(ln for ln in text.splitlines() if ln.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart="))


def _local_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's binary (verify checks it exists)."""
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace(INSTALLED_BINARY, str(VENV_BIN / "escrow-exporter")))
    return unit


@needs_systemd_analyze
def test_unit_passes_systemd_analyze_verify_without_a_warning(tmp_path: Path) -> None:
    assert _exec_start()[0] == INSTALLED_BINARY
    r = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(_local_copy(tmp_path))], capture_output=True, text=True
    )
    # Unknown or misspelt keys are only warnings ("ignoring"): any line about the unit fails.
    about_unit = [ln for ln in (r.stdout + r.stderr).splitlines() if UNIT.name in ln]
    assert r.returncode == 0 and not about_unit, r.stdout + r.stderr


@needs_systemd_analyze
def test_unit_is_hardened(tmp_path: Path) -> None:
    r = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=20", str(_local_copy(tmp_path))],
        capture_output=True,
        text=True,
    )
    # --threshold=20: exposure at most 2.0 of 10 ("OK"); an unhardened service scores 9.6.
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr


def test_the_units_command_line_starts_the_exporter(tmp_path: Path) -> None:
    """ExecStart's flags as the unit gives them, with the config and port swapped for the test's."""
    argv = _exec_start()
    config = tmp_path / "config.yml"
    config.write_text(
        f"sql:\n  databases: [{{name: b, driver: sqlite, path: {tmp_path / 'b.sqlite'}}}]\n  queries: []\n"
    )
    port = free_port()
    args = [
        f"--config.file={config}" if a.startswith("--config.file=") else
        f"--web.listen-address=127.0.0.1:{port}" if a.startswith("--web.listen-address=") else a
        for a in argv[1:]
    ]  # fmt: skip
    assert args != argv[1:]
    proc = subprocess.Popen([str(VENV_BIN / "escrow-exporter"), *args], stderr=subprocess.PIPE)
    try:
        wait_http(f"http://127.0.0.1:{port}/-/healthy", timeout=20)
    finally:
        stop_process(proc)
    assert proc.returncode == 0


def test_runbooks_that_use_systemctl_point_at_the_unit() -> None:
    for path in sorted((ROOT / "docs" / "runbooks").glob("*.md")):
        text = path.read_text()
        if re.search(r"systemctl \w+ escrow-exporter", text):
            assert "deploy/systemd/escrow-exporter.service" in text, path.name
