"""/metrics served from snapshots: the same exposition as rendering every collector at scrape
time, series that still expire on time, and an event loop that answers while a render runs."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import sqlite3
import threading
import zlib
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from exporter.app import build_collectors
from exporter.collectors.base import CachedValue, Collector, SeriesCache, tracking_expiry
from exporter.collectors.ingest import IngestCollector
from exporter.collectors.reconcile import ReconcileCollector
from exporter.collectors.sql import SqlQueryCollector, build_sql_collectors
from exporter.config.loader import load_config
from exporter.config.model import Config
from exporter.http import add_routes
from exporter.keys import REGISTRY, SCHEDULER
from exporter.rpc.metrics import RpcMetrics
from exporter.rpc.pool import RpcPool
from exporter.scheduler import Scheduler, _Bridge
from exporter.snapshot import TEXT
from tests.support.devchain_proc import Devchain
from tests.support.stack import example_config

Samples = set[tuple[str, tuple[tuple[str, str], ...], float]]
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


class Program(Collector):
    """Like the ingest collectors: one program's series in families every program shares."""

    interval = timeout = 60.0

    def __init__(self, program: str, extra_label: str | None = None) -> None:
        self.name = f"ingest:{program}"
        self.program = program
        self.extra_label = extra_label
        self.count = 0.0

    async def run_cycle(self) -> None:
        self.count += 1

    def collect(self) -> Iterable[Metric]:
        labels = ["program", "event", *([self.extra_label] if self.extra_label else [])]
        events = CounterMetricFamily("escrow_events", "Events.", labels=labels)
        events.add_metric([self.program, "Joined", *(['x\n"y\\'] if self.extra_label else [])], self.count)
        yield events
        cu = HistogramMetricFamily("escrow_compute_units", "Compute units.", labels=["program"])
        cu.add_metric([self.program], [("10.0", 1), ("+Inf", 2)], sum_value=25)
        yield cu
        yield GaugeMetricFamily("escrow_ingest_last_slot", "Slot.", value=self.count * 7)


def parsed(body: bytes, openmetrics: bool = False) -> Samples:
    """Every sample, as Prometheus reads it (an empty label is an absent one)."""
    parse = parse_openmetrics if openmetrics else text_string_to_metric_families
    out: Samples = set()
    for family in parse(body.decode()):
        for s in family.samples:
            out.add((s.name, tuple(sorted((k, v) for k, v in s.labels.items() if v)), s.value))
    return out


def sql_config(tmp_path: Path, rows: int) -> Config:
    path = tmp_path / "business.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"n{i}") for i in range(rows)])
    conn.commit()
    conn.close()
    queries = [
        {
            "name": "rows",
            "database": "lite",
            "sql": "SELECT name, id AS value FROM t",
            "interval_seconds": 10,
            "staleness_intervals": 2,
            "metrics": [{"name": "test_rows", "label_columns": ["name"], "static_labels": {"env": "t"}}],
        },
        {
            "name": "count",
            "database": "lite",
            "sql": "SELECT COUNT(*) AS value FROM t",
            "metrics": [{"name": "test_count_total", "type": "counter"}],
        },
    ]
    return Config.model_validate(
        {
            "solana": {"endpoints": [{"name": "local", "url": "http://127.0.0.1:1"}]},
            "sql": {
                "databases": [{"name": "lite", "driver": "sqlite", "path": str(path)}],
                "queries": queries,
            },
        }
    )


