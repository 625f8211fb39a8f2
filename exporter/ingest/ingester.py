"""Ingest one program's transactions with exact, crash-safe totals.

One cycle: list the signatures after the cursor (oldest first), fetch their transactions in
JSON-RPC batches, decode them, and commit each batch's counter increments together with the
new cursor (see ``exporter.ingest.state``). Only then do the in-memory totals change.

A transaction that no endpoint can return yet (``null``, a per-item error, or a reply that is
not the transaction asked for; see ``exporter.ingest.transactions``) stops the batch there: what precedes it is committed, and the
cursor never moves past it, so it is fetched again next cycle instead of being skipped.

With ``source: logs`` (issue 15), ``on_notified_many`` counts a transaction from its PubSub
notification at once, ahead of the listing, and records its signature in the state file in the
same transaction (``pushed``; the notifications that arrived together share one). Only a transaction in a slot after the cursor's is counted so: the
listing has counted everything up to the cursor's slot, and a transaction of that very slot is
left to it. The listing, still the reconciler, passes a pushed signature without counting or
fetching it again and forgets it with the cursor that passes it; every other one it counts is a
gap fill. It leaves the newest ones (``push_grace_seconds``) that no notification has counted
yet for a later cycle, so it does not race the notifications. Checks and commits run without an ``await`` between them, so the two paths never
count one transaction twice.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from exporter.anchor import DecodedEvent, EventDecoder
from exporter.anchor.decoder import UNKNOWN_INSTRUCTION
from exporter.config.programs import ProgramConfig
from exporter.errors import CollectorError
from exporter.ingest.block_time import MinuteBuckets, minute_of, oldest_kept
from exporter.ingest.flow_hook import FlowHook
from exporter.ingest.logs_instructions import camel, logged_instructions
from exporter.ingest.logs_source import LogsTransaction
from exporter.ingest.mapping import EventMapper
from exporter.ingest.signatures import SignatureFeed, SignatureInfo
from exporter.ingest.state import Cursor, Pushed, StateError, StateStore
from exporter.ingest.totals import (
    DECODE_ERRORS,
    FEES,
    INSTRUCTIONS,
    LOGS_TRUNCATED,
    TRANSACTIONS,
    TX_ERRORS,
    TX_FAILURES,
    Delta,
    Totals,
)
from exporter.ingest.transactions import fetch_transactions, is_transaction
from exporter.rpc.errors import RpcError
from exporter.rpc.pool import RpcPool

log = logging.getLogger("exporter.ingest")


@dataclass(slots=True)
class Progress:
    """What the last cycle achieved, for the lag gauge."""

    behind: bool = False
    pending: int = 0
    #: blockTime of the oldest transaction listed but not ingested yet (None: none, or unknown).
    oldest_pending_time: int | None = None
    #: The last cycle failed: we no longer know what the chain holds.
    failing: bool = False
    #: Wall time at which a cycle last ended with nothing left to ingest.
    caught_up_at: float | None = None


#: End-to-end latency buckets (seconds from block time to counted).
LATENCY_BUCKETS = (0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass
class PushStats:
    """What the logs source's counting did (in memory: process counters)."""

    counted: int = 0  # counted from notifications
    left_to_listing: int = 0  # notified at or before the cursor's slot, or not fetchable
    gap_fills: int = 0  # counted by the listing: the push missed them
    orphans: int = 0  # pushed, then passed by the listing without being listed
    full_fetches: Counter[str] = field(default_factory=Counter)  # reason -> getTransaction calls
    #: via ("push" | "listing") -> [non-cumulative bucket counts..., +Inf], sum
    latency: dict[str, list[float]] = field(default_factory=dict)
    latency_sum: dict[str, float] = field(default_factory=dict)

    def observe(self, via: str, seconds: float) -> None:
        seconds = max(0.0, seconds)
        row = self.latency.setdefault(via, [0.0] * (len(LATENCY_BUCKETS) + 1))
        i = next((i for i, b in enumerate(LATENCY_BUCKETS) if seconds <= b), len(LATENCY_BUCKETS))
        row[i] += 1
        self.latency_sum[via] = self.latency_sum.get(via, 0.0) + seconds


