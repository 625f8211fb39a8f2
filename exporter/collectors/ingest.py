"""Anchor event and transaction ingestion: one collector per configured program.

The I/O and the exactly-once bookkeeping live in ``exporter.ingest``; this module only
schedules it and renders the totals. Each collector renders its own program's series; the
families every program shares (``escrow_events``...) are merged into one by the snapshot
renderer (``exporter.snapshot``), with one HELP/TYPE as the exposition formats require.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from exporter.collectors.base import Collector, CollectorError, note_expiry
from exporter.collectors.program import SharedProgram
from exporter.config.model import Config
from exporter.config.programs import ProgramConfig
from exporter.ingest import totals as t
from exporter.ingest.ingester import LATENCY_BUCKETS, ProgramIngester
from exporter.ingest.logs_source import LogsSource, LogsSourceError
from exporter.ingest.mapping import DECIMALS_LABEL
from exporter.ingest.state import StateStore
from exporter.reconcile.flows import FlowTracker
from exporter.rpc.pool import RpcPool
from exporter.solana import LAMPORTS_PER_SOL

log = logging.getLogger("exporter.ingest")


class IngestCollector(Collector):
    def __init__(
        self,
        program: ProgramConfig,
        pool: RpcPool,
        state_path: str,
        anchor: SharedProgram | None = None,
        ws_urls: list[str] | None = None,
    ) -> None:
        self.name = f"ingest:{program.name}"
        self.program = program
        #: The program's IDL, decoder and id, shared with its account-state collector.
        self.anchor = anchor or SharedProgram(program, at_start=False)
        self.interval = program.interval_seconds
        self.timeout = max(program.interval_seconds * 4, 120.0)
        self.pool = pool
        self.store = StateStore(state_path)
        self.ingester: ProgramIngester | None = None
        self._reported: str | None = None
        #: Set by the reconciliation collector: the events view it reads (exporter.reconcile.flows).
        self.flows: FlowTracker | None = None
        #: The endpoints' PubSub URLs, in the pool's order of preference (``source: logs``).
        self.ws_urls = ws_urls or []
        self.source: LogsSource | None = None
        self._push_task: asyncio.Task[None] | None = None

    def _start_push(self, ingester: ProgramIngester) -> None:
        """Follow the program's notifications once the listing has a cursor to compare with."""
        if self.program.source != "logs" or self._push_task is not None or not self.ws_urls:
            return
        self.source = LogsSource(
            self.ws_urls, ingester.program_id, ingester.decoder, commitment=self.pool.commitment
        )
        self._push_task = asyncio.create_task(self._push(ingester, self.source))

    async def _push(self, ingester: ProgramIngester, source: LogsSource) -> None:
        try:
            async with contextlib.aclosing(source.batches()) as batches:
                async for batch in batches:
                    try:
                        await ingester.on_notified_many(batch)
                    except CollectorError as e:
                        # Not counted: the listing counts them. The next cycle reports the state file.
                        log.warning(
                            "notified transactions were left to the listing",
                            extra={"collector": self.name, "reason": e.reason, "problem": e.message},
                        )
        except LogsSourceError as e:
            log.error(
                "logs source stopped; the listing alone ingests",
                extra={"collector": self.name, "problem": str(e)},
            )

    async def run_cycle(self) -> None:
        if self.ingester is None:
            self.ingester = ProgramIngester(self.program, self.pool, self.store, self.anchor.get().decoder)
            self.ingester.flows = self.flows
        try:
            await self.ingester.run_cycle()
        except CollectorError as e:
            # The scheduler warns every cycle; a state file that needs the operator is said once, loudly.
            if e.reason in ("state_damaged", "state_locked") and e.message != self._reported:
                log.error(
                    "ingestion stopped: the state file needs the operator",
                    extra={"collector": self.name, "reason": e.reason, "problem": e.message},
                )
            self._reported = e.message
            raise
        self._reported = None
        self._start_push(self.ingester)

    async def close(self) -> None:
        if self._push_task is not None:
            self._push_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._push_task
        self.store.close()

    def collect(self) -> Iterable[Metric]:
        if self.ingester is not None and self.ingester.restored:
            yield from render([self.ingester])
            yield from render_source(self.ingester, self.source)
            yield from render_bounded(self.ingester, self.source, self.flows)


