"""Ingestion driven in-process against the simulator: gaps, unavailable transactions, label caps
(event labels and transaction errors), a damaged state file, config errors."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from exporter.collectors.base import CollectorError
from exporter.collectors.ingest import IngestCollector, build_program_collectors
from exporter.config import ConfigError, load_config
from exporter.ingest.mapping import EventMapper
from exporter.ingest.signatures import SignatureFeed, SignatureInfo
from exporter.ingest.state import Cursor
from exporter.ingest.totals import Totals
from exporter.rpc.metrics import RpcMetrics
from exporter.rpc.pool import RpcPool
from tests.support.ingest import (
    PROGRAM,
    ThreadDevchain,
    diff_totals,
    expected_totals,
    ingest,
    observed_totals,
    parse_metrics,
    program_yaml,
    scrape,
    write_config,
)
from tests.support.util import free_port


@pytest.fixture(scope="module")
def chain() -> Any:
    """A simulator with a fixed history (generator stopped after ~250 transactions)."""
    dc = ThreadDevchain(seed=5, tps=0)
    dc.loop.call_soon_threadsafe(dc.chain.step, 250)
    dc.truth = dc.stop_generator()
    yield dc
    dc.close()


async def test_gap_larger_than_a_page_is_paged_back_exactly(tmp_path: Path, chain: ThreadDevchain) -> None:
    # 250 transactions, pages of 7 signatures, batches of 4: every page boundary is crossed.
    cfg = write_config(
        tmp_path / "c.yml",
        [("a", chain.url)],
        tmp_path / "s.sqlite",
        program_yaml(page_size=7, batch_size=4, accounts=False),
    )
    _, text = await ingest(cfg)
    assert not diff_totals(expected_totals(chain.truth), observed_totals(text))


async def test_unavailable_transaction_is_retried_not_skipped(tmp_path: Path, chain: ThreadDevchain) -> None:
    cfg = write_config(
        tmp_path / "c.yml",
        [("a", chain.url)],
        tmp_path / "s.sqlite",
        program_yaml(batch_size=16, accounts=False),
    )
    hidden: set[str] = set()

    class NullOnce:
        """Returns null for the 100th transaction the first time it is asked for."""

        def __init__(self, pool: RpcPool) -> None:
            self.pool, self.commitment, self.asked = pool, pool.commitment, 0

        def __getattr__(self, name: str) -> Any:  # endpoints, current(), call_on(), ...
            return getattr(self.pool, name)

        async def call(self, method: str, params: Any) -> Any:
            return await self.pool.call(method, params)

        async def batch_from(self, calls: Any) -> tuple[Any, list[Any]]:
            endpoint, replies = await self.pool.batch_from(calls)
            for i, (_, params) in enumerate(calls):
                self.asked += 1
                if self.asked == 100:
                    hidden.add(params[0])
                    replies[i] = None
            return endpoint, replies

    collectors, text = await ingest(cfg, cycles=1, wrap=NullOnce)
    assert hidden, "the wrapper never hid a transaction"
    seen = observed_totals(text)
    assert seen["tx/success"] + seen["tx/failed"] == 99, "ingestion must stop before the missing transaction"
    ingester = collectors[0].ingester  # type: ignore[attr-defined]
    assert ingester.progress.behind
    # Next cycles (a restart, from the state file) fetch it again and complete the totals.
    _, text = await ingest(cfg, cycles=2)
    assert not diff_totals(expected_totals(chain.truth), observed_totals(text))


async def test_lag_counts_an_outage_and_the_oldest_uncounted_transaction(
    tmp_path: Path, chain: ThreadDevchain
) -> None:
    """Lag is not 0 while ingestion cannot see the chain: an outage from a caught-up state is lag."""
    cfg = write_config(
        tmp_path / "c.yml", [("a", chain.url)], tmp_path / "s.sqlite", program_yaml(accounts=False)
    )
    config = load_config(cfg)
    async with aiohttp.ClientSession() as session:
        pool = RpcPool(config.solana, session, RpcMetrics(CollectorRegistry()))
        (collector,) = [c for c in build_program_collectors(config, pool) if isinstance(c, IngestCollector)]
        try:
            await collector.run_cycle()
            ingester = collector.ingester
            assert ingester is not None and ingester.lag_seconds(time.time()) == 0.0
            chain.fault(down=True)
            try:
                with pytest.raises(CollectorError):
                    await collector.run_cycle()
            finally:
                chain.clear_faults()
            # Ten minutes into the outage, the lag says ten minutes (it said 0 before the fix).
            assert ingester.lag_seconds(time.time() + 600) >= 600
            await collector.run_cycle()
            assert ingester.lag_seconds(time.time() + 600) == 0.0
            # Mid-backlog, the lag is the age of the oldest transaction not counted yet.
            ingester.progress.pending, ingester.progress.oldest_pending_time = 3, int(time.time()) - 42
            assert 41 <= ingester.lag_seconds(time.time()) <= 44
        finally:
            await collector.close()


async def test_listing_moves_on_when_no_endpoint_is_marked_healthy(
    tmp_path: Path, chain: ThreadDevchain
) -> None:
    """Primary dead, backup flagged unhealthy (say, it lagged a moment ago): the backup is still tried."""
    dead = f"http://127.0.0.1:{free_port()}"
    cfg = write_config(
        tmp_path / "c.yml",
        [("primary", dead), ("backup", chain.url)],
        tmp_path / "s.sqlite",
        program_yaml(accounts=False),
    )
    config = load_config(cfg)
    async with aiohttp.ClientSession() as session:
        pool = RpcPool(config.solana, session, RpcMetrics(CollectorRegistry()))
        for ep in pool.endpoints:
            ep.healthy = False
        feed = SignatureFeed(pool, str(chain.state()["program_id"]), page_size=1000)
        listed = await feed.newer_than(Cursor(None, None, None))
    assert len(listed) == chain.truth["transactions"]["success"] + chain.truth["transactions"]["failed"]


async def test_label_values_are_capped_with_overflow(tmp_path: Path, chain: ThreadDevchain) -> None:
    cfg = write_config(
        tmp_path / "c.yml",
        [("a", chain.url)],
        tmp_path / "s.sqlite",
        program_yaml(label_cap=1, accounts=False),
    )
    _, text = await ingest(cfg)
    created = {
        labels["paid"]: v
        for name, labels, v in parse_metrics(text)
        if name == "escrow_events_total" and labels.get("event") == "MatchCreated"
    }
    assert len(created) == 2 and "__overflow__" in created  # one real value, then the overflow bucket
    assert sum(created.values()) == chain.truth["events"]["MatchCreated"]["count"]
    overflow = [v for name, lb, v in parse_metrics(text) if name == "escrow_event_label_overflow_total"]
    assert overflow == [created["__overflow__"]]


def _damage(state: Path) -> bytes:
    """Overwrite the file's header: SQLite can no longer read it."""
    damaged = b"this is not a database" + state.read_bytes()[100:]
    for extra in state.parent.glob(state.name + "-*"):  # WAL files would repair nothing here
        extra.unlink()
    state.write_bytes(damaged)
    return damaged