class ProgramIngester:
    def __init__(
        self, config: ProgramConfig, pool: RpcPool, store: StateStore, decoder: EventDecoder
    ) -> None:
        self.config = config
        self.name = config.name
        self.program_id = decoder.program_id
        self.pool = pool
        self.store = store
        self.decoder = decoder
        self.feed = SignatureFeed(pool, self.program_id, config.signatures_page_size)
        self.totals = Totals()
        #: Event counts and amounts per minute of block time (exporter.ingest.block_time).
        self.minutes = MinuteBuckets()
        self.mapper = EventMapper(config, self.totals, decoder.idl.errors.values())
        self.cursor: Cursor | None = None
        self.restored = False
        self.progress = Progress()
        #: The reconciliation's events view, when configured (exporter.reconcile.flows).
        self.flows: FlowHook | None = None
        #: Counted from notifications, not yet passed by the listing: signature -> (slot, deferred).
        self.pushed: dict[str, Pushed] = {}
        self.push = PushStats()
        self._logged_names = {camel(ix.name): ix.name for ix in decoder.idl.instructions.values()}
        # getTransaction does not accept "processed".
        commitment = "confirmed" if pool.commitment == "processed" else pool.commitment
        self._tx_opts = {"encoding": "json", "maxSupportedTransactionVersion": 0, "commitment": commitment}

    # -- state ----------------------------------------------------------------------------------

    def restore(self) -> None:
        """Load cursor and totals from the state file. Raises ``CollectorError`` if unusable."""
        try:
            self.store.open()
            saved = self.store.load(self.name)
        except StateError as e:
            self.store.close()  # the next cycle opens the file afresh (restored from a backup, say)
            raise CollectorError(e.reason, str(e)) from None
        if saved is not None:
            if saved.program_id != self.program_id:
                raise CollectorError(
                    "state_mismatch",
                    f"state file {self.store.path}: program {self.name} was ingested with program id "
                    f"{saved.program_id}, the config now says {self.program_id}; move the state file "
                    "away or rename the program to start over",
                )
            self.cursor = saved.cursor
            self.totals = Totals(saved.counters)
            self.minutes = MinuteBuckets(saved.minutes)
            self.pushed = dict(saved.pushed)
            self.mapper = EventMapper(self.config, self.totals, self.decoder.idl.errors.values())
        self.restored = True

    def _commit(
        self,
        cursor: Cursor,
        delta: Delta,
        pushed: dict[str, Pushed] | None = None,
        passed: tuple[str, ...] | list[str] = (),
    ) -> None:
        now = time.time()
        new_values = self.totals.after(delta)
        new_minutes = self.minutes.after(delta.by_minute)
        expired = self.minutes.expired(now)
        try:
            self.store.save(
                self.name, self.program_id, cursor, new_values, now, new_minutes, expired, pushed, passed
            )
        except StateError as e:
            raise CollectorError(e.reason, str(e)) from None
        # Synchronous with the commit above: no await in between, so no cancellation either.
        self.totals.apply(new_values)
        self.minutes.apply(new_minutes, expired, now)
        self.cursor = cursor
        self.pushed.update(pushed or {})
        for sig in passed:
            self.pushed.pop(sig, None)

    # -- one cycle ------------------------------------------------------------------------------

    async def run_cycle(self) -> None:
        if not self.restored:
            self.restore()
        started = time.time()
        try:
            if self.cursor is None:
                b = self.config.backfill
                start = await self.feed.start_cursor(b.mode, b.count)
                self._commit(start, Delta())
                log.info(
                    "ingestion started", extra={"program": self.name, "backfill": b.mode, "count": b.count}
                )
            assert self.cursor is not None
            if self.flows is not None:
                self.flows.bind(self.totals, self.cursor)
            listed = await self.feed.newer_than(self.cursor)
            pending = self._past_grace(listed, time.time()) if self.config.source == "logs" else listed
            held = len(pending) < len(listed)
            todo = pending[: self.config.max_transactions_per_cycle]
            p = self.progress
            p.behind, p.pending = len(pending) > len(todo), len(pending)
            size = self.config.batch_size
            for i in range(0, len(todo), size):
                p.oldest_pending_time = todo[i].block_time
                done = await self._ingest_batch(todo[i : i + size])
                p.pending -= done
                if done < len(todo[i : i + size]):
                    p.behind = True
                    p.oldest_pending_time = todo[i + done].block_time
                    break
            else:
                p.oldest_pending_time = pending[len(todo)].block_time if p.behind else None
        except RpcError as e:
            self.progress.failing = True
            raise CollectorError("rpc_unavailable", str(e)) from None
        except CollectorError:
            self.progress.failing = True
            raise
        self.progress.failing = False
        if not self.progress.pending:
            self.progress.caught_up_at = time.time()
            if self.flows is not None:
                # Transactions held back for the push: every one that landed before this cycle
                # began less the grace is counted (and its flows applied), not every one before it.
                self.flows.cycle_caught_up(started - self.config.push_grace_seconds if held else started)

    def _past_grace(self, pending: list[SignatureInfo], now: float) -> list[SignatureInfo]:
        """The listed prefix the listing counts now: it stops before the slot of the first
        transaction that is not pushed yet and younger than ``push_grace_seconds`` (next cycle,
        the push has counted it, or the listing does). Cutting a prefix, as if listed a little
        earlier, keeps the cursor's exactly-once guarantee; cutting at a slot's start keeps the
        cursor out of that slot, whose later notifications the push could not count (it leaves
        the cursor's own slot to the listing), which would bill a getTransaction each."""
        for i, info in enumerate(pending):
            young = info.block_time is not None and info.block_time > now - self.config.push_grace_seconds
            if young and info.signature not in self.pushed:
                while i > 0 and pending[i - 1].slot == info.slot:
                    i -= 1
                return pending[:i]
        return pending

    async def _ingest_batch(self, batch: list[SignatureInfo]) -> int:
        """Fetch, decode and commit ``batch``; return how many were ingested (a prefix)."""
        # A pushed signature stays pushed until this batch passes it: no need to fetch it.
        wanted = [s.signature for s in batch if s.signature not in self.pushed]
        fetched = await fetch_transactions(self.pool, wanted, self._tx_opts) if wanted else []
        replies = dict(zip(wanted, fetched, strict=False))
        delta = Delta()
        passed: list[str] = []
        listed_times: list[tuple[str, int | None]] = []
        last: Cursor | None = None
        done = 0
        oldest = oldest_kept(time.time())
        # A transaction without a block time happened no earlier than the one ingested before it.
        placed_at = self.cursor.block_time if self.cursor is not None else None
        if self.flows is not None:
            self.flows.begin_batch()
        for info in batch:
            # Checked after the await above: the push may have counted it meanwhile.
            ahead = self.pushed.get(info.signature)
            if ahead is not None:
                deferred = json.loads(ahead[1])
                if self.flows is not None:
                    incs = {(m, tuple((k, v) for k, v in lbl)): n for m, lbl, n in deferred["inc"]}
                    self.flows.on_pushed(info.slot, incs, delta)
                if info.block_time is not None:
                    self.push.observe("push", deferred["at"] - info.block_time)
                    placed_at = info.block_time
                passed.append(info.signature)
                last = Cursor(
                    info.signature, info.slot, info.block_time if info.block_time is not None else placed_at
                )
                done += 1
                continue
            tx: Any = replies.get(info.signature)
            if not is_transaction(tx, info.signature):
                log.info(
                    "transaction not available yet; will retry",
                    extra={"program": self.name, "signature": info.signature, "reply": type(tx).__name__},
                )
                break
            bt = tx.get("blockTime")
            block_time = bt if isinstance(bt, int) and not isinstance(bt, bool) else info.block_time
            placed_at = block_time if block_time is not None else placed_at
            minute = minute_of(placed_at) if placed_at is not None else None
            delta.block_minute = minute if minute is not None and minute >= oldest else None
            events = self._count(tx, delta)
            if self.flows is not None:
                self.flows.on_transaction(info.slot, events, delta)
            last = Cursor(info.signature, info.slot, block_time)
            listed_times.append((info.signature, block_time))
            done += 1
        if last is not None:
            # Pushed, then passed by the listing without being listed: a notification the
            # listing never confirmed (counted once all the same); forgotten, not kept forever.
            orphans = [
                s for s, (slot, _) in self.pushed.items() if last.slot is not None and slot < last.slot
            ]
            orphans = [s for s in orphans if s not in passed]
            if orphans:
                log.warning(
                    "notified transactions never listed",
                    extra={"program": self.name, "signatures": orphans[:5], "count": len(orphans)},
                )
            try:
                self._commit(last, delta, passed=passed + orphans)
            except CollectorError:
                if self.flows is not None:
                    self.flows.abandoned()
                raise
            if self.flows is not None:
                self.flows.committed()
            self.push.orphans += len(orphans)
            now = time.time()
            via = "listing"
            for _, block_time in listed_times:
                if block_time is not None:
                    self.push.observe(via, now - block_time)
            if self.config.source == "logs":
                self.push.gap_fills += len(listed_times)
        return done

    # -- the logs source ------------------------------------------------------------------------

    def _pushable(self, n: LogsTransaction) -> bool:
        """Not counted yet, and not the listing's to count (it has counted through the cursor's slot)."""
        c = self.cursor
        return (
            self.restored
            and c is not None
            and n.signature not in self.pushed
            and (c.slot is None or n.slot > c.slot)
        )

    def full_fetch_reason(self, n: LogsTransaction, logged_unnamed: bool, emit_cpi: bool) -> str | None:
        if n.decoded.logs_truncated:
            return "truncated"
        if emit_cpi:
            return "emit_cpi"
        if logged_unnamed:
            return "instruction"
        if self.config.counts_fees:
            return "fees"
        return None

    async def on_notified_many(self, ns: Sequence[LogsTransaction]) -> None:
        """Count notified transactions now, each unless the listing has it or will (see module
        doc). They arrived together: those their logs serve are counted in one state-file commit
        (a commit, and its fsync, per transaction was the push's limit near 1,000 tx/s on a
        loaded 2-core machine). One needing ``getTransaction`` first commits those before it,
        then is counted on its own once fetched."""
        delta = Delta()
        pushed: dict[str, Pushed] = {}
        now = time.time()
        for n in ns:
            if not self._pushable(n) or n.signature in pushed:
                self.push.left_to_listing += 1
                continue
            logged = logged_instructions(n.logs, self.program_id, self._logged_names)
            reason = self.full_fetch_reason(n, logged.unnamed, logged.emit_cpi)
            if reason is None:
                self._count_notified(n, None, logged.names, now, delta, pushed)
                continue
            self._commit_pushed(delta, pushed)
            delta, pushed = Delta(), {}
            self.push.full_fetches[reason] += 1
            try:
                replies = await fetch_transactions(self.pool, [n.signature], self._tx_opts)
            except RpcError:
                replies = [None]
            now = time.time()
            if not is_transaction(replies[0], n.signature) or not self._pushable(n):
                self.push.left_to_listing += 1  # the listing counts it
                continue
            fetched: dict[str, Pushed] = {}
            fetched_delta = Delta()
            self._count_notified(n, replies[0], logged.names, now, fetched_delta, fetched)
            self._commit_pushed(fetched_delta, fetched)
        self._commit_pushed(delta, pushed)

    def _count_notified(
        self,
        n: LogsTransaction,
        tx: dict[str, Any] | None,
        names: list[str],
        now: float,
        delta: Delta,
        pushed: dict[str, Pushed],
    ) -> None:
        """Add a notified transaction's increments to ``delta`` and its record to ``pushed``."""
        bt = tx.get("blockTime") if tx is not None else None
        block_time = bt if isinstance(bt, int) and not isinstance(bt, bool) else None
        # A notification carries no block time: bucketed by arrival, a few seconds later.
        minute = minute_of(block_time if block_time is not None else int(now))
        delta.block_minute = minute if minute >= oldest_kept(now) else None
        if tx is not None:
            events = self._count(tx, delta)
        else:
            events = self._count_result(n.decoded, names, None, delta)
        incs = self.flows.deferred(events) if self.flows is not None else {}
        pushed[n.signature] = (
            n.slot,
            json.dumps({"at": now, "inc": [[m, [list(p) for p in lbl], v] for (m, lbl), v in incs.items()]}),
        )

    def _commit_pushed(self, delta: Delta, pushed: dict[str, Pushed]) -> None:
        if not pushed:
            return
        assert self.cursor is not None
        self._commit(self.cursor, delta, pushed=pushed)
        self.push.counted += len(pushed)

    def _count(self, tx: dict[str, Any], delta: Delta) -> list[DecodedEvent]:
        """Add the transaction's increments to ``delta``; return the events it emitted (if it succeeded)."""
        res = self.decoder.decode_transaction(tx)
        return self._count_result(res, self.decoder.instruction_names(tx), tx["meta"].get("fee"), delta)

    def _count_result(self, res: Any, names: list[str], fee: Any, delta: Delta) -> list[DecodedEvent]:
        """``_count`` from a decoded result: a getTransaction's or a notification's logs."""
        delta.add(TRANSACTIONS, status="failed" if res.failed else "success")
        if res.failed:
            delta.add(TX_ERRORS, error=self.mapper.error_label(res.error or "unknown"))
        if self.config.counts_fees and isinstance(fee, int) and not isinstance(fee, bool) and fee > 0:
            delta.add(FEES, fee)
        if res.failed:  # which instruction failed: settlements apart from joins, say
            delta.add(TX_FAILURES, instruction=names[0] if names else UNKNOWN_INSTRUCTION)
        for name in names:
            delta.add(INSTRUCTIONS, instruction=name)
        # compute_units lists our outermost invocations in order, as instruction_names does;
        # truncated logs may cut the list short, hence the prefix pairing.
        for name, units in zip(names, res.compute_units, strict=False):
            delta.observe_cu(name, units)
        for reason in res.decode_errors:
            delta.add(DECODE_ERRORS, reason=reason)
        if res.logs_truncated:
            delta.add(LOGS_TRUNCATED)
        if res.failed:  # a failed transaction moved no money: its events did not happen
            return []
        for event in res.events:
            self.mapper.apply(event, delta)
        return res.events

    # -- gauges ---------------------------------------------------------------------------------

    def lag_seconds(self, now: float) -> float:
        """How long ago the oldest transaction we know of but have not counted happened; while
        cycles fail, at least the time since ingestion was last known to be caught up (a stall
        or an outage is lag, not 0). 0 when caught up."""
        p = self.progress
        lag = 0.0
        if p.pending:
            bt = p.oldest_pending_time
            if bt is None and p.behind and self.cursor is not None:
                bt = self.cursor.block_time
            if bt is not None:
                lag = now - bt
        if p.failing and p.caught_up_at is not None:
            lag = max(lag, now - p.caught_up_at)
        return max(0.0, lag)
