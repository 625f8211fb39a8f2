"""Exact reconciliation: chain, program events and ledger compared at the same slot.

Every interval: read the reconciled accounts at one confirmed slot S (``reconcile.chain``); wait
until ingestion has provably processed every transaction through S and take the events' net
flows as of S (``reconcile.flows``); wait ``ledger_settle_seconds`` after the read, then read the
ledger as of S (``reconcile.ledger``); compare (``reconcile.compare``). A view that cannot be read
makes its pairs *blocked* with a reason, never zero: the last drift stays with its slot, whose
age grows, and ``escrow_reconciliation_up{views}`` is 0. See docs/architecture.md, "Reconciliation".
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter.accounts import WatchedAccount, resolve
from exporter.collectors.base import Collector, CollectorError, note_expiry
from exporter.config.model import Config
from exporter.config.programs import MintConfig
from exporter.config.reconcile import ReconciliationConfig
from exporter.reconcile import compare as cmp
from exporter.reconcile.chain import ChainSnapshot, read_chain
from exporter.reconcile.flows import Flows, FlowTracker
from exporter.reconcile.ledger import parse_ledger
from exporter.rpc.errors import RpcError
from exporter.rpc.pool import RpcPool
from exporter.sql.database import Database, SqlError, open_database

log = logging.getLogger("exporter.reconcile")
#: Solana's target slot time: turns ``unconfirmed_after_slots`` into an age for the ledger query.
SLOT_SECONDS = 0.4
_POLL = 0.2


@dataclass(slots=True)
class PairState:
    """What the last reconciliation of one view pair found."""

    slot: int | None = None
    read_at: float | None = None
    drift: dict[tuple[str, str], int] = field(default_factory=dict)
    streak: dict[tuple[str, str], int] = field(default_factory=dict)
    last_success: float | None = None
    runs: int = 0
    up: bool | None = None
    reason: str = ""


class ReconcileCollector(Collector):
    name = "reconcile"

    def __init__(
        self,
        cfg: ReconciliationConfig,
        pool: RpcPool,
        accounts: list[WatchedAccount],
        tracker: FlowTracker,
        mints: dict[str, MintConfig],
        program: str,
        db: Database | None,
    ) -> None:
        self.cfg = cfg
        self.interval = cfg.interval_seconds
        self.timeout = cfg.timeout
        self.pool = pool
        self.accounts = [a for a in accounts if cfg.accounts is None or a.name in cfg.accounts]
        self.roles = {a.name: a.role for a in self.accounts}
        roles = cfg.ledger.roles if cfg.ledger else []
        self.ledger_accounts = [a.name for a in self.accounts if a.role in roles]
        self.tracker = tracker
        self.mints = mints
        self.program = program
        self.db = db
        self.base: tuple[ChainSnapshot, Flows] | None = None
        self.pairs = {v: PairState() for v in cmp.VIEW_PAIRS if v != cmp.CHAIN_LEDGER or cfg.ledger}
        self.unmatched: Counter[str] = Counter()

    async def close(self) -> None:
        if self.db is not None:
            await self.db.close()

    # -- one cycle -------------------------------------------------------------------------------
    async def run_cycle(self) -> None:
        try:
            chain = await read_chain(self.pool, self.accounts)
        except (RpcError, CollectorError) as e:
            reason = "rpc_unavailable" if isinstance(e, RpcError) else e.reason
            for v in self.pairs:
                self._blocked(v, reason)
            raise CollectorError(reason, f"reconciliation cannot read the chain: {e}") from None
        read_at = time.time()
        failures: list[tuple[str, str]] = []
        flows = await self._flows_at(chain.slot, read_at)
        if flows is None:
            self._blocked(cmp.CHAIN_EVENTS, "ingestion_behind")
            failures.append(
                ("ingestion_behind", f"ingestion of {self.program} did not reach slot {chain.slot} in time")
            )
        else:
            self._events(chain, flows, read_at)
        if self.cfg.ledger is not None and self.db is not None:
            problem = await self._ledger(chain, read_at)
            if problem is not None:
                failures.append(problem)
        if failures:
            raise CollectorError(failures[0][0], "; ".join(m for _, m in failures))

    async def _flows_at(self, slot: int, read_at: float) -> Flows | None:
        deadline = time.monotonic() + self.cfg.ingestion_wait_seconds
        while True:
            flows = self.tracker.at_slot(slot, read_at)
            if flows is not None or time.monotonic() >= deadline:
                return flows
            await asyncio.sleep(_POLL)

    def _events(self, chain: ChainSnapshot, flows: Flows, read_at: float) -> None:
        if self.base is None:
            self.base = (chain, flows)
        res = cmp.chain_vs_events(chain, self.base[0], flows, self.base[1], self.roles)
        self._publish(cmp.CHAIN_EVENTS, chain.slot, read_at, res.drift)
        self.unmatched[cmp.CHANGE_WITHOUT_EVENT] = sum(
            1 for k in self.pairs[cmp.CHAIN_EVENTS].streak if self.pairs[cmp.CHAIN_EVENTS].streak[k]
        )

    async def _ledger(self, chain: ChainSnapshot, read_at: float) -> tuple[str, str] | None:
        lcfg = self.cfg.ledger
        assert lcfg is not None and self.db is not None
        driver = self.db.config.driver
        params: tuple[int, ...] = ()
        if self.cfg.mode == "slot":
            await asyncio.sleep(max(0.0, read_at + self.cfg.ledger_settle_seconds - time.time()))
            params = (chain.slot,)
        try:
            result = await self.db.fetch(lcfg.sql_for(driver), lcfg.timeout_seconds, params)
            unconfirmed_sql = lcfg.unconfirmed_sql_for(driver)
            unconfirmed = None
            if unconfirmed_sql is not None:
                cutoff = time.time() - lcfg.unconfirmed_after_slots * SLOT_SECONDS
                rows = (await self.db.fetch(unconfirmed_sql, lcfg.timeout_seconds, (cutoff,))).rows
                unconfirmed = int(rows[0][0] or 0) if rows else 0
        except SqlError as e:
            self._blocked(cmp.CHAIN_LEDGER, "ledger_unavailable")
            return "ledger_unavailable", f"reconciliation cannot read the ledger: {e.message}"
        ledger = parse_ledger(result, self.mints)
        if ledger.unusable and not ledger.balances:
            self._blocked(cmp.CHAIN_LEDGER, "ledger_unusable")
            return "ledger_unusable", "; ".join(ledger.unusable[:5])
        res = cmp.chain_vs_ledger(chain, ledger, self.ledger_accounts)
        self._publish(cmp.CHAIN_LEDGER, chain.slot, read_at, res.drift)
        for kind in (cmp.CHAIN_WITHOUT_LEDGER, cmp.LEDGER_WITHOUT_CHAIN):
            self.unmatched[kind] = res.unmatched.get(kind, 0) + (
                len(ledger.unusable) if kind == cmp.LEDGER_WITHOUT_CHAIN else 0
            )
        if unconfirmed is not None:
            self.unmatched[cmp.LEDGER_UNCONFIRMED] = unconfirmed
        return None

    def _publish(self, views: str, slot: int, read_at: float, drift: dict[tuple[str, str], int]) -> None:
        p = self.pairs[views]
        p.slot, p.read_at, p.drift = slot, read_at, drift
        p.streak = {
            k: (p.streak.get(k, 0) + 1 if abs(d) > self.cfg.tolerance.get(k[1], 0) else 0)
            for k, d in drift.items()
        }
        p.last_success = time.time()
        p.runs += 1
        p.up, p.reason = True, ""
        bad = {k: d for k, d in drift.items() if p.streak[k]}
        if bad:
            log.warning(
                "reconciliation mismatch",
                extra={
                    "views": views,
                    "slot": slot,
                    "drift": {f"{a}/{m}": d for (a, m), d in sorted(bad.items())},
                },
            )

    def _blocked(self, views: str, reason: str) -> None:
        if views in self.pairs:
            self.pairs[views].up, self.pairs[views].reason = False, reason

    # -- metrics ---------------------------------------------------------------------------------
    def collect(self) -> Iterable[Metric]:
        now = time.time()
        info = GaugeMetricFamily(
            "escrow_reconciliation_info",
            "Exact reconciliation is configured: its mode (slot, or the time-based fallback) and program. Always 1.",
            labels=["mode", "program"],
        )
        info.add_metric([self.cfg.mode, self.program], 1)
        drift = GaugeMetricFamily(
            "escrow_reconciliation_drift_raw",
            "Drift between two views at the reconciled slot, in raw base units (lamports or token base units): "
            "chain_ledger = chain - ledger; chain_events = chain change - event net flow since the baseline slot.",
            labels=["account", "mint", "views"],
        )
        streak = GaugeMetricFamily(
            "escrow_reconciliation_mismatch_streak",
            "Consecutive reconciliations whose drift exceeded the mint's tolerance (0: the views agree).",
            labels=["account", "mint", "views"],
        )
        slot = GaugeMetricFamily(
            "escrow_reconciliation_slot", "The slot the view pair was last reconciled at.", labels=["views"]
        )
        age = GaugeMetricFamily(
            "escrow_reconciliation_slot_age_seconds",
            "Seconds since the chain was read at the last reconciled slot.",
            labels=["views"],
        )
        last = GaugeMetricFamily(
            "escrow_reconciliation_last_success_timestamp_seconds",
            "When the view pair was last reconciled (Unix time).",
            labels=["views"],
        )
        runs = CounterMetricFamily(
            "escrow_reconciliation_runs", "Reconciliations completed, per view pair.", labels=["views"]
        )
        up = GaugeMetricFamily(
            "escrow_reconciliation_up",
            "1 if the last cycle reconciled the view pair; 0 if it could not (see escrow_reconciliation_blocked).",
            labels=["views"],
        )
        blocked = GaugeMetricFamily(
            "escrow_reconciliation_blocked",
            "1 with the reason the view pair cannot be reconciled now (rpc_unavailable, ingestion_behind, "
            "ledger_unavailable...).",
            labels=["views", "reason"],
        )
        for views, p in self.pairs.items():
            for (account, mint), d in sorted(p.drift.items()):
                drift.add_metric([account, mint, views], d)
                streak.add_metric([account, mint, views], p.streak.get((account, mint), 0))
            if p.slot is not None and p.read_at is not None:
                slot.add_metric([views], p.slot)
                age.add_metric([views], max(0.0, now - p.read_at))
                note_expiry(now + 1.0)  # the age grows with the clock: a snapshot of it is good for a second
            if p.last_success is not None:
                last.add_metric([views], p.last_success)
            runs.add_metric([views], p.runs)
            if p.up is not None:
                up.add_metric([views], 1 if p.up else 0)
                if not p.up:
                    blocked.add_metric([views, p.reason], 1)
        unmatched = GaugeMetricFamily(
            "escrow_reconciliation_unmatched",
            "Items one view has and the other lacks at the reconciled slot, by kind: chain accounts with no ledger "
            "row, ledger rows with no chain account, ledger entries not on chain after N slots, on-chain balance "
            "changes with no event.",
            labels=["kind"],
        )
        for kind in cmp.UNMATCHED_KINDS:
            if kind in self.unmatched:
                unmatched.add_metric([kind], self.unmatched[kind])
        yield from (info, drift, streak, slot, age, last, runs, up, blocked, unmatched)


def build_reconcile_collectors(config: Config, pool: RpcPool, collectors: list[Collector]) -> list[Collector]:
    """The reconciliation collector, wired to its program's ingestion; empty when not configured."""
    from exporter.collectors.ingest import IngestCollector

    cfg = config.reconciliation
    if cfg is None:
        return []
    program = next(p for p in config.programs if cfg.program in (None, p.name))
    ingest = next(c for c in collectors if isinstance(c, IngestCollector) and c.program.name == program.name)
    tracker = FlowTracker(program, cfg.flows)
    ingest.flows = tracker
    db = None
    if cfg.ledger is not None and config.sql is not None:
        db = open_database(next(d for d in config.sql.databases if d.name == cfg.ledger.database))
    accounts = [resolve(a) for a in config.balances.accounts]
    return [ReconcileCollector(cfg, pool, accounts, tracker, program.mints, program.name, db)]
