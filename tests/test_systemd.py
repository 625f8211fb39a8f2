"""deploy/systemd: the unit verifies, is hardened, and its command line starts the exporter."""

from __future__ import annotations

import re
import shlex
import shutil
import sqlite3
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from tests.support.pg_server import PG_BIN, PgServer, pg_server  # noqa: F401 - the session fixture
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
LEDGER_UNITS = [
    UNIT.with_name("escrow-ledger-backup.service"),
    UNIT.with_name("escrow-ledger-backup.timer"),
]
SLA_UNITS = [UNIT.with_name("escrow-sla-report.service"), UNIT.with_name("escrow-sla-report.timer")]


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


@needs_systemd_analyze
@pytest.mark.parametrize(
    "units", [BACKUP_UNITS, LEDGER_UNITS, SLA_UNITS], ids=["state", "ledger", "sla-report"]
)
def test_each_backup_timer_verifies_and_its_service_is_hardened(tmp_path: Path, units: list[Path]) -> None:
    """The state file's pair, the ledger's pg_dump pair and the monthly SLA report's pair (issue
    17) each verify without a warning, and each service rates at most 2.0 exposure."""
    for unit in units:
        (tmp_path / unit.name).write_text(
            unit.read_text().replace(INSTALLED_BINARY, str(VENV_BIN / "escrow-exporter"))
        )
    service, timer = (tmp_path / u.name for u in units)
    r = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(service), str(timer)], capture_output=True, text=True
    )
    about = [ln for ln in (r.stdout + r.stderr).splitlines() if service.stem in ln]
    assert r.returncode == 0 and not about, r.stdout + r.stderr
    r = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=20", str(service)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    [calendar] = re.findall(r"^OnCalendar=(.+)$", timer.read_text(), re.M)
    cal = subprocess.run(["systemd-analyze", "calendar", calendar], capture_output=True, text=True)
    assert cal.returncode == 0, cal.stdout + cal.stderr


def _unit_lines(unit: Path, key: str) -> list[str]:
    text = unit.read_text().replace("\\\n", " ")
    return [ln.removeprefix(f"{key}=") for ln in text.splitlines() if ln.startswith(f"{key}=")]


def test_ledger_backup_units_command_line_dumps_a_real_ledger(
    pg_server: PgServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    """escrow-ledger-backup.service's ExecStart, the DSN and paths swapped for the test's, dumps a
    real PostgreSQL into a restorable file and writes source="ledger" to its own textfile."""
    service = LEDGER_UNITS[0]
    [exec_start] = _unit_lines(service, "ExecStart")
    argv = shlex.split(exec_start)
    assert argv[0] == INSTALLED_BINARY and argv[1] == "backup"
    # The password reaches libpq as a credential file, never in the DSN (it would show in `ps`).
    [cred] = _unit_lines(service, "LoadCredential")
    assert f"PGPASSFILE=%d/{cred.split(':')[0]}" in _unit_lines(service, "Environment")
    [pg] = [a for a in argv if a.startswith("ledger=postgresql://")]
    assert urllib.parse.urlsplit(pg.removeprefix("ledger=")).password is None
    # Its own textfile: the state file's unit rewrites escrow_backup.prom.
    state_textfile = shlex.split(_unit_lines(BACKUP_UNITS[0], "ExecStart")[0])
    textfile = argv[argv.index("--textfile") + 1]
    assert textfile != state_textfile[state_textfile.index("--textfile") + 1]
    # Hour-aligned like the state file's timer, at another minute.
    assert _unit_lines(LEDGER_UNITS[1], "OnCalendar") != _unit_lines(BACKUP_UNITS[1], "OnCalendar")

    pg_server.psql("DROP DATABASE IF EXISTS systemd_ledger")
    pg_server.psql("CREATE DATABASE systemd_ledger")
    dsn = pg_server.dsn.rsplit("/", 1)[0] + "/systemd_ledger"
    pg_server.psql(
        "CREATE TABLE ledger_entries (amount numeric); INSERT INTO ledger_entries VALUES (7), (0.5)", dsn
    )
    dest = argv[argv.index("--dest") + 1]
    swap = {pg: f"ledger={dsn}", dest: str(tmp_path / "dumps"), textfile: str(tmp_path / "ledger.prom")}
    cmd = [str(VENV_BIN / "escrow-exporter"), *(swap.get(a, a) for a in argv[1:])]
    r = subprocess.run(
        cmd, capture_output=True, text=True, timeout=60, env={"PATH": f"{PG_BIN}:/usr/bin:/bin"}
    )
    assert r.returncode == 0, r.stderr
    [dump] = (tmp_path / "dumps").glob("ledger-*.dump")
    assert (
        'escrow_backup_last_success_timestamp_seconds{source="ledger"}'
        in (tmp_path / "ledger.prom").read_text()
    )
    pg_server.psql("DROP DATABASE IF EXISTS systemd_ledger_restored")
    pg_server.psql("CREATE DATABASE systemd_ledger_restored")
    restored = pg_server.dsn.rsplit("/", 1)[0] + "/systemd_ledger_restored"
    subprocess.run(
        [str(PG_BIN / "pg_restore"), "--no-owner", f"--dbname={restored}", str(dump)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert pg_server.psql("SELECT sum(amount) FROM ledger_entries", restored).strip() == "7.5"
