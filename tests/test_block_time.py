"""Event rates by block time (exporter.ingest.block_time): a backfill of old transactions fills
the minutes they happened in, so the 1h window holds only the last hour's events; the window
survives a SIGKILL exactly; the per-minute buckets are sealed, pruned and added to older state
files without touching their totals."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from devchain.chain import Chain
from exporter.ingest.block_time import RETAIN_MINUTES
from exporter.ingest.state import SCHEMA_VERSION, Cursor, StateError, StateStore
from tests.support.exporter_proc import sample, wait_until
from tests.support.ingest import (
    PROGRAM,
    ThreadDevchain,
    diff_totals,
    expected_totals,
    observed_windows,
    program_yaml,
    start_exporter,
    write_config,
)

PROGRAM_ID = "Escrow1111111111111111111111111111111111111"
EVENT = ("events", (("event", "WithdrawalProcessed"),))


def _events_and_amounts(truth: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in expected_totals(truth).items() if k.startswith(("events/", "amount/"))}


def _minus(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items()}


def _ingested_up_to(proc: Any, slot: int) -> str | None:
    text = proc.metrics()
    return text if (sample(text, "escrow_ingest_last_slot", program=PROGRAM) or 0) >= slot else None


def test_backfill_fills_the_hours_events_happened_in_and_a_restart_keeps_the_window(tmp_path: Path) -> None:
    # History: 300 transactions about 3 hours ago, then 60 about 30 minutes ago; nothing since.
    now = time.time()
    chain = Chain(seed=5, genesis_time=now - 3 * 3600)
    chain.step(300)
    old = _events_and_amounts(chain.state())
    chain.sync_clock(now - 1800)
    chain.step(60)
    everything = _events_and_amounts(chain.state())
    last_hour = _minus(everything, old)
    assert last_hour["events/WithdrawalProcessed"] > 0 and old["events/WithdrawalProcessed"] > 0
    newest_slot = chain.slot  # before the simulator's clock moves the chain on to now
    dc = ThreadDevchain(tps=0, chain=chain)
    config = write_config(
        tmp_path / "config.yml",
        [("a", dc.node("a"))],
        tmp_path / "state.sqlite",
        program_yaml(interval=0.3, accounts=False),  # a first deployment backfilling every signature
    )
    try:
        proc = start_exporter(config, tmp_path / "exporter-1.log")
        proc.wait_up()
        text = wait_until(
            lambda: _ingested_up_to(proc, newest_slot), timeout=60, what="the backfill ingested"
        )
        # The totals counted all 360 transactions at once; the 1h window only the last hour's.
        problems = diff_totals(last_hour, observed_windows(text, "1h"))
        assert not problems, "1h window differs from the last hour on chain:\n" + "\n".join(problems)
        problems = diff_totals(everything, observed_windows(text, "24h"))
        assert not problems, "24h window differs from the day on chain:\n" + "\n".join(problems)
        proc.kill()
        proc = start_exporter(config, tmp_path / "exporter-2.log")
        proc.wait_up()
        after = wait_until(lambda: _ingested_up_to(proc, newest_slot), timeout=30, what="the state restored")
        assert observed_windows(after, "1h") == observed_windows(text, "1h")
        assert observed_windows(after, "24h") == observed_windows(text, "24h")
        proc.stop()
    finally:
        dc.close()


def _open(path: Path) -> StateStore:
    store = StateStore(path)
    store.open()
    return store


def test_buckets_are_sealed_and_pruned(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    now = time.time()
    minute = int(now // 60)
    store = _open(path)
    store.load("p")
    store.save("p", PROGRAM_ID, Cursor("s1", 1, int(now)), {EVENT: 3}, now, {(minute, EVENT): 3})
    old = minute - RETAIN_MINUTES - 5
    store.save("p", PROGRAM_ID, Cursor("s2", 2, int(now)), {EVENT: 4}, now, {(old, EVENT): 1})
    store.save("p", PROGRAM_ID, Cursor("s3", 3, int(now)), {}, now, {}, [(old, EVENT)])
    store.close()
    store = _open(path)
    state = store.load("p")
    store.close()
    assert state is not None and state.minutes.as_dict() == {(minute, EVENT): 3}
    # A changed bucket is damage, as a changed total is.
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("UPDATE block_minutes SET value = '30'")
    db.close()
    store = _open(path)
    with pytest.raises(StateError) as e:
        store.load("p")
    store.close()
    assert e.value.reason == "state_damaged" and "seal" in str(e.value)


def test_a_version_2_state_file_opens_with_its_totals_and_gets_buckets(tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite"
    store = _open(path)
    store.load("p")
    store.save("p", PROGRAM_ID, Cursor("s1", 1, 1_700_000_000), {EVENT: 7}, 1.0)
    store.close()
    # What the previous release wrote: no block_minutes table, schema version 2.
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(
        "DROP TABLE block_minutes; DROP TABLE pushed; UPDATE meta SET value = '2' WHERE key = 'schema_version';"
    )
    db.close()
    store = _open(path)
    state = store.load("p")
    assert state is not None and state.counters == {EVENT: 7} and state.minutes.as_dict() == {}
    minute = int(time.time() // 60)
    store.save("p", PROGRAM_ID, Cursor("s2", 2, 1_700_000_060), {EVENT: 8}, 2.0, {(minute, EVENT): 1})
    store.close()
    store = _open(path)
    state = store.load("p")
    store.close()
    assert state is not None and state.counters == {EVENT: 8} and state.minutes.as_dict() == {(minute, EVENT): 1}
    version = sqlite3.connect(path).execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert version == (str(SCHEMA_VERSION),)
