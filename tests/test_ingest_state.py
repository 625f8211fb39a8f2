"""The state file is never taken for a first start unless it is absent, and damage to it is
found: emptied, truncated, single bits flipped in stored totals, an upgrade from version 1.
One process per state file."""

from __future__ import annotations

import random
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from exporter.collectors.base import CollectorError
from exporter.collectors.ingest import IngestCollector, build_program_collectors
from exporter.config import load_config
from exporter.ingest.state import SCHEMA_VERSION, Cursor, ProgramState, StateError, StateStore
from exporter.rpc.metrics import RpcMetrics
from exporter.rpc.pool import RpcPool
from tests.support.exporter_proc import ExporterProcess, exporter_argv
from tests.support.ingest import (
    ThreadDevchain,
    diff_totals,
    expected_totals,
    ingest,
    observed_totals,
    program_yaml,
    scrape,
    write_config,
)
from tests.support.util import free_port

PROGRAM_ID = "Escrow1111111111111111111111111111111111111"


@pytest.fixture(scope="module")
def chain() -> Any:
    dc = ThreadDevchain(seed=9, tps=0)
    dc.loop.call_soon_threadsafe(dc.chain.step, 120)
    dc.truth = dc.stop_generator()
    yield dc
    dc.close()


def _counters(n: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], int]:
    """Distinct values with distinct decimal texts, so each can be found in the file's bytes."""
    return {("events", (("event", f"E{i}"),)): 7_000_000_000_000 + 1_000_003 * i for i in range(n)}


def _write_state(path: Path, counters: dict[Any, int]) -> ProgramState:
    store = StateStore(path)
    store.open()
    assert store.load("p") is None
    store.save("p", PROGRAM_ID, Cursor("sig1", 10, 1_700_000_000), {}, 1.0)
    items = list(counters.items())
    for i in range(0, len(items), 7):  # several commits, as ingestion makes them
        store.save("p", PROGRAM_ID, Cursor(f"sig{i}", 10 + i, 1_700_000_000 + i), dict(items[i : i + 7]), 2.0)
    store.close()  # the last connection folds the WAL into the file: the file is all there is
    assert not list(path.parent.glob(path.name + "-*"))
    return _load(path)


def _load(path: Path) -> ProgramState:
    store = StateStore(path)
    try:
        store.open()
        state = store.load("p")
    finally:
        store.close()
    assert state is not None
    return state


def _with_bit_flipped(original: Path, data: bytes, offset: int, bit: int, i: int) -> Path:
    copy = original.parent / f"flip{i}.sqlite"
    flipped = bytearray(data)
    flipped[offset] ^= 1 << bit
    copy.write_bytes(bytes(flipped))
    return copy


def _outcome(path: Path) -> ProgramState | StateError:
    try:
        return _load(path)
    except StateError as e:
        return e
    finally:
        for f in path.parent.glob(path.name + "*"):
            f.unlink()


def test_every_bit_flip_in_stored_totals_is_detected(tmp_path: Path) -> None:
    """The review flipped single bits: 25 of 300 changed totals silently. Here every bit of every
    stored value is flipped in turn; each must stop the load, none may change a total."""
    path = tmp_path / "s.sqlite"
    saved = _write_state(path, _counters(20))
    data = path.read_bytes()
    offsets = []
    for value in saved.counters.values():
        text = str(value).encode()
        at = data.find(text)
        assert at > 0 and data.find(text, at + 1) == -1, f"{text!r} not found once in the file"
        offsets.extend(range(at, at + len(text)))
    assert len(offsets) == 20 * 13
    undetected = []
    for i, offset in enumerate(offsets):
        for bit in range(8):
            got = _outcome(_with_bit_flipped(path, data, offset, bit, i))
            if not isinstance(got, StateError):
                undetected.append((offset, bit, got == saved))
            else:
                assert got.reason == "state_damaged" and "restore it from a backup" in str(got), got
    assert not undetected, f"{len(undetected)} of {len(offsets) * 8} flips not detected: {undetected[:5]}"


def test_random_bit_flips_never_change_totals_silently(tmp_path: Path) -> None:
    """Anywhere in the file (header, b-tree, schema, free space): refused, or the same state."""
    path = tmp_path / "s.sqlite"
    saved = _write_state(path, _counters(20))
    data = path.read_bytes()
    rng = random.Random(11)
    silent = []
    for i in range(400):
        offset, bit = rng.randrange(len(data)), rng.randrange(8)
        got = _outcome(_with_bit_flipped(path, data, offset, bit, i))
        if isinstance(got, ProgramState) and got != saved:
            silent.append((offset, bit))
    assert not silent, f"totals changed without notice after flipping (offset, bit): {silent}"