def render_bounded(
    ing: ProgramIngester, source: LogsSource | None, flows: FlowTracker | None
) -> Iterable[Metric]:
    """How full each fixed-size in-memory structure is: flat memory is the point of them (issue 13),
    so a soak or an operator can tell "still filling" from "growing"."""
    entries = GaugeMetricFamily(
        "escrow_exporter_bounded_entries",
        "Entries held by one of the exporter's fixed-size in-memory structures, per program.",
        labels=["program", "structure"],
    )
    capacity = GaugeMetricFamily(
        "escrow_exporter_bounded_capacity",
        "Entries one of the exporter's fixed-size in-memory structures has room for (allocated), per program.",
        labels=["program", "structure"],
    )
    rows = [("block_time_buckets", len(ing.minutes), ing.minutes.rows.capacity)]
    if source is not None:
        rows.append(("notification_dedupe", len(source.seen), source.seen.capacity))
    if flows is not None:
        rows.append(("reconcile_slot_history", len(flows.history), flows.history.capacity))
    for structure, held, room in rows:
        entries.add_metric([ing.name, structure], held)
        capacity.add_metric([ing.name, structure], room)
    yield from (entries, capacity)


def render_source(ing: ProgramIngester, source: LogsSource | None) -> Iterable[Metric]:
    """How the program's transactions arrived (issue 15): push, gap fills, full fetches, latency."""
    p, src = ing.name, ing.config.source
    push = ing.push
    latency = HistogramMetricFamily(
        "escrow_ingest_event_latency_seconds",
        "Seconds from a transaction's block time to its counting, by source and by the path that counted it "
        "(push: the PubSub notification, observed once the listing tells its block time; listing: the poll).",
        labels=["program", "source", "via"],
    )
    for via, row in sorted(push.latency.items()):
        running, buckets = 0.0, []
        for le, n in zip([*(str(b) for b in LATENCY_BUCKETS), "+Inf"], row, strict=True):
            running += n
            buckets.append((le, running))
        latency.add_metric([p, src, via], buckets, sum_value=push.latency_sum.get(via, 0.0))
    yield latency
    if src != "logs":
        return
    stats = source.stats if source is not None else None
    notifications = _counter(
        "escrow_ingest_notifications",
        "PubSub logsNotification messages received for the program, duplicates included.",
        ["program", "source"],
    )
    notifications.add_metric([p, src], stats.notifications if stats else 0)
    gaps = _counter(
        "escrow_ingest_gap_fills",
        "Transactions the signatures listing counted because no notification had (missed, dropped connection).",
        ["program", "source"],
    )
    gaps.add_metric([p, src], push.gap_fills)
    full = _counter(
        "escrow_ingest_full_fetches",
        "Notified transactions fetched with getTransaction because the logs could not serve, by reason "
        "(truncated logs, emit_cpi events, fees asked for, instruction not named in the logs).",
        ["program", "source", "reason"],
    )
    for reason in ("truncated", "emit_cpi", "fees", "instruction"):
        full.add_metric([p, src, reason], push.full_fetches.get(reason, 0))
    connected = GaugeMetricFamily(
        "escrow_ingest_websocket_connected",
        "1 while the program's logsSubscribe subscription is confirmed on a PubSub WebSocket, else 0.",
        labels=["program", "source"],
    )
    connected.add_metric([p, src], 1 if source is not None and source.connected.is_set() else 0)
    reconnects = _counter(
        "escrow_ingest_websocket_reconnects",
        "PubSub WebSocket connections of the program lost (each followed by a reconnect with backoff).",
        ["program", "source"],
    )
    reconnects.add_metric([p, src], stats.disconnects if stats else 0)
    yield from (notifications, gaps, full, connected, reconnects)


def _counter(name: str, doc: str, labels: list[str]) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, labels=labels)


