"""deploy/systemd: the unit verifies, is hardened, and its command line starts the exporter."""

from __future__ import annotations

import re
import shlex
import shutil
import sqlite3
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


BACKUP_UNITS = [
    UNIT.with_name("escrow-exporter-backup.service"),
    UNIT.with_name("escrow-exporter-backup.timer"),
]


@needs_systemd_analyze
def test_backup_units_pass_verify_and_the_service_is_hardened(tmp_path: Path) -> None:
    """Issue 17: the scheduled backup beside the exporter's unit."""
    for unit in BACKUP_UNITS:
        (tmp_path / unit.name).write_text(
            unit.read_text().replace(INSTALLED_BINARY, str(VENV_BIN / "escrow-exporter"))
        )
    service, timer = (tmp_path / u.name for u in BACKUP_UNITS)
    r = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(service), str(timer)], capture_output=True, text=True
    )
    about = [ln for ln in (r.stdout + r.stderr).splitlines() if "escrow-exporter-backup" in ln]
    assert r.returncode == 0 and not about, r.stdout + r.stderr
    r = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=20", str(service)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    cal = subprocess.run(["systemd-analyze", "calendar", "00/6:17"], capture_output=True, text=True)
    assert cal.returncode == 0 and "00/6:17:00" in cal.stdout, cal.stdout + cal.stderr


def test_backup_units_command_line_backs_up_a_state_file(tmp_path: Path) -> None:
    """The service's ExecStart, paths swapped for the test's, makes a copy and the textfile."""
    text = BACKUP_UNITS[0].read_text().replace("\\\n", " ")
    argv = shlex.split(
        next(ln for ln in text.splitlines() if ln.startswith("ExecStart=")).removeprefix("ExecStart=")
    )
    assert argv[0] == INSTALLED_BINARY and argv[1] == "backup"
    state = tmp_path / "state.sqlite"
    sqlite3.connect(state).execute("CREATE TABLE t (x)").connection.commit()
    swap = {
        "state=/var/lib/escrow-exporter/state.sqlite": f"state={state}",
        "/var/lib/escrow-exporter-backup": str(tmp_path / "copies"),
        "/var/lib/prometheus/node-exporter/escrow_backup.prom": str(tmp_path / "escrow_backup.prom"),
    }
    argv = [str(VENV_BIN / "escrow-exporter"), *(swap.get(a, a) for a in argv[1:])]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "copies").glob("state-*.sqlite"))) == 1
    assert 'escrow_backup_size_bytes{source="state"}' in (tmp_path / "escrow_backup.prom").read_text()