async def test_damaged_state_file_stops_ingestion_and_keeps_it(tmp_path: Path, chain: ThreadDevchain) -> None:
    state = tmp_path / "s.sqlite"
    cfg = write_config(tmp_path / "c.yml", [("a", chain.url)], state, program_yaml(accounts=False))
    await ingest(cfg)
    damaged = _damage(state)
    config = load_config(cfg)
    async with aiohttp.ClientSession() as session:
        pool = RpcPool(config.solana, session, RpcMetrics(CollectorRegistry()))
        (collector, *_) = build_program_collectors(config, pool)
        with pytest.raises(CollectorError) as e:
            await collector.run_cycle()
    assert e.value.reason == "state_damaged"
    assert str(state) in e.value.message
    assert state.read_bytes() == damaged, "the damaged file must be left for the operator, never reset"
    assert "escrow_events_total{" not in scrape([collector])  # no totals shown rather than zeros


async def test_program_id_change_is_refused(tmp_path: Path, chain: ThreadDevchain) -> None:
    state = tmp_path / "s.sqlite"
    cfg = write_config(tmp_path / "c.yml", [("a", chain.url)], state, program_yaml(accounts=False))
    await ingest(cfg)
    other = cfg.read_text().replace(
        f"  - name: {PROGRAM}\n", f'  - name: {PROGRAM}\n    program_id: "11111111111111111111111111111111"\n'
    )
    cfg.write_text(other)
    with pytest.raises(CollectorError) as e:
        await ingest(cfg)
    assert e.value.reason == "state_mismatch"


def test_config_mapping_errors_name_key_and_line(tmp_path: Path) -> None:
    text = program_yaml().replace("MatchRefunded:", "MatchRefundd:").replace("field: pot,", "field: pott,")
    cfg = write_config(tmp_path / "c.yml", [("a", "http://127.0.0.1:1")], tmp_path / "s.sqlite", text)
    with pytest.raises(ConfigError) as e:
        load_config(cfg)
    message = "\n".join(e.value.problems)
    assert "programs[0]" in message and "MatchRefundd" in message and "pott" in message
    assert f"{cfg}:" in message


