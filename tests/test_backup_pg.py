"""``escrow-exporter backup --pg``: the ledger in PostgreSQL, dumped with pg_dump on the backup's
schedule, restorable, with the same backup-age metric as the state file (issue 17), so
EscrowBackupStale covers the ledger too."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from exporter.backup import _read_textfile
from tests.support.pg_server import PG_BIN, PgServer, pg_server  # noqa: F401 - the session fixture
from tests.support.util import ROOT, VENV_BIN, free_port, stop_process, wait_http

ROWS = "SELECT count(*), sum(amount) FROM ledger_entries"


def _db(pg: PgServer, name: str) -> str:
    pg.psql(f"DROP DATABASE IF EXISTS {name}")
    pg.psql(f"CREATE DATABASE {name}")
    return pg.dsn.rsplit("/", 1)[0] + f"/{name}"


def backup(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "escrow-exporter"), "backup", "--pg-dump", str(PG_BIN / "pg_dump"), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_pg_dump_of_the_ledger_restores_exactly_and_reports_its_age(
    pg_server: PgServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    dsn = _db(pg_server, "ledger_backup_src")
    pg_server.psql(
        "CREATE TABLE ledger_entries (id bigserial PRIMARY KEY, account text NOT NULL, amount numeric NOT NULL);"
        "INSERT INTO ledger_entries (account, amount)"
        " SELECT 'escrow_' || (i % 7), i * 1.000001 FROM generate_series(1, 5000) i",
        dsn,
    )
    textfile, dest = tmp_path / "escrow_backup.prom", tmp_path / "backups"
    before = time.time()
    r = backup("--pg", f"ledger={dsn}", "--dest", str(dest), "--keep", "2", "--textfile", str(textfile))
    assert r.returncode == 0, r.stderr
    (dump,) = dest.glob("ledger-*.dump")
    metrics = _read_textfile(textfile)
    assert int(metrics[("escrow_backup_size_bytes", "ledger")]) == dump.stat().st_size > 0
    assert before <= float(metrics[("escrow_backup_last_success_timestamp_seconds", "ledger")]) <= time.time()

    # Restore into a fresh database (docs/backups.md): the same rows, to the last digit.
    restored = _db(pg_server, "ledger_backup_restored")
    subprocess.run(
        [str(PG_BIN / "pg_restore"), "--no-owner", f"--dbname={restored}", str(dump)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert pg_server.psql(ROWS, restored) == pg_server.psql(ROWS, dsn)
    assert pg_server.psql(ROWS, restored).strip() == "5000|12502512.502500"


def test_an_unreachable_database_fails_naming_it_and_keeps_the_last_metrics(
    pg_server: PgServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    textfile, dest = tmp_path / "escrow_backup.prom", tmp_path / "backups"
    good = _db(pg_server, "ledger_backup_ok")
    assert backup("--pg", f"ledger={good}", "--dest", str(dest), "--textfile", str(textfile)).returncode == 0
    before = _read_textfile(textfile)
    gone = pg_server.dsn.rsplit("/", 1)[0] + "/no_such_ledger"
    r = backup("--pg", f"ledger={gone}", "--dest", str(dest), "--textfile", str(textfile))
    assert r.returncode == 1
    assert "ledger: pg_dump failed" in r.stderr and "no_such_ledger" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    # The last success stays: its age grows and EscrowBackupStale fires; no partial dump is left.
    assert _read_textfile(textfile) == before
    assert [p.name for p in dest.iterdir() if p.name.startswith(".")] == []


def test_compose_ledger_backup_script_dumps_and_node_exporter_merges_both_textfiles(
    pg_server: PgServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    """deploy/compose/ledger-backup.sh (the compose ledger-backup service, in the postgres image)
    with a real pg_dump: a restorable dump, and metrics node_exporter reads beside the state
    backup's own textfile, as in compose."""
    dsn = _db(pg_server, "ledger_backup_compose")
    pg_server.psql(
        "CREATE TABLE ledger_entries (amount numeric); INSERT INTO ledger_entries VALUES (1.5), (2)", dsn
    )
    dest = tmp_path / "backups"
    dest.mkdir()
    for old in ("ledger-20200101T000000Z.dump", "ledger-20200102T000000Z.dump"):
        (dest / old).write_bytes(b"old")
    env = {"PATH": f"{PG_BIN}:/usr/bin:/bin", "LEDGER_DSN": dsn, "BACKUP_DIR": str(dest), "BACKUP_KEEP": "2"}
    r = subprocess.run(
        ["sh", str(ROOT / "deploy" / "compose" / "ledger-backup.sh")],
        env={**env, "BACKUP_INTERVAL_SECONDS": "0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    dumps = sorted(p.name for p in dest.glob("ledger-*.dump"))
    assert len(dumps) == 2 and dumps[0] == "ledger-20200102T000000Z.dump", dumps  # 2 kept, oldest gone
    restored = _db(pg_server, "ledger_backup_compose_restored")
    subprocess.run(
        [str(PG_BIN / "pg_restore"), "--no-owner", f"--dbname={restored}", str(dest / dumps[1])],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert pg_server.psql("SELECT sum(amount) FROM ledger_entries", restored).strip() == "3.5"
    (dest / "escrow_backup.prom").write_text(  # the state backup's file, as exporter/backup.py writes it
        "# HELP escrow_backup_last_success_timestamp_seconds Unix time the last successful backup of the source finished.\n"
        "# TYPE escrow_backup_last_success_timestamp_seconds gauge\n"
        'escrow_backup_last_success_timestamp_seconds{source="state"} 100\n'
    )
    node_exporter = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if node_exporter is None:
        pytest.skip("node_exporter not installed (make setup)")
    port = free_port()
    proc = subprocess.Popen(
        [node_exporter, f"--web.listen-address=127.0.0.1:{port}", "--collector.disable-defaults",
         "--collector.textfile", f"--collector.textfile.directory={dest}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/metrics")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    finally:
        stop_process(proc)
    assert "node_textfile_scrape_error 0" in text
    ledger = re.search(r'^escrow_backup_last_success_timestamp_seconds\{source="ledger"\} (\S+)$', text, re.M)
    assert ledger and abs(float(ledger.group(1)) - time.time()) < 120, text
    assert 'escrow_backup_last_success_timestamp_seconds{source="state"} 100' in text
    size = re.search(r'^escrow_backup_size_bytes\{source="ledger"\} (\S+)$', text, re.M)
    assert size and float(size.group(1)) == (dest / dumps[1]).stat().st_size
