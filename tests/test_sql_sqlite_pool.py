"""SQLite connections are kept between queries (issue 13: one thread, page cache and malloc arena
per query churned memory for the life of the exporter) without giving up what a fresh connection
per query guaranteed: read-only, timeouts, and reading the file that is at the path now."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from exporter.config.sql import DatabaseConfig
from exporter.sql.database import Database, SqlError, open_database

_opened: list[Database] = []

#: Runs until interrupted (about a minute on its own): only a working interrupt ends it in time.
SLOW = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000) SELECT MAX(x) FROM c"
)


@pytest.fixture(autouse=True)
async def _close_databases() -> AsyncIterator[None]:
    yield
    while _opened:
        await _opened.pop().close()


def write_db(path: Path, value: int) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(f"CREATE TABLE t (id INTEGER); INSERT INTO t VALUES ({value});")
    conn.close()


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.sqlite"
    write_db(path, 1)
    return path


def database(path: Path, pool_size: int = 2) -> Database:
    config = {"name": "lite", "driver": "sqlite", "path": str(path), "pool_size": pool_size}
    db = open_database(DatabaseConfig.model_validate(config))
    _opened.append(db)
    return db


async def test_connections_are_reused_across_queries(ledger: Path) -> None:
    db = database(ledger, pool_size=2)
    before = threading.active_count()
    for _ in range(50):
        assert (await db.fetch("SELECT id FROM t", 5)).rows == [(1,)]
    assert threading.active_count() == before + 1  # one worker thread served all 50
    # A burst like the example config's (a dozen queries on the same tick) shares the pool.
    results = await asyncio.gather(*(db.fetch("SELECT COUNT(*) FROM t", 5) for _ in range(12)))
    assert all(r.rows == [(1,)] for r in results)
    assert threading.active_count() <= before + 2
    await db.close()
    await asyncio.sleep(0.1)  # the worker threads end once their connection is closed
    assert threading.active_count() == before


async def test_a_replaced_file_is_reopened(ledger: Path, tmp_path: Path) -> None:
    """A restore or a copy swaps the file under the path: the kept connection still has the old,
    deleted one open. The next query must read the new file."""
    db = database(ledger)
    assert (await db.fetch("SELECT id FROM t", 5)).rows == [(1,)]
    fresh = tmp_path / "restored.sqlite"
    write_db(fresh, 2)
    os.replace(fresh, ledger)
    assert (await db.fetch("SELECT id FROM t", 5)).rows == [(2,)]
    os.unlink(ledger)  # gone altogether: the database is down, not served from the deleted file
    with pytest.raises(SqlError) as e:
        await db.fetch("SELECT id FROM t", 5)
    assert e.value.reason == "unavailable" and str(ledger) in e.value.message
    assert db.up is False
    await asyncio.sleep(0.05)  # aiosqlite ends a failed open's thread without waiting for it


async def test_a_kept_connection_stays_read_only(ledger: Path) -> None:
    """A query cannot change the connection for the queries that come after it on the same one."""
    db = database(ledger, pool_size=1)
    for sql in (
        "PRAGMA query_only = OFF",
        "INSERT INTO t VALUES (2)",
        "BEGIN",
        "PRAGMA cache_size = -100000",
    ):
        with pytest.raises(SqlError) as e:
            await db.fetch(sql, 5)
        assert e.value.reason == "read_only", (sql, e.value.message)
    with pytest.raises(SqlError) as e:  # query_only = OFF above did not take: still refused
        await db.fetch("INSERT INTO t VALUES (3)", 5)
    assert e.value.reason == "read_only"
    assert (await db.fetch("SELECT id FROM t", 5)).rows == [(1,)]
    conn = sqlite3.connect(ledger)
    assert conn.execute("SELECT id FROM t").fetchall() == [(1,)]
    conn.close()


async def test_a_timeout_interrupts_and_the_connection_serves_the_next_query(ledger: Path) -> None:
    db = database(ledger, pool_size=1)
    await db.fetch("SELECT 1", 5)
    threads = threading.active_count()
    started = time.monotonic()
    with pytest.raises(SqlError) as e:
        await db.fetch(SLOW, 0.3)
    assert e.value.reason == "timeout" and time.monotonic() - started < 3
    assert db.up is True
    assert (await db.fetch("SELECT id FROM t", 5)).rows == [(1,)]
    assert threading.active_count() == threads  # the same connection, not a new one


async def test_a_slow_query_holding_every_kept_connection_does_not_hold_up_others(ledger: Path) -> None:
    db = database(ledger, pool_size=1)
    slow = asyncio.ensure_future(db.fetch(SLOW, 10))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    assert (await db.fetch("SELECT id FROM t", 5)).rows == [(1,)]
    assert time.monotonic() - started < 3  # an overflow connection after waiting a second
    slow.cancel()
    done, _ = await asyncio.wait({slow}, timeout=10)
    assert done == {slow} and slow.cancelled()  # shutdown still interrupts the running statement
