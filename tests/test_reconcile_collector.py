"""The reconciliation collector never goes quietly blind: when the chain, the ingestion or the ledger
cannot be read, the view pair is reported down with the reason, its last drift is kept with a
growing slot age, and nothing reads as "0 drift". Fakes stand in for the RPC pool and the database;
the real ones are exercised by tests/test_reconcile_e2e.py."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from typing import Any

import pytest
from prometheus_client.core import Metric

from exporter.accounts import WatchedAccount
from exporter.collectors.base import CollectorError
from exporter.collectors.reconcile import ReconcileCollector
from exporter.config.reconcile import ReconciliationConfig
from exporter.ingest.state import Cursor
from exporter.ingest.totals import Totals
from exporter.reconcile.flows import FlowTracker
from exporter.rpc.errors import RpcError
from exporter.solana import parse_pubkey
from exporter.sql.database import UNAVAILABLE, QueryResult, SqlError
from tests.support.stack import example_program

ESCROW = WatchedAccount(
    "escrow_sol", parse_pubkey("9cmt1bK64Wps8EWG9QBTnwmFL2r7tRkLFzPdbdLCrjfy"), "sol", "escrow"
)


class FakePool:
    commitment = "confirmed"

    def __init__(self) -> None:
        self.lamports = 1_000
        self.slot = 500
        self.down = False

    async def call(self, method: str, params: list[Any]) -> Any:
        if self.down:
            raise RpcError("devchain", "connection refused")
        info = {
            "lamports": self.lamports,
            "owner": "11111111111111111111111111111111",
            "data": [base64.b64encode(b"").decode(), "base64"],
        }
        return {"context": {"slot": self.slot}, "value": [info]}


class FakeDb:
    class config:  # noqa: N801 - stands in for DatabaseConfig
        driver = "sqlite"

    def __init__(self) -> None:
        self.whole = "0.000001"
        self.down = False
        self.params: list[Sequence[Any]] = []

    async def fetch(self, sql: str, timeout: float, params: Sequence[Any] = ()) -> QueryResult:
        self.params.append(params)
        if self.down:
            raise SqlError(UNAVAILABLE, "database business: connection refused")
        if "COUNT" in sql:
            return QueryResult(["value"], [(0,)])
        return QueryResult(["account", "mint", "decimals", "value"], [("escrow_sol", "SOL", 9, self.whole)])

    async def close(self) -> None:
        pass


def config(mode: str = "slot") -> ReconciliationConfig:
    return ReconciliationConfig.model_validate(
        {
            "mode": mode,
            "ingestion_wait_seconds": 0.3,
            "ledger_settle_seconds": 0,
            "flows": [{"event": "PlayerJoined", "field": "amount", "credit": ["escrow"]}],
            "ledger": {"database": "business", "sql": "SELECT ?1", "unconfirmed_sql": "SELECT COUNT(*)"},
        }
    )


def build(mode: str = "slot") -> tuple[ReconcileCollector, FakePool, FakeDb, FlowTracker]:
    pool, db = FakePool(), FakeDb()
    tracker = FlowTracker(example_program(), config().flows)
    tracker.bind(Totals(), Cursor("sig", 400, 0))
    tracker.cycle_caught_up(started_at=float("inf"))  # ingestion has processed everything
    c = ReconcileCollector(config(mode), pool, [ESCROW], tracker, {}, "paid_match", db)  # type: ignore[arg-type]
    return c, pool, db, tracker


def samples(metrics: list[Metric], name: str) -> dict[tuple[str, ...], float]:
    fam = next(m for m in metrics if m.name == name)
    return {tuple(s.labels.values()): s.value for s in fam.samples if s.name in (name, name + "_total")}


def test_the_ledger_is_read_as_of_the_slot_read_from_the_chain() -> None:
    c, pool, db, _ = build()
    asyncio.run(c.run_cycle())
    assert db.params[0] == (500,)
    m = list(c.collect())
    assert samples(m, "escrow_reconciliation_drift_raw") == {
        ("escrow_sol", "SOL", "chain_ledger"): 1_000 - 1_000,
        ("escrow_sol", "SOL", "chain_events"): 0,
    }
    assert samples(m, "escrow_reconciliation_slot") == {("chain_ledger",): 500, ("chain_events",): 500}


def test_a_failing_ledger_is_reported_down_with_its_reason_and_the_last_drift_kept() -> None:
    c, pool, db, _ = build()
    db.whole = "0.000000999"  # the books miss 1 lamport
    asyncio.run(c.run_cycle())
    db.down = True
    with pytest.raises(CollectorError) as e:
        asyncio.run(c.run_cycle())
    assert e.value.reason == "ledger_unavailable"
    m = list(c.collect())
    assert samples(m, "escrow_reconciliation_up") == {("chain_ledger",): 0, ("chain_events",): 1}
    assert samples(m, "escrow_reconciliation_blocked") == {("chain_ledger", "ledger_unavailable"): 1}
    # Down, never zero: the drift of the last reconciliation stays with its (older) slot.
    assert samples(m, "escrow_reconciliation_drift_raw")[("escrow_sol", "SOL", "chain_ledger")] == 1
    assert samples(m, "escrow_reconciliation_runs") == {("chain_ledger",): 1, ("chain_events",): 2}


def test_ingestion_behind_the_slot_blocks_the_events_view_only() -> None:
    c, pool, db, tracker = build()
    tracker.caught_up_from = 0.0  # the last caught-up cycle started before the chain was read
    with pytest.raises(CollectorError) as e:
        asyncio.run(c.run_cycle())
    assert e.value.reason == "ingestion_behind"
    m = list(c.collect())
    assert samples(m, "escrow_reconciliation_blocked") == {("chain_events", "ingestion_behind"): 1}
    assert samples(m, "escrow_reconciliation_up")[("chain_ledger",)] == 1


def test_rpc_down_blocks_every_view_pair() -> None:
    c, pool, db, _ = build()
    pool.down = True
    with pytest.raises(CollectorError) as e:
        asyncio.run(c.run_cycle())
    assert e.value.reason == "rpc_unavailable"
    m = list(c.collect())
    assert samples(m, "escrow_reconciliation_blocked") == {
        ("chain_ledger", "rpc_unavailable"): 1,
        ("chain_events", "rpc_unavailable"): 1,
    }
    assert samples(m, "escrow_reconciliation_drift_raw") == {}  # never reconciled: no drift, not 0


def test_a_mismatch_streak_counts_consecutive_disagreements() -> None:
    c, pool, db, _ = build()
    asyncio.run(c.run_cycle())
    pool.lamports -= 1  # one lamport leaves with no event and no ledger entry
    for _ in range(2):
        asyncio.run(c.run_cycle())
    streak = samples(list(c.collect()), "escrow_reconciliation_mismatch_streak")
    assert streak == {("escrow_sol", "SOL", "chain_ledger"): 2, ("escrow_sol", "SOL", "chain_events"): 2}
    pool.lamports += 1
    asyncio.run(c.run_cycle())
    assert set(samples(list(c.collect()), "escrow_reconciliation_mismatch_streak").values()) == {0}


def test_time_mode_reads_the_latest_books_without_a_slot() -> None:
    c, pool, db, _ = build("time")
    asyncio.run(c.run_cycle())
    assert db.params[0] == ()
    assert samples(list(c.collect()), "escrow_reconciliation_info") == {("time", "paid_match"): 1}
