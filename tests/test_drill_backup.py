"""Backup and restore drill (issue 17, ``make drills``): ``escrow-exporter backup`` copies the state
file while the exporter is ingesting; the host is then lost; a fresh exporter started on the
restored copy in a new directory catches up and ends with totals exactly equal to the simulator's
ground truth: the events after the backup's cursor are counted once, none twice, none lost.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.backup import _read_textfile
from tests.support.drills import (
    INGEST,
    CountingDevchain,
    assert_exact,
    drill_config,
    scrape,
    settle,
    start,
    wait_collectors_up,
)
from tests.support.exporter_proc import sample, wait_until
from tests.support.util import VENV_BIN


@pytest.fixture
def chain() -> Iterator[CountingDevchain]:
    dc = CountingDevchain(seed=31, tps=30)
    yield dc
    dc.close()


def backup(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "escrow-exporter"), "backup", *args], capture_output=True, text=True, timeout=120
    )


def counted(text: str | None) -> float:
    return (
        0.0
        if text is None
        else sum(
            sample(text, "escrow_transactions_total", program="paid_match", status=s) or 0.0
            for s in ("success", "failed")
        )
    )


@pytest.mark.drill
def test_restore_into_a_fresh_exporter_gives_exact_totals(tmp_path: Path, chain: CountingDevchain) -> None:
    old_host, new_host, copies = tmp_path / "old", tmp_path / "new", tmp_path / "backups"
    old_host.mkdir()
    new_host.mkdir()
    proc = start(drill_config(old_host, chain), old_host / "exporter.log")
    try:
        wait_collectors_up(proc, INGEST)
        wait_until(lambda: counted(scrape(proc)) >= 100, timeout=60, what="100 transactions ingested")
        # While the exporter keeps ingesting (and writing the state file).
        textfile = tmp_path / "escrow_backup.prom"
        r = backup(
            "--source",
            f"state={old_host / 'state.sqlite'}",
            "--dest",
            str(copies),
            "--textfile",
            str(textfile),
        )
        assert r.returncode == 0, r.stderr
        wait_until(
            lambda: counted(scrape(proc)) >= 200, timeout=60, what="ingestion going on after the backup"
        )
    finally:
        proc.stop()  # the old host is lost: only the copy survives
    [copy] = sorted(copies.glob("state-*.sqlite"))
    metrics = _read_textfile(textfile)
    assert int(metrics[("escrow_backup_size_bytes", "state")]) == copy.stat().st_size > 0
    assert float(metrics[("escrow_backup_last_success_timestamp_seconds", "state")]) > 0
    assert sqlite3.connect(copy).execute("PRAGMA integrity_check").fetchone() == ("ok",)

    # Restore (docs/backups.md): the copy becomes the new host's state file.
    shutil.copy(copy, new_host / "state.sqlite")
    fresh = start(drill_config(new_host, chain), new_host / "exporter.log")
    try:
        truth, text = settle(fresh, chain)
    finally:
        fresh.stop()
    assert_exact(truth, text)


def test_a_missing_source_fails_naming_it_and_keeps_the_last_metrics(tmp_path: Path) -> None:
    good = tmp_path / "ledger.sqlite"
    sqlite3.connect(good).execute("CREATE TABLE t (x)").connection.commit()
    textfile = tmp_path / "escrow_backup.prom"
    first = backup("--source", f"ledger={good}", "--dest", str(tmp_path / "b"), "--textfile", str(textfile))
    assert first.returncode == 0, first.stderr
    before = _read_textfile(textfile)
    r = backup(
        "--source", f"state={tmp_path / 'gone.sqlite'}", "--source", f"ledger={tmp_path / 'gone2.sqlite'}",
        "--dest", str(tmp_path / "b"), "--textfile", str(textfile),
    )  # fmt: skip
    assert r.returncode == 1
    assert f"state: {tmp_path / 'gone.sqlite'}: no such file" in r.stderr and "Traceback" not in r.stderr
    # A failed run leaves the last success in place: its age grows and EscrowBackupStale fires.
    assert _read_textfile(textfile) == before