def _with_extra_labels(
    name: str, doc: str, base: list[str], rows: list[tuple[dict[str, str], float]]
) -> CounterMetricFamily:
    """A family whose series may carry configured label fields; absent ones render as ""."""
    extra = sorted({k for labels, _ in rows for k in labels} - set(base))
    fam = _counter(name, doc, base + extra)
    for labels, value in rows:
        fam.add_metric([labels.get(k, "") for k in base + extra], value)
    return fam


def render(ingesters: list[ProgramIngester]) -> Iterable[Metric]:
    now = time.time()
    events: list[tuple[dict[str, str], float]] = []
    amounts: dict[tuple[tuple[str, str], ...], float] = defaultdict(float)
    tx = _counter(
        "escrow_transactions",
        "Transactions of the program ingested, by status (success or failed).",
        ["program", "status"],
    )
    errors = _counter(
        "escrow_transaction_errors",
        "Failed transactions by error: the Anchor error name from the IDL, else the code or error kind.",
        ["program", "error"],
    )
    failures = _counter(
        "escrow_transaction_failures",
        "Failed transactions by the program's instruction in them (the first one, when several).",
        ["program", "instruction"],
    )
    ixs = _counter(
        "escrow_instructions",
        "Instructions of the program executed (top level and CPI).",
        ["program", "instruction"],
    )
    cu = HistogramMetricFamily(
        "escrow_compute_units",
        "Compute units consumed per instruction of the program.",
        labels=["program", "instruction"],
    )
    fees = _counter(
        "escrow_transaction_fees_sol",
        "Transaction fees paid by the program's transactions, in SOL.",
        ["program"],
    )
    decode = _counter(
        "escrow_event_decode_errors",
        "Event payloads (or mapped amounts) of the program that could not be decoded or counted, by reason.",
        ["program", "reason"],
    )
    truncated = _counter(
        "escrow_logs_truncated",
        "Transactions whose logs were truncated by the node: log events may be missing.",
        ["program"],
    )
    overflow = _counter(
        "escrow_event_label_overflow",
        "Events whose label field had a new value beyond max_label_values (counted as __overflow__).",
        ["program", "event", "label"],
    )
    last_slot = GaugeMetricFamily(
        "escrow_ingest_last_slot", "Slot of the newest fully ingested transaction.", labels=["program"]
    )
    lag = GaugeMetricFamily(
        "escrow_ingest_lag_seconds",
        "Age of the oldest transaction listed but not yet counted; while cycles fail, at least the time since "
        "ingestion was last caught up; 0 when caught up.",
        labels=["program"],
    )
    for ing in ingesters:
        p = ing.name
        tot = ing.totals
        for labels, v in tot.series(t.EVENTS):
            events.append(({"program": p, **labels}, v))
        for labels, v in tot.series(t.AMOUNT):
            decimals = int(labels.pop(DECIMALS_LABEL, "0"))
            amounts[tuple(sorted({"program": p, **labels}.items()))] += v / 10**decimals
        for status in ("success", "failed"):
            tx.add_metric([p, status], tot.get(t.TRANSACTIONS, status=status))
        for labels, v in tot.series(t.TX_ERRORS):
            errors.add_metric([p, labels["error"]], v)
        for labels, v in tot.series(t.TX_FAILURES):
            failures.add_metric([p, labels["instruction"]], v)
        for labels, v in tot.series(t.INSTRUCTIONS):
            ixs.add_metric([p, labels["instruction"]], v)
        _histograms(cu, p, tot)
        # The state keeps the exact integer lamport total; one division gives the nearest float.
        fees.add_metric([p], tot.get(t.FEES) / LAMPORTS_PER_SOL)
        for labels, v in tot.series(t.DECODE_ERRORS):
            decode.add_metric([p, labels["reason"]], v)
        truncated.add_metric([p], tot.get(t.LOGS_TRUNCATED))
        for labels, v in tot.series(t.LABEL_OVERFLOW):
            overflow.add_metric([p, labels["event"], labels["label"]], v)
        if ing.cursor is not None and ing.cursor.slot is not None:
            last_slot.add_metric([p], ing.cursor.slot)
        lag_seconds = ing.lag_seconds(now)
        if lag_seconds > 0:  # it grows with the clock: a snapshot of it is good for a second
            note_expiry(now + 1.0)
        lag.add_metric([p], lag_seconds)
    yield _with_extra_labels(
        "escrow_events",
        "Events of the program decoded from successful transactions.",
        ["program", "event"],
        events,
    )
    yield _with_extra_labels(
        "escrow_event_amount",
        "Sum of an event's amount field in whole units of its mint (SOL, or the mint address).",
        ["program", "event", "field", "mint"],
        [(dict(k), v) for k, v in amounts.items()],
    )
    yield from (tx, errors, failures, ixs, cu, fees, decode, truncated, overflow, last_slot, lag)
    yield from _block_time_windows(ingesters, now)