class ErrorFlood:
    """Every failed transaction fails with a custom code never seen before, as anyone can cause by
    sending failing transactions that list the program (codes from ``first`` on)."""

    def __init__(self, pool: RpcPool, first: int) -> None:
        self.pool, self.commitment, self.next_code = pool, pool.commitment, first

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pool, name)

    async def batch_from(self, calls: Any) -> tuple[Any, list[Any]]:
        endpoint, replies = await self.pool.batch_from(calls)
        return endpoint, self._flood(replies)

    async def batch_on(self, endpoint: Any, calls: Any) -> list[Any]:
        return self._flood(await self.pool.batch_on(endpoint, calls))

    def _flood(self, replies: list[Any]) -> list[Any]:
        for tx in replies:
            if isinstance(tx, dict) and tx.get("meta", {}).get("err") is not None:
                err = {"InstructionError": [0, {"Custom": self.next_code}]}
                tx["meta"]["err"], tx["meta"]["status"] = err, {"Err": err}
                self.next_code += 1
        return replies


async def test_transaction_error_labels_are_capped_across_restarts(tmp_path: Path) -> None:
    """escrow_transaction_errors_total{error} grew a series per custom code (1,049 in 25 s), persisted."""
    dc = ThreadDevchain(seed=3, tps=0)
    try:
        dc.loop.call_soon_threadsafe(dc.chain.step, 200)
        truth = dc.stop_generator()
        state = tmp_path / "s.sqlite"
        cfg = write_config(
            tmp_path / "c.yml", [("a", dc.url)], state, program_yaml(label_cap=3, accounts=False)
        )
        _, text = await ingest(cfg, wrap=lambda pool: ErrorFlood(pool, 900_000))
        errors = {
            lb["error"]: v for n, lb, v in parse_metrics(text) if n == "escrow_transaction_errors_total"
        }
        assert truth["transactions"]["failed"] > 6
        assert len(errors) == 4 and errors["__overflow__"] > 0, errors  # 3 codes, then the overflow bucket
        assert sum(errors.values()) == truth["transactions"]["failed"], "no failed transaction lost"
        # After a restart the restored series still fill the cap: new codes go to the overflow bucket.
        dc.loop.call_soon_threadsafe(dc.chain.step, 150)
        truth = dc.stop_generator()
        _, text = await ingest(cfg, wrap=lambda pool: ErrorFlood(pool, 500_000))
    finally:
        dc.close()
    after = {lb["error"]: v for n, lb, v in parse_metrics(text) if n == "escrow_transaction_errors_total"}
    assert set(after) == set(errors) and sum(after.values()) == truth["transactions"]["failed"]
    assert after["__overflow__"] > errors["__overflow__"]
    rows = sqlite3.connect(state).execute("SELECT count(*) FROM counters WHERE metric = 'tx_errors'")
    assert rows.fetchone() == (4,), "the state file holds the capped series only"


def test_idl_error_names_keep_their_series_beyond_the_cap(tmp_path: Path) -> None:
    """The IDL bounds its own error names; only other values (codes, kinds) share the cap."""
    cfg = write_config(
        tmp_path / "c.yml", [("a", "http://127.0.0.1:1")], tmp_path / "s.sqlite", program_yaml(label_cap=1)
    )
    mapper = EventMapper(load_config(cfg).programs[0], Totals(), ["MatchFull"])
    labels = [mapper.error_label(e) for e in ("7001", "7002", "MatchFull", "7001", "")]
    assert labels == ["7001", "__overflow__", "MatchFull", "7001", "__overflow__"]