def test_truncated_state_file_never_changes_totals(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    saved = _write_state(path, _counters(200))
    data = path.read_bytes()
    assert len(data) >= 4 * 4096
    refused = 0
    for i, size in enumerate([0, 50, 100, 4096, *range(4096 + 512, len(data), 1024)]):
        copy = tmp_path / f"cut{i}.sqlite"
        copy.write_bytes(data[:size])
        got = _outcome(copy)
        assert isinstance(got, StateError) or got == saved, f"cut at {size} bytes: totals changed"
        refused += isinstance(got, StateError)
    assert refused >= 3


def test_upgrade_from_version_1_seals_the_existing_totals(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE cursors (program TEXT PRIMARY KEY, program_id TEXT NOT NULL, signature TEXT,
            slot INTEGER, block_time INTEGER, updated_at REAL NOT NULL);
        CREATE TABLE counters (program TEXT NOT NULL, metric TEXT NOT NULL, labels TEXT NOT NULL,
            value TEXT NOT NULL, PRIMARY KEY (program, metric, labels));
        INSERT INTO meta VALUES ('schema_version', '1');
        """
    )
    db.execute("INSERT INTO cursors VALUES ('p', ?, 'sigA', 5, 1700000000, 1.0)", (PROGRAM_ID,))
    db.execute("""INSERT INTO counters VALUES ('p', 'events', '[["event","E"]]', '184467440737095516150')""")
    db.close()
    state = _load(path)
    assert state.cursor == Cursor("sigA", 5, 1_700_000_000)
    assert state.counters == {("events", (("event", "E"),)): 184467440737095516150}
    assert sqlite3.connect(path).execute("SELECT value FROM meta").fetchone() == (str(SCHEMA_VERSION),)
    # Sealed from now on: a changed total is found.
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("UPDATE counters SET value = '184467440737095516151'")
    db.close()
    with pytest.raises(StateError) as e:
        _load(path)
    assert e.value.reason == "state_damaged" and "do not match their seal" in str(e.value)


async def _cycle(cfg: Path) -> tuple[IngestCollector, CollectorError | None]:
    config = load_config(cfg)
    async with aiohttp.ClientSession() as session:
        pool = RpcPool(config.solana, session, RpcMetrics(CollectorRegistry()))
        (collector, *_) = build_program_collectors(config, pool)
        assert isinstance(collector, IngestCollector)
        try:
            await collector.run_cycle()
            return collector, None
        except CollectorError as e:
            return collector, e
        finally:
            await collector.close()


def _empty(state: Path, how: str) -> bytes:
    """Empty the state file in one of the ways it happens; return its bytes."""
    for extra in state.parent.glob("s.sqlite-*"):
        extra.unlink()
    if how == "zero_bytes":
        state.write_bytes(b"")
    elif how == "header_only":  # a valid SQLite file without a table, as a bare `sqlite3 FILE` leaves
        state.unlink()
        db = sqlite3.connect(state)
        db.execute("PRAGMA user_version = 1")
        db.close()
        assert state.stat().st_size > 0
    else:
        db = sqlite3.connect(state, isolation_level=None)
        for table in ("meta", "cursors", "counters", "seals"):
            db.execute(f"DROP TABLE {table}")
        db.execute("VACUUM")
        db.close()
    return state.read_bytes()


@pytest.mark.parametrize("how", ["zero_bytes", "header_only", "tables_emptied"])
async def test_emptied_state_file_stops_ingestion_instead_of_a_first_start(
    tmp_path: Path, chain: ThreadDevchain, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "s.sqlite"
    cfg = write_config(tmp_path / "c.yml", [("a", chain.url)], state, program_yaml(accounts=False))
    # Absent: a genuine first start, which counts everything.
    _, text = await ingest(cfg)
    assert not diff_totals(expected_totals(chain.truth), observed_totals(text))
    before = _empty(state, how)
    collector, error = await _cycle(cfg)
    assert error is not None, "an emptied state file was taken for a first start"
    assert error.reason == "state_damaged"
    assert str(state) in error.message and "delete it" in error.message
    assert "escrow_events_total{" not in scrape([collector]), "no totals rather than zeros"
    assert state.read_bytes() == before, "the file must be left as found"
    assert any(r.levelname == "ERROR" and "needs the operator" in r.getMessage() for r in caplog.records), (
        "one loud log line"
    )
    # The operator deletes it on purpose: a first start again, counting from the backfill.
    state.unlink()
    _, error = await _cycle(cfg)
    assert error is None


def test_state_store_reopens_a_file_it_created(tmp_path: Path) -> None:
    """Creating under a temporary name leaves nothing beside the state but its lock file."""
    path = tmp_path / "dir" / "s.sqlite"
    store = StateStore(path)
    store.open()
    store.close()
    assert sorted(p.name for p in path.parent.iterdir()) == ["s.sqlite", "s.sqlite.lock"]
    _write_state(tmp_path / "other.sqlite", _counters(3))
    shutil.copy(tmp_path / "other.sqlite", path)
    assert _load(path).counters == _counters(3)


def test_second_exporter_on_one_state_file_refuses_to_start(tmp_path: Path) -> None:
    """Two processes on one state file corrupted totals silently; the second now refuses, in one line."""
    state = tmp_path / "state" / "s.sqlite"
    dead_rpc = f"http://127.0.0.1:{free_port()}"  # ingestion itself does not matter here
    cfg = write_config(tmp_path / "c.yml", [("a", dead_rpc)], state, program_yaml(accounts=False))
    first = ExporterProcess(cfg, log=tmp_path / "first.log")
    try:
        first.wait_up()
        second = subprocess.run(exporter_argv(cfg, free_port()), capture_output=True, text=True, timeout=60)
        assert second.returncode == 1, second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in second.stderr, second.stderr
        assert str(state) in lines[0] and f"pid {first.proc.pid}" in lines[0], lines[0]
        assert "level=error" in lines[0]
        first.wait_up()  # the first one carries on
    finally:
        first.kill()
    # The kernel drops the lock of a killed holder: a restart is never blocked by a stale lock file.
    third = ExporterProcess(cfg, log=tmp_path / "third.log")
    try:
        third.wait_up()
        assert third.proc.poll() is None
    finally:
        third.stop()


def test_lock_is_shared_inside_one_process_and_refused_across(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    a, b = StateStore(path), StateStore(path)
    a.open()
    b.open()  # two collectors of one process share the lock
    probe = (
        "import sys\nfrom exporter.ingest.state import StateStore, StateError\n"
        f"try:\n    StateStore({str(path)!r}).open()\nexcept StateError as e:\n"
        "    print(e.reason, e); sys.exit(3)\n"
    )
    try:
        other = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
        assert other.returncode == 3 and other.stdout.startswith("state_locked"), other
        a.close()
        other = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
        assert other.returncode == 3, "still held by b"
    finally:
        b.close()
    other = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert other.returncode == 0, other


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_state_file_deleted_or_replaced_while_in_use_stops_counting(tmp_path: Path, how: str) -> None:
    """The open connection would go on writing to a file nobody reads; the next start would count from 0."""
    path = tmp_path / "s.sqlite"
    store = StateStore(path)
    store.open()
    try:
        assert store.load("p") is None
        store.save("p", PROGRAM_ID, Cursor("sig1", 10, 1), {("events", ()): 5}, 1.0)
        for f in tmp_path.glob("s.sqlite*"):
            if not f.name.endswith(".lock"):
                f.unlink()
        if how == "replaced":  # e.g. a backup copied over it while the exporter ran
            _write_state(tmp_path / "backup" / "b.sqlite", _counters(2))
            shutil.copy(tmp_path / "backup" / "b.sqlite", path)
        with pytest.raises(StateError) as e:
            store.save("p", PROGRAM_ID, Cursor("sig2", 11, 2), {("events", ()): 6}, 2.0)
        assert e.value.reason == "state_damaged" and "deleted or replaced while in use" in str(e.value)
    finally:
        store.close()


def test_journal_left_by_a_deleted_state_file_is_not_replayed(tmp_path: Path) -> None:
    """Deleting the file to start over, but not its -wal: the new file must not come back with
    the old totals (or part of them)."""
    path = tmp_path / "s.sqlite"
    store = StateStore(path)
    store.open()
    store.load("p")
    store.save("p", PROGRAM_ID, Cursor("sig1", 10, 1), {("events", ()): 5}, 1.0)
    wal = (tmp_path / "s.sqlite-wal").read_bytes()  # the commit, not yet checkpointed (kill -9)
    store.close()
    path.unlink()
    (tmp_path / "s.sqlite-wal").write_bytes(wal)
    fresh = StateStore(path)
    fresh.open()
    try:
        assert fresh.load("p") is None, "a first start, not the deleted file's totals"
    finally:
        fresh.close()