Get = Callable[..., Any]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[list[Collector]], Any]]:
    """Serves collectors the way the exporter does (snapshots); yields (scheduler, registry, get)."""
    runners: list[web.AppRunner] = []
    sessions: list[aiohttp.ClientSession] = []
    scheds: list[Scheduler] = []

    async def start(collectors: list[Collector]) -> tuple[Scheduler, CollectorRegistry, Get]:
        registry = CollectorRegistry()
        Gauge("escrow_exporter_build_info", "Build.", ["version"], registry=registry).labels("t").set(1)
        sched = Scheduler(collectors, registry, bridge=False)
        scheds.append(sched)
        app = web.Application()
        app[REGISTRY], app[SCHEDULER] = registry, sched
        add_routes(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        session = aiohttp.ClientSession(auto_decompress=False, headers={"Accept-Encoding": "identity"})
        sessions.append(session)

        async def get(path: str = "/metrics", **headers: str) -> tuple[dict[str, str], bytes]:
            async with session.get(f"http://127.0.0.1:{port}{path}", headers=headers) as r:
                assert r.status == 200
                return dict(r.headers), await r.read()

        return sched, registry, get

    yield start
    for s in sessions:
        await s.close()
    for r in runners:
        await r.cleanup()
    for sched in scheds:
        for c in sched.collectors:
            await c.close()


async def test_exposition_is_what_rendering_every_collector_gives(
    tmp_path: Path, serve: Callable[[list[Collector]], Any]
) -> None:
    collectors: list[Collector] = [
        Program("alpha", extra_label="kind"),
        *build_sql_collectors(sql_config(tmp_path, 50)),
        Program("beta"),
    ]
    sched, registry, get = await serve(collectors)
    for c in collectors:
        await sched.run_once(c)
    # What the exporter served before snapshots: every collect() at scrape time, in one registry.
    reference = CollectorRegistry()
    reference.register(_Bridge(collectors))
    expected = parsed(generate_latest(reference)) | parsed(generate_latest(registry))

    _, text = await get(Accept="text/plain")
    assert parsed(text) == expected
    assert len(expected) > 60
    # Families several collectors serve appear once, with every collector's samples.
    assert text.decode().count("# TYPE escrow_events_total counter") == 1
    assert text.decode().count("# HELP escrow_compute_units ") == 1

    headers, om = await get(Accept=OPENMETRICS)
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert om.endswith(b"# EOF\n") and om.count(b"# EOF") == 1
    assert {(n.removesuffix("_total"), lb, v) for n, lb, v in parsed(om, openmetrics=True)} == {
        (n.removesuffix("_total"), lb, v) for n, lb, v in expected
    }

    for accept in ("text/plain", OPENMETRICS):
        headers, zipped = await get(**{"Accept": accept, "Accept-Encoding": "gzip"})
        assert headers["Content-Encoding"] == "gzip"
        _, plain = await get(Accept=accept)
        assert gzip.decompress(zipped) == plain
        one_member = zlib.decompressobj(wbits=31)  # what clients that read one gzip member get
        assert one_member.decompress(zipped) == plain and one_member.eof and not one_member.unused_data

    # A cycle changes what is served, once the collector's snapshot is re-rendered.
    await sched.run_once(collectors[0])
    assert ("escrow_events_total", (("event", "Joined"), ("kind", 'x\n"y\\'), ("program", "alpha")), 2.0) in (
        parsed((await get(Accept="text/plain"))[1])
    )


async def test_series_leave_the_snapshot_when_they_expire(
    tmp_path: Path, serve: Callable[[list[Collector]], Any]
) -> None:
    collectors = build_sql_collectors(sql_config(tmp_path, 3))
    rows = next(c for c in collectors if isinstance(c, SqlQueryCollector) and c.query.name == "rows")
    now = [1_000_000.0]
    rows.clock = lambda: now[0]
    sched, _, get = await serve(collectors)
    for c in collectors:
        await sched.run_once(c)
    assert {n for n, _, _ in parsed((await get())[1])} >= {"test_rows"}
    now[0] += 20  # staleness_intervals * interval_seconds: still served
    assert len([s for s in parsed((await get())[1]) if s[0] == "test_rows"]) == 3
    now[0] += 1  # older than that, with no cycle in between: gone from the next scrape
    assert [s for s in parsed((await get())[1]) if s[0] == "test_rows"] == []


class Heavy(Collector):
    """A collector whose render blocks (in its worker thread) until the test lets it go."""

    name = "heavy"
    interval = timeout = 60.0

    def __init__(self) -> None:
        self.rendering = threading.Event()
        self.release = threading.Event()

    async def run_cycle(self) -> None:
        pass

    def collect(self) -> Iterable[Metric]:
        self.rendering.set()
        self.release.wait(30)  # bounded so that a loop that waits for it cannot hang the suite
        yield GaugeMetricFamily("heavy_series", "Heavy.", value=1)

    def capture(self) -> Callable[[], Iterable[Metric]]:
        return lambda: list(self.collect())


async def test_healthy_is_answered_while_a_scrape_waits_for_a_render(
    serve: Callable[[list[Collector]], Any],
) -> None:
    heavy = Heavy()
    _, _, get = await serve([heavy])
    scrape = asyncio.create_task(get())
    assert await asyncio.to_thread(heavy.rendering.wait, 30)
    _, body = await get("/-/healthy")
    answered_during_render = not heavy.release.is_set() and not scrape.done()
    heavy.release.set()
    assert body == b"Healthy.\n"
    assert answered_during_render, "/-/healthy waited for the render"
    assert b"heavy_series 1.0" in (await scrape)[1]


def test_a_cache_snapshot_stays_as_captured_while_the_cache_changes() -> None:
    cache = SeriesCache(max_age=10)
    cache.set(("a",), 1.0, now=100)
    cache.set(("b",), 2.0, now=105)
    with tracking_expiry() as expiry:
        captured = cache.snapshot(now=106)
    assert expiry.at == 110  # when ("a",) gets too old
    cache.set(("c",), 3.0, now=107)
    cache.discard(("b",))
    assert dict(captured) == {("a",): CachedValue(1.0, 100), ("b",): CachedValue(2.0, 105)}
    assert {k for k, _ in cache.items(now=111)} == {("c",)}  # ("a",) expired, ("b",) discarded


async def _while_ingesting(sched: Scheduler, collector: Collector, collectors: list[Collector]) -> bool:
    """Run ``collector``'s cycle while the ingest collectors keep cycling, as the scheduler does."""
    ingest = [c for c in collectors if isinstance(c, IngestCollector)]

    async def keep_ingesting() -> None:
        while True:
            for c in ingest:
                await sched.run_once(c)
            await asyncio.sleep(0.5)

    task = asyncio.create_task(keep_ingesting())
    try:
        # A first cycle may find ingestion behind the slot it read (reason ingestion_behind), as
        # in production, where the next cycle reconciles: allow the scheduler's next two.
        for _ in range(3):
            if await sched.run_once(collector):
                return True
        return False
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_reference_config_serves_what_rendering_every_collector_gives(tmp_path: Path) -> None:
    """examples/config.yml against the simulator: every collector (balances, ingest, program
    accounts, SQL, reconciliation) served from its snapshot shows the samples its collect() shows."""
    chain = Devchain(tmp_path, seed=7, tps=10, extra=("--ledger-db", str(tmp_path / "ledger.sqlite")))
    try:
        config = load_config(str(example_config(tmp_path, chain.url)))
        async with aiohttp.ClientSession() as session:
            registry = CollectorRegistry()
            pool = RpcPool(config.solana, session, RpcMetrics(registry))
            health = asyncio.create_task(pool.run_health_checks())
            collectors = build_collectors(config, pool, registry)
            try:
                for c in collectors:
                    await c.setup()
                sched = Scheduler(collectors, registry, bridge=False)
                for c in collectors:
                    if isinstance(c, ReconcileCollector):
                        continue
                    assert await sched.run_once(c), c.name
                for c in collectors:  # reconciliation waits for ingestion to pass the slot it read
                    if isinstance(c, ReconcileCollector):
                        assert await _while_ingesting(sched, c, collectors), c.name
                joined = await sched.snapshots.joined()
                reference = CollectorRegistry()
                reference.register(_Bridge(collectors))
                expected = parsed(generate_latest(reference))  # no await since the snapshots
            finally:
                health.cancel()
                for c in collectors:
                    await c.close()
    finally:
        chain.stop()
    served = parsed(joined.raw[TEXT])

    def timeless(samples: Samples) -> Samples:  # ages are computed from the clock at each render
        clocked = {"escrow_ingest_lag_seconds", "escrow_reconciliation_slot_age_seconds"}
        return {s for s in samples if s[0] not in clocked}

    assert timeless(served) == timeless(expected)
    names = {n for n, _, _ in served}
    assert {"escrow_account_balance", "escrow_transactions_total", "escrow_program_accounts"} <= names
    assert any(n.startswith("escrow_ledger") for n in names), sorted(names)