async def test_logs_source_listing_leaves_young_uncounted_transactions_to_the_push(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``source: logs`` the listing does not race the notifications (each race it won billed
    a getTransaction): a transaction no notification has counted waits while younger than the
    grace, and once past it the listing counts it, exactly once."""

    dc = ThreadDevchain(seed=7, tps=0)
    try:
        # Made now, in the current slot: block times of "now", nothing notified to anyone.
        dc.loop.call_soon_threadsafe(dc.chain.step, 30, False)
        truth = dc.stop_generator()

        def with_grace(seconds: int) -> str:
            return program_yaml(accounts=False).replace(
                f"  - name: {PROGRAM}\n",
                f"  - name: {PROGRAM}\n    source: logs\n    push_grace_seconds: {seconds}\n",
                1,
            )

        cfg = write_config(tmp_path / "c.yml", [("a", dc.url)], tmp_path / "s.sqlite", with_grace(3600))
        collectors, text = await ingest(cfg)
        seen = observed_totals(text)
        assert seen.get("tx/success", 0) + seen.get("tx/failed", 0) == 0, "the listing raced the push"
        ing = collectors[0].ingester  # type: ignore[attr-defined]
        assert ing.progress.pending == 0  # held back, not lag
        # The cut falls at the start of the young one's slot, even behind pushed ones of that slot:
        # a cursor inside it would leave that slot's later notifications to the listing.
        now = time.time()
        listed = [
            SignatureInfo("old", 1, 0),
            SignatureInfo("pushed", 2, int(now)),
            SignatureInfo("young", 2, int(now)),
        ]
        ing.pushed["pushed"] = (2, "{}")
        assert [i.signature for i in ing._past_grace(listed, now)] == ["old"]
        ing.pushed.pop("pushed")
        # The reconciliation is told the events are complete only as of the grace before the cycle.
        caught_up: list[float] = []

        class Flows:  # the FlowTracker calls a cycle makes, recording cycle_caught_up
            def __getattr__(self, name: str) -> Any:
                return lambda *a: caught_up.append(a[0]) if name == "cycle_caught_up" else None

        config = load_config(cfg)
        async with aiohttp.ClientSession() as session:
            pool = RpcPool(config.solana, session, RpcMetrics(CollectorRegistry()))  # type: ignore[arg-type]
            (c,) = [c for c in build_program_collectors(config, pool) if isinstance(c, IngestCollector)]
            c.flows = Flows()  # type: ignore[assignment]
            before = time.time()
            await c.run_cycle()
            await c.close()
        assert len(caught_up) == 1 and caught_up[0] <= before - 3600 + 1
        cfg = write_config(tmp_path / "c.yml", [("a", dc.url)], tmp_path / "s.sqlite", with_grace(0))
        _, text = await ingest(cfg)
        expected = {k: v for k, v in expected_totals(truth).items() if k != "fees"}
        assert truth["transactions"]["success"] > 0
        assert not diff_totals(expected, observed_totals(text))
    finally:
        dc.close()


async def test_notifications_that_arrive_together_are_counted_in_one_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The push counts the notifications that arrived together in one state-file commit (a commit
    each capped it near 1,000 tx/s): a duplicate among them is not counted twice, one needing
    getTransaction (emit_cpi!) is fetched and committed on its own, and the listing then passes
    every one of them: the totals equal the simulator's."""
    from exporter.ingest.logs_source import LogsTransaction

    monkeypatch.setattr(IngestCollector, "_start_push", lambda self, ing: None)  # fed by hand here
    dc = ThreadDevchain(seed=7, tps=0)
    try:
        dc.loop.call_soon_threadsafe(dc.chain.step, 5, False)
        dc.stop_generator()
        program = program_yaml(accounts=False).replace(  # the listing waits for no push
            f"  - name: {PROGRAM}\n", f"  - name: {PROGRAM}\n    source: logs\n    push_grace_seconds: 0\n", 1
        )
        config = load_config(
            write_config(tmp_path / "c.yml", [("a", dc.url)], tmp_path / "s.sqlite", program)
        )
        async with aiohttp.ClientSession() as session:
            pool = RpcPool(config.solana, session, RpcMetrics(CollectorRegistry()))  # type: ignore[arg-type]
            (c,) = [c for c in build_program_collectors(config, pool) if isinstance(c, IngestCollector)]
            await c.run_cycle()  # the listing counts the first 5; the cursor is at the 5th's slot
            # 60 in the slot after the cursor's: a transaction of the cursor's slot is the listing's
            dc.loop.call_soon_threadsafe(lambda: setattr(dc.chain, "slot", dc.chain.slot + 1))
            dc.loop.call_soon_threadsafe(dc.chain.step, 60, False)
            truth = dc.stop_generator()
            ing = c.ingester
            assert ing is not None
            notified = []
            for rec in list(dc.chain._records.values())[5:]:
                logs = dc.chain.load(rec)["meta"]["logMessages"]
                decoded = ing.decoder.decode_transaction({"meta": {"logMessages": logs, "err": rec.err}})
                notified.append(
                    LogsTransaction(rec.signature, rec.slot, decoded, decoded.logs_truncated, logs)
                )
            commits: list[int] = []
            commit = ing._commit
            monkeypatch.setattr(
                ing, "_commit", lambda *a, **k: (commits.append(len(k.get("pushed") or {})), commit(*a, **k))
            )
            await ing.on_notified_many([*notified[:10], notified[3], *notified[10:]])
            fetched = sum(ing.push.full_fetches.values())
            assert ing.push.counted == 60 and ing.push.left_to_listing == 1  # the duplicate
            assert 0 < fetched < 30, ing.push.full_fetches  # the mix: emit_cpi! for some
            # one commit per fetched transaction, and at most one per run of log-served ones between
            assert sum(commits) == 60 and fetched < len(commits) <= 2 * fetched + 1, commits
            monkeypatch.setattr(ing, "_commit", commit)
            await asyncio.sleep(1.5)  # their slot completes, their block time passes
            await c.run_cycle()
            await c.close()
        # the listing passed the 60 pushed ones (a second count would show in the totals)
        assert not ing.pushed and ing.push.orphans == 0
        expected = {k: v for k, v in expected_totals(truth).items() if k != "fees"}
        assert not diff_totals(expected, observed_totals(scrape([c])))
    finally:
        dc.close()
