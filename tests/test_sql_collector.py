"""The SQL collector against a real PostgreSQL and a SQLite file: type mapping, guard rails,
timeouts, read-only enforcement, and a database going down and coming back."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from exporter.collectors.sql import SqlQueryCollector, build_sql_collectors
from exporter.config.model import Config
from exporter.scheduler import Scheduler
from tests.support.pg_server import PgServer, pg_server  # noqa: F401 - the session fixture

SOLANA = {"endpoints": [{"name": "local", "url": "http://127.0.0.1:1"}]}
Scrape = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def sqlite_db(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "business.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b');"
    )
    conn.close()
    return [{"name": "lite", "driver": "sqlite", "path": str(path)}]


@pytest.fixture
def pg_db(pg_server: PgServer) -> list[dict[str, Any]]:  # noqa: F811
    pg_server.psql(
        "DROP TABLE IF EXISTS t; CREATE TABLE t (id INT PRIMARY KEY, name TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b')"
    )
    # The exporter refuses a superuser: read as the SELECT-only role docs/sql.md recommends.
    return [
        {
            "name": "pg",
            "driver": "postgres",
            "dsn": pg_server.role_dsn("exporter_ro", "SELECT ON t"),
            "connect_timeout_seconds": 2,
        }
    ]


@pytest.fixture(params=["pg", "lite"])
def any_db(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    """(database name, databases config) for each driver, for tests whose SQL is portable."""
    dbs = request.getfixturevalue("pg_db" if request.param == "pg" else "sqlite_db")
    return request.param, dbs


_built: list[Scheduler] = []


@pytest.fixture(autouse=True)
async def _close_pools() -> AsyncIterator[None]:
    yield
    while _built:
        for c in _built.pop().collectors:
            await c.close()


def build(dbs: list[dict[str, Any]], queries: list[dict[str, Any]]) -> tuple[Scheduler, CollectorRegistry]:
    config = Config.model_validate({"solana": SOLANA, "sql": {"databases": dbs, "queries": queries}})
    registry = CollectorRegistry()
    sched = Scheduler(build_sql_collectors(config), registry)
    _built.append(sched)
    return sched, registry


def query(name: str, db: str, sql: str | dict[str, str], **metric: Any) -> dict[str, Any]:
    keys = ("timeout_seconds", "max_series", "interval_seconds", "staleness_intervals")
    extra = {k: metric.pop(k) for k in keys if k in metric}
    return {
        "name": name,
        "database": db,
        "sql": sql,
        "metrics": [{"name": f"test_{name}", **metric}],
        **extra,
    }


def scrape(registry: CollectorRegistry) -> Scrape:
    """Render /metrics and parse it back as Prometheus would: a broken exposition raises here."""
    out = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def series(m: Scrape, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: v for (n, labels), v in m.items() if n == name}


async def run_all(sched: Scheduler) -> dict[str, bool]:
    results = await asyncio.gather(*(sched.run_once(c) for c in sched.collectors))
    return {c.name: ok for c, ok in zip(sched.collectors, results, strict=True)}


async def test_postgres_numeric_bigint_time_types_map_to_floats(pg_db: list[dict[str, Any]]) -> None:
    sched, reg = build(
        pg_db,
        [
            query(
                "types",
                "pg",
                "SELECT 'numeric' AS k, 12345.678901::numeric(20,6) AS v "
                "UNION ALL SELECT 'bigint', 9007199254740992::bigint "
                "UNION ALL SELECT 'float', 0.25::float8 "
                "UNION ALL SELECT 'huge', 123456789012345678901234567890::numeric "
                "UNION ALL SELECT 'negative', -42.5::numeric",
                value_column="v",
                label_columns=["k"],
            ),
            query("flag", "pg", "SELECT true AS value"),
            query("ts", "pg", "SELECT to_timestamp(1700000000.5) AS value"),
            query("iv", "pg", "SELECT interval '1 minute 2.5 seconds' AS value"),
        ],
    )
    assert all((await run_all(sched)).values())
    m = scrape(reg)
    assert series(m, "test_types") == {
        (("k", "numeric"),): 12345.678901,
        (("k", "bigint"),): 9007199254740992.0,
        (("k", "float"),): 0.25,
        (("k", "huge"),): 1.2345678901234568e29,
        (("k", "negative"),): -42.5,
    }
    assert m[("test_flag", ())] == 1.0
    assert m[("test_ts", ())] == 1700000000.5
    assert m[("test_iv", ())] == 62.5
    assert m[("escrow_sql_query_rows", (("query", "types"),))] == 5
    assert m[("escrow_sql_query_up", (("query", "types"),))] == 1
    assert m[("escrow_sql_up", (("database", "pg"),))] == 1


async def test_sqlite_integers_reals_and_numeric_text(sqlite_db: list[dict[str, Any]]) -> None:
    sched, reg = build(
        sqlite_db,
        [
            query(
                "amounts_total",
                "lite",
                "SELECT 'int' AS k, 9007199254740992 AS v UNION ALL SELECT 'real', 2.5 "
                "UNION ALL SELECT 'text', ' 17.25 '",
                type="counter",
                value_column="v",
                label_columns=["k"],
                static_labels={"source": "ledger"},
            )
        ],
    )
    assert all((await run_all(sched)).values())
    assert series(scrape(reg), "test_amounts_total") == {
        (("k", "int"), ("source", "ledger")): 9007199254740992.0,
        (("k", "real"), ("source", "ledger")): 2.5,
        (("k", "text"), ("source", "ledger")): 17.25,
    }


async def test_nulls_and_non_numeric_values_are_dropped_and_reported(
    any_db: tuple[str, list[dict[str, Any]]],
) -> None:
    db, dbs = any_db
    # One type per column for PostgreSQL: text values, which the mapping parses when numeric.
    sql = (
        "SELECT 'good' AS k, '1' AS value UNION ALL SELECT 'null', NULL "
        "UNION ALL SELECT 'text', 'abc' UNION ALL SELECT NULL, '3'"
    )
    sched, reg = build(dbs, [query("mixed", db, sql, label_columns=["k"])])
    assert await run_all(sched) == {"sql": True, "sql:mixed": False}
    m = scrape(reg)
    assert series(m, "test_mixed") == {(("k", "good"),): 1.0}
    assert m[("escrow_sql_query_up", (("query", "mixed"),))] == 0
    errors = series(m, "escrow_sql_query_errors_total")
    assert errors == {
        (("query", "mixed"), ("reason", "null_value")): 1,
        (("query", "mixed"), ("reason", "non_numeric")): 1,
    }
    assert m[("escrow_exporter_collector_up", (("collector", "sql:mixed"),))] == 0


async def test_duplicate_label_sets_and_series_cap(any_db: tuple[str, list[dict[str, Any]]]) -> None:
    db, dbs = any_db
    dup = "SELECT 'a' AS k, 1 AS value UNION ALL SELECT 'a', 2 UNION ALL SELECT 'b', 3"
    many = "SELECT id AS k, id AS value FROM t UNION ALL SELECT 3, 3 ORDER BY k"
    sched, reg = build(
        dbs,
        [
            query("dup", db, dup, label_columns=["k"]),
            query("many", db, many, label_columns=["k"], max_series=2),
        ],
    )
    assert await run_all(sched) == {"sql": True, "sql:dup": False, "sql:many": False}
    m = scrape(reg)
    # Which of the two "a" rows is right is unknowable: neither is published.
    assert series(m, "test_dup") == {(("k", "b"),): 3.0}
    assert series(m, "test_many") == {(("k", "1"),): 1.0, (("k", "2"),): 2.0}
    errors = series(m, "escrow_sql_query_errors_total")
    assert errors[(("query", "dup"), ("reason", "duplicate_labels"))] == 1
    assert errors[(("query", "many"), ("reason", "too_many_series"))] == 1


async def test_rows_past_max_series_are_never_read(any_db: tuple[str, list[dict[str, Any]]]) -> None:
    """200,000 rows with max_series 100: the exporter reads 101 rows (the last one only to know
    there were more) and nothing after them. From row 151 on, computing a row is an error
    (division by zero in PostgreSQL, malformed JSON in SQLite): had the exporter read on, the
    query would have failed with ``query_error`` instead of serving its first 100 rows."""
    db, dbs = any_db
    sql = {
        "postgres": "SELECT i AS k, i AS value, 1 / (CASE WHEN i > 150 THEN 0 ELSE 1 END) AS guard "
        "FROM generate_series(1, 200000) AS i",
        "sqlite": "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 200000) "
        "SELECT i AS k, i AS value, json(CASE WHEN i > 150 THEN '{' ELSE '1' END) AS guard FROM s",
    }
    sched, reg = build(dbs, [query("huge", db, sql, label_columns=["k"], max_series=100)])
    assert await run_all(sched) == {"sql": True, "sql:huge": False}
    m = scrape(reg)
    assert series(m, "test_huge") == {(("k", str(i)),): float(i) for i in range(1, 101)}
    assert m[("escrow_sql_query_rows", (("query", "huge"),))] == 101
    errors = series(m, "escrow_sql_query_errors_total")
    assert errors == {(("query", "huge"), ("reason", "too_many_series")): 1}


async def test_bad_sql_and_missing_columns_fail_only_their_query(
    any_db: tuple[str, list[dict[str, Any]]],
) -> None:
    db, dbs = any_db
    sched, reg = build(
        dbs,
        [
            query("syntax", db, "SELEC 1"),
            query("table", db, "SELECT x AS value FROM no_such_table"),
            query("column", db, "SELECT 1 AS other"),
            query("fine", db, "SELECT COUNT(*) AS value FROM t"),
        ],
    )
    ok = await run_all(sched)
    assert ok == {"sql": True, "sql:syntax": False, "sql:table": False, "sql:column": False, "sql:fine": True}
    m = scrape(reg)
    errors = series(m, "escrow_sql_query_errors_total")
    assert errors[(("query", "syntax"), ("reason", "bad_sql"))] == 1
    assert errors[(("query", "table"), ("reason", "bad_sql"))] == 1
    assert errors[(("query", "column"), ("reason", "missing_column"))] == 1
    assert m[("test_fine", ())] == 2
    assert m[("escrow_sql_up", (("database", db),))] == 1  # SQL errors do not make the database down


async def test_writes_are_refused_and_change_nothing(
    any_db: tuple[str, list[dict[str, Any]]],
    pg_server: PgServer,  # noqa: F811
) -> None:
    db, dbs = any_db
    sched, reg = build(
        dbs,
        [
            query("delete", db, "DELETE FROM t RETURNING id AS value"),
            query("insert", db, "INSERT INTO t VALUES (9, 'x') RETURNING id AS value"),
            query("ddl", db, "DROP TABLE t"),
            query("sneaky", db, "SELECT 1 AS value; DELETE FROM t"),
        ],
    )
    ok = await run_all(sched)
    assert not any(v for k, v in ok.items() if k != "sql")
    errors = series(scrape(reg), "escrow_sql_query_errors_total")
    for name in ("delete", "insert", "ddl"):
        assert errors[(("query", name), ("reason", "read_only"))] == 1, errors
    assert errors[(("query", "sneaky"), ("reason", "bad_sql"))] == 1
    if db == "pg":
        assert pg_server.psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM t").strip() == "1,2"
    else:
        conn = sqlite3.connect(dbs[0]["path"])
        assert [r[0] for r in conn.execute("SELECT id FROM t ORDER BY id")] == [1, 2]
        conn.close()


async def test_a_query_timing_out_does_not_hold_up_the_others(
    any_db: tuple[str, list[dict[str, Any]]],
) -> None:
    db, dbs = any_db
    slow = {
        "pg": "SELECT 1 AS value FROM pg_sleep(30)",
        "lite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000000000) "
        "SELECT MAX(x) AS value FROM c",
    }[db]
    sched, reg = build(
        dbs,
        [query("slow", db, slow, timeout_seconds=0.5), query("fast", db, "SELECT COUNT(*) AS value FROM t")],
    )
    ok = await run_all(sched)
    assert ok["sql:slow"] is False and ok["sql:fast"] is True
    m = scrape(reg)
    assert m[("escrow_sql_query_errors_total", (("query", "slow"), ("reason", "timeout")))] == 1
    assert m[("test_fast", ())] == 2
    # The timed-out statement was really cancelled: the database serves the next run normally.
    assert (await run_all(sched))["sql:fast"] is True


async def test_shutdown_interrupts_a_running_sqlite_query(sqlite_db: list[dict[str, Any]]) -> None:
    """Cancelling a cycle (SIGTERM) aborts the statement instead of waiting for it to finish."""
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT MAX(x) AS value FROM c"
    sched, _ = build(sqlite_db, [query("endless", "lite", endless, timeout_seconds=600)])
    (collector,) = [c for c in sched.collectors if c.name == "sql:endless"]
    cycle = asyncio.ensure_future(collector.run_cycle())
    await asyncio.sleep(0.5)  # the statement is running in aiosqlite's thread
    cycle.cancel()
    # Before the fix this waited for the statement: here, forever (the timeout is 10 minutes).
    done, _ = await asyncio.wait({cycle}, timeout=20)
    assert done == {cycle} and cycle.cancelled()


async def test_missing_sqlite_file_is_database_down(tmp_path: Path) -> None:
    dbs = [{"name": "lite", "driver": "sqlite", "path": str(tmp_path / "absent.sqlite")}]
    sched, reg = build(dbs, [query("q", "lite", "SELECT 1 AS value")])
    assert await run_all(sched) == {"sql": False, "sql:q": False}
    m = scrape(reg)
    assert m[("escrow_sql_up", (("database", "lite"),))] == 0
    assert m[("escrow_sql_query_errors_total", (("query", "q"), ("reason", "unavailable")))] == 1
    assert not (tmp_path / "absent.sqlite").exists()  # read-only open never creates the file


@pytest.mark.parametrize("what", ["no such database", "no such role"])
async def test_postgres_refusing_our_credentials_is_database_down(
    pg_server: PgServer,  # noqa: F811
    what: str,
) -> None:
    """A rotated password or a dropped database means nothing can be read: down, not a query bug."""
    base = pg_server.dsn.rsplit("/", 1)[0]
    dsn = (
        f"{base}/nosuchdb"
        if what == "no such database"
        else base.replace("postgres@", "nosuchrole@") + "/postgres"
    )
    dbs = [{"name": "pg", "driver": "postgres", "dsn": dsn, "connect_timeout_seconds": 2}]
    sched, reg = build(dbs, [query("q", "pg", "SELECT 1 AS value")])
    assert await run_all(sched) == {"sql": False, "sql:q": False}
    m = scrape(reg)
    assert m[("escrow_sql_up", (("database", "pg"),))] == 0
    assert m[("escrow_sql_query_errors_total", (("query", "q"), ("reason", "unavailable")))] == 1


async def test_postgres_down_takes_only_its_series_down_and_they_return(
    pg_server: PgServer,  # noqa: F811
    pg_db: list[dict[str, Any]],
    sqlite_db: list[dict[str, Any]],
) -> None:
    sched, reg = build(
        [*pg_db, *sqlite_db],
        [
            query(
                "pg_rows",
                "pg",
                "SELECT name AS k, id AS value FROM t",
                label_columns=["k"],
                interval_seconds=10,
                staleness_intervals=2,
            ),
            query("lite_rows", "lite", "SELECT COUNT(*) AS value FROM t"),
        ],
    )
    pg_query = next(c for c in sched.collectors if c.name == "sql:pg_rows")
    assert isinstance(pg_query, SqlQueryCollector)
    now = [1_000_000.0]
    pg_query.clock = lambda: now[0]

    assert all((await run_all(sched)).values())
    assert series(scrape(reg), "test_pg_rows") == {(("k", "a"),): 1.0, (("k", "b"),): 2.0}

    pg_server.stop()
    try:
        now[0] += 10
        ok = await run_all(sched)
        assert ok == {"sql": False, "sql:pg_rows": False, "sql:lite_rows": True}
        m = scrape(reg)
        assert m[("escrow_sql_up", (("database", "pg"),))] == 0
        assert m[("escrow_sql_up", (("database", "lite"),))] == 1
        assert m[("escrow_sql_query_up", (("query", "pg_rows"),))] == 0
        assert m[("escrow_sql_query_errors_total", (("query", "pg_rows"), ("reason", "unavailable")))] >= 1
        assert m[("test_lite_rows", ())] == 2
        # Last good values stay for staleness_intervals * interval_seconds, never turning into zeros...
        assert series(m, "test_pg_rows") == {(("k", "a"),): 1.0, (("k", "b"),): 2.0}
        now[0] += 11
        # ...then the series disappear.
        assert series(scrape(reg), "test_pg_rows") == {}
    finally:
        pg_server.start()

    now[0] += 10
    ok = await run_all(sched)
    if not ok["sql:pg_rows"]:  # a pooled connection from before the restart may fail once
        ok = await run_all(sched)
    assert ok == {"sql": True, "sql:pg_rows": True, "sql:lite_rows": True}
    m = scrape(reg)
    assert m[("escrow_sql_up", (("database", "pg"),))] == 1
    assert series(m, "test_pg_rows") == {(("k", "a"),): 1.0, (("k", "b"),): 2.0}