def _block_time_windows(ingesters: list[ProgramIngester], now: float) -> Iterable[Metric]:
    """Events and amounts by the block time of their transaction (exporter.ingest.block_time)."""
    events = GaugeMetricFamily(
        "escrow_events_block_time_window",
        "Events of the program whose transaction's block time lies in the trailing window ending now, "
        "however late they were ingested (catch-up and backfill fill the minutes they happened in).",
        labels=["program", "event", "window"],
    )
    amounts = GaugeMetricFamily(
        "escrow_event_amount_block_time_window",
        "Sum of an event's amount field, in whole units of its mint, over the events whose transaction's "
        "block time lies in the trailing window ending now.",
        labels=["program", "event", "field", "mint", "window"],
    )
    any_buckets = False
    for ing in ingesters:
        p = ing.name
        any_buckets = any_buckets or len(ing.minutes) > 0
        for window, sums in ing.minutes.windows(now).items():
            whole: dict[tuple[str, str, str], float] = defaultdict(float)
            for (metric, labels), v in sorted(sums.items()):
                lbl = dict(labels)
                if metric == t.EVENTS:
                    events.add_metric([p, lbl["event"], window], v)
                elif metric == t.AMOUNT:
                    decimals = int(lbl.get(DECIMALS_LABEL, "0"))
                    whole[(lbl["event"], lbl["field"], lbl["mint"])] += v / 10**decimals
            for (event, field, mint), units in sorted(whole.items()):
                amounts.add_metric([p, event, field, mint, window], units)
    if any_buckets:  # the windows move on at the next minute even without a cycle
        note_expiry((now // 60 + 1) * 60)
    yield from (events, amounts)


def _histograms(fam: HistogramMetricFamily, program: str, tot: t.Totals) -> None:
    per_ix: dict[str, dict[str, int]] = defaultdict(dict)
    for labels, v in tot.series(t.CU_BUCKET):
        per_ix[labels["instruction"]][labels["le"]] = v
    for ix, counts in sorted(per_ix.items()):
        running = 0
        buckets: list[tuple[str, float]] = []
        for le in [*(str(b) for b in t.CU_BUCKETS), "+Inf"]:
            running += counts.get(le, 0)
            buckets.append((le, running))
        fam.add_metric([program, ix], buckets, sum_value=tot.get(t.CU_SUM, instruction=ix))


def build_program_collectors(config: Config, pool: RpcPool) -> list[Collector]:
    """Ingestion and account-state collectors for every configured program, both of a program
    sharing the one ``AnchorProgram`` the config check built (exporter.collectors.program)."""
    from exporter.collectors.program_accounts import ProgramAccountsCollector

    collectors: list[Collector] = []
    accounts: list[Collector] = []
    for p in config.programs:
        anchor = SharedProgram(p)
        ws_urls = [e.websocket_url() for e in config.solana.endpoints] if config.solana else []
        collectors.append(IngestCollector(p, pool, config.state.path, anchor, ws_urls))
        if p.accounts.types:
            accounts.append(ProgramAccountsCollector(p, pool, anchor))
    return [*collectors, *accounts]
