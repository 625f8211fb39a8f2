"""SQL collectors: one per query (each on its own interval) plus one for the shared self metrics.

Each ``SqlQueryCollector`` runs its query and serves the metric families it defines; the query's
health is kept in memory. ``SqlHealthCollector`` pings every database and serves the
``escrow_sql_*`` families for all databases and queries at once, because a scrape must not see
the same family twice (the scheduler concatenates every collector's output).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter.collectors.base import CachedValue, Collector, CollectorError, SeriesCache
from exporter.config.model import Config
from exporter.config.sql import QueryConfig
from exporter.sql.database import Database, SqlError, open_database
from exporter.sql.rows import Samples, to_samples

#: Seconds the scheduler's own timeout adds to ours, so our timeout fires first and is recorded.
_SCHEDULER_GRACE = 5.0


class SqlQueryCollector(Collector):
    def __init__(self, query: QueryConfig, db: Database) -> None:
        self.query = query
        self.db = db
        self.sql = query.sql_for(db.config.driver)
        self.name = f"sql:{query.name}"
        self.interval = query.interval_seconds
        self.timeout = query.timeout_seconds + db.config.connect_timeout_seconds + _SCHEDULER_GRACE
        max_age = query.interval_seconds * query.staleness_intervals
        self.caches = {m.name: SeriesCache(max_age) for m in query.metrics}
        # Health of the last run, served by SqlHealthCollector. None until the first run.
        self.up: bool | None = None
        self.duration: float | None = None
        self.rows: int | None = None
        self.errors: Counter[str] = Counter()
        #: Wall clock for series ages; tests replace it to step through the staleness rule.
        self.clock: Callable[[], float] = time.time

    async def run_cycle(self) -> None:
        started = time.perf_counter()
        try:
            result = await self.db.fetch(self.sql, self.query.timeout_seconds, max_rows=self.query.max_series)
        except SqlError as e:
            self._failed([e.reason], started)
            # Cached series stay until they are staleness_intervals old: down, never zero.
            raise CollectorError(e.reason, f"query {self.query.name}: {e.message}") from None
        # Up to max_series rows per metric: converting them is real work, kept off the event loop.
        now = self.clock()

        def convert() -> tuple[Samples, dict[str, dict[tuple[str, ...], CachedValue]]]:
            samples = to_samples(self.query.metrics, result, self.query.max_series)
            return samples, {
                metric: {labels: CachedValue(value, now) for labels, value in values.items()}
                for metric, values in samples.values.items()
            }

        samples, fresh = await asyncio.to_thread(convert)
        for metric, values in fresh.items():
            # The result set is the truth: a row gone is a series gone. Swapped in whole, so
            # the event loop does not walk max_series rows.
            self.caches[metric].replace(values, now)
        self.rows = result.rows_read
        if samples.problems:
            self._failed([p.reason for p in samples.problems], started)
            first = samples.problems[0]
            raise CollectorError(
                first.reason, f"query {self.query.name}: " + "; ".join(p.message for p in samples.problems)
            )
        self.up = True
        self.duration = time.perf_counter() - started

    def _failed(self, reasons: list[str], started: float) -> None:
        self.up = False
        self.duration = time.perf_counter() - started
        for r in set(reasons):
            self.errors[r] += 1

    def collect(self) -> Iterable[Metric]:
        return self.capture()()

    def capture(self) -> Callable[[], Iterable[Metric]]:
        # Up to max_series series per metric: only the values are copied here, on the event
        # loop; the families are built from the copy in the snapshot's worker thread.
        now = self.clock()
        values = {name: cache.snapshot(now) for name, cache in self.caches.items()}
        return lambda: self._families(values)

    def _families(self, values: dict[str, Mapping[tuple[str, ...], CachedValue]]) -> list[Metric]:
        families: list[Metric] = []
        for m in self.query.metrics:
            family: GaugeMetricFamily | CounterMetricFamily
            names = [*m.label_columns, *m.static_labels]
            static = list(m.static_labels.values())
            help_text = m.help or f"From SQL query {self.query.name}."
            if m.type == "counter":
                family = CounterMetricFamily(m.name, help_text, labels=names)
            else:
                family = GaugeMetricFamily(m.name, help_text, labels=names)
            for labels, cached in values[m.name].items():
                family.add_metric([*labels, *static], cached.value)
            families.append(family)
        return families


class SqlHealthCollector(Collector):
    """Pings each database and serves the SQL self metrics for every database and query."""

    def __init__(self, databases: list[Database], queries: list[SqlQueryCollector], interval: float) -> None:
        self.name = "sql"
        self.databases = databases
        self.queries = queries
        self.watches = queries  # their runs change the families served here
        self.interval = interval
        self.timeout = (
            max((d.config.connect_timeout_seconds for d in databases), default=5.0) + _SCHEDULER_GRACE
        )

    async def run_cycle(self) -> None:
        results = await asyncio.gather(*(d.ping() for d in self.databases), return_exceptions=True)
        failed = [
            (d, r) for d, r in zip(self.databases, results, strict=True) if isinstance(r, BaseException)
        ]
        for _, r in failed:
            if not isinstance(r, SqlError):
                raise r
        if failed:
            raise CollectorError(
                failed[0][1].reason if isinstance(failed[0][1], SqlError) else "unavailable",
                "; ".join(r.message if isinstance(r, SqlError) else str(r) for _, r in failed),
            )

    async def close(self) -> None:
        await asyncio.gather(*(d.close() for d in self.databases), return_exceptions=True)

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "escrow_sql_up", "1 if the database answered its last query or ping.", labels=["database"]
        )
        for d in self.databases:
            if d.up is not None:
                up.add_metric([d.name], 1.0 if d.up else 0.0)
        yield up
        q_up = GaugeMetricFamily(
            "escrow_sql_query_up",
            "1 if the query's last run succeeded and every row was usable.",
            labels=["query"],
        )
        duration = GaugeMetricFamily(
            "escrow_sql_query_duration_seconds", "Duration of the query's last run.", labels=["query"]
        )
        rows = GaugeMetricFamily(
            "escrow_sql_query_rows",
            "Rows read from the query's last answer; reading stops at max_series + 1.",
            labels=["query"],
        )
        errors = CounterMetricFamily(
            "escrow_sql_query_errors", "Failed query runs by reason.", labels=["query", "reason"]
        )
        for q in self.queries:
            name = q.query.name
            if q.up is not None:
                q_up.add_metric([name], 1.0 if q.up else 0.0)
            if q.duration is not None:
                duration.add_metric([name], q.duration)
            if q.rows is not None:
                rows.add_metric([name], float(q.rows))
            for reason, n in sorted(q.errors.items()):
                errors.add_metric([name, reason], float(n))
        yield from (q_up, duration, rows, errors)


def build_sql_collectors(config: Config) -> list[Collector]:
    """The health collector first, then one collector per query; empty without an ``sql`` section."""
    if config.sql is None or not config.sql.databases:
        return []
    databases = {d.name: open_database(d) for d in config.sql.databases}
    queries = [SqlQueryCollector(q, databases[q.database]) for q in config.sql.queries]
    interval = min((q.interval_seconds for q in config.sql.queries), default=30.0)
    return [SqlHealthCollector(list(databases.values()), queries, interval), *queries]
