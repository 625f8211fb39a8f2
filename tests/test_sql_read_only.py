"""Read-only is a promise: every attack from the hardening review, run through the drivers
(below the config's deny-list, as if a query had slipped past it) against a real PostgreSQL
and a real SQLite file. Each test checks the side effect did not happen, not just an error."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from exporter.config.sql import DatabaseConfig
from exporter.sql.database import Database, SqlError, open_database
from tests.support.pg_server import PgServer, pg_server  # noqa: F401 - the session fixture

_opened: list[Database] = []


@pytest.fixture(autouse=True)
async def _close_databases() -> AsyncIterator[None]:
    yield
    while _opened:
        await _opened.pop().close()


def database(**config: object) -> Database:
    db = open_database(DatabaseConfig.model_validate({"name": "db", "connect_timeout_seconds": 5, **config}))
    _opened.append(db)
    return db


async def refused(db: Database, sql: str) -> SqlError:
    with pytest.raises(SqlError) as e:
        await db.fetch(sql, 5)
    return e.value


@pytest.fixture
def pg_table(pg_server: PgServer) -> PgServer:  # noqa: F811
    pg_server.psql("DROP TABLE IF EXISTS ro_t; CREATE TABLE ro_t (id INT); INSERT INTO ro_t VALUES (1)")
    return pg_server


# --- PostgreSQL, the SELECT-only role of the docs ---------------------------------------------


async def test_lo_create_by_a_select_only_role_leaves_no_large_object(pg_table: PgServer) -> None:
    db = database(driver="postgres", dsn=pg_table.role_dsn("ro_reader", "SELECT ON ro_t"))
    before = pg_table.psql("SELECT count(*) FROM pg_largeobject_metadata").strip()
    # READ ONLY lets lo_create run: the query succeeds, but its transaction is rolled back.
    result = await db.fetch("SELECT lo_create(0) AS value", 5)
    assert len(result.rows) == 1
    assert pg_table.psql("SELECT count(*) FROM pg_largeobject_metadata").strip() == before


async def test_pg_notify_by_a_select_only_role_is_never_delivered(pg_table: PgServer) -> None:
    db = database(driver="postgres", dsn=pg_table.role_dsn("ro_reader", "SELECT ON ro_t"))
    listener = await asyncpg.connect(pg_table.dsn)
    received: list[str] = []
    sentinel_seen = asyncio.Event()

    def on_notify(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        received.append(payload)
        if payload == "sentinel":
            sentinel_seen.set()

    try:
        await listener.add_listener("escrow_ro_test", on_notify)
        await db.fetch("SELECT pg_notify('escrow_ro_test', 'from-exporter') AS value", 5)
        # Notifications arrive in commit order: once the sentinel is here, a committed
        # notification from the exporter's query would have arrived before it.
        pg_table.psql("SELECT pg_notify('escrow_ro_test', 'sentinel')")
        await asyncio.wait_for(sentinel_seen.wait(), 30)
    finally:
        await listener.close()
    assert received == ["sentinel"]


async def test_a_session_advisory_lock_is_released_with_the_query(pg_table: PgServer) -> None:
    """A session-level lock outlives a rollback; the pool's reset on release frees it, so a
    query cannot block the application's own advisory locks."""
    db = database(driver="postgres", dsn=pg_table.role_dsn("ro_reader", "SELECT ON ro_t"), pool_size=1)
    await db.fetch("SELECT pg_advisory_lock(4242) AS value", 5)
    assert pg_table.psql("SELECT pg_try_advisory_lock(4242)").strip() == "t"


# --- PostgreSQL, stronger roles are refused before any query runs ------------------------------


@pytest.mark.parametrize(
    ("role", "grants", "attack", "named"),
    [
        ("ro_signaller", ["pg_signal_backend"], "SELECT pg_terminate_backend({victim})", "pg_signal_backend"),
        ("ro_filewriter", ["pg_write_server_files"], "COPY (SELECT 1) TO '{file}'", "pg_write_server_files"),
        ("ro_filereader", ["pg_read_server_files"], "SELECT pg_read_file('{file}')", "pg_read_server_files"),
        (
            "ro_reloader",
            ["EXECUTE ON FUNCTION pg_reload_conf()"],
            "SELECT pg_reload_conf()",
            "pg_reload_conf()",
        ),
        ("ro_writer", ["INSERT ON ro_t"], "SELECT 1", "may write tables, e.g. public.ro_t"),
        ("ro_writeall", ["pg_write_all_data"], "SELECT 1", "is a member of pg_write_all_data"),
        ("postgres", [], "SELECT pg_terminate_backend({victim})", "is a superuser"),
    ],
)
async def test_a_role_that_can_do_more_than_read_is_refused(
    pg_table: PgServer,
    tmp_path: Path,
    role: str,
    grants: list[str],
    attack: str,
    named: str,
) -> None:
    dsn = pg_table.dsn if role == "postgres" else pg_table.role_dsn(role, "SELECT ON ro_t", *grants)
    victim = await asyncpg.connect(pg_table.dsn)
    try:
        pid = await victim.fetchval("SELECT pg_backend_pid()")
        loaded = pg_table.psql("SELECT pg_conf_load_time()")
        target = tmp_path / "copied.txt"
        db = database(driver="postgres", dsn=dsn)
        err = await refused(db, attack.format(victim=pid, file=target))
        assert err.reason == "privileged_role"
        assert named in err.message and "allow_privileged_role" in err.message
        assert db.up is False  # escrow_sql_up 0: nothing can be read until the role is fixed
        # Nothing ran: the victim session lives, no file was written, the config was not reloaded.
        assert await victim.fetchval("SELECT 1") == 1
        assert not target.exists()
        assert pg_table.psql("SELECT pg_conf_load_time()") == loaded
    finally:
        await victim.close()


async def test_opting_out_still_rolls_every_query_back(pg_table: PgServer) -> None:
    """allow_privileged_role (development setups) skips the role check, not the rollback."""
    db = database(driver="postgres", dsn=pg_table.dsn, allow_privileged_role=True)
    before = pg_table.psql("SELECT count(*) FROM pg_largeobject_metadata").strip()
    await db.fetch("SELECT lo_create(0) AS value", 5)
    assert db.up is True
    assert pg_table.psql("SELECT count(*) FROM pg_largeobject_metadata").strip() == before


# --- SQLite -----------------------------------------------------------------------------------


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "business.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE t (id INTEGER); INSERT INTO t VALUES (1);")
    conn.close()
    return path


async def test_sqlite_attach_and_vacuum_into_create_no_file(sqlite_file: Path, tmp_path: Path) -> None:
    db = database(driver="sqlite", path=str(sqlite_file))
    attached, vacuumed = tmp_path / "attached.sqlite", tmp_path / "vacuumed.sqlite"
    for sql in (
        f"ATTACH 'file:{attached}?mode=rwc' AS x",
        f"ATTACH '{attached}' AS x",
        f"VACUUM INTO '{vacuumed}'",
        "VACUUM",
    ):
        err = await refused(db, sql)
        assert err.reason == "read_only", (sql, err.message)
    assert not attached.exists() and not vacuumed.exists()
    assert db.up is True  # a refused statement is the query's problem, not the database's


@pytest.mark.parametrize(
    "sql",
    [
        "PRAGMA query_only = OFF",
        "PRAGMA user_version = 7",
        "PRAGMA journal_mode = DELETE",
        "SELECT load_extension('/tmp/nope')",
        "INSERT INTO t VALUES (2)",
        "CREATE TEMP TABLE x (i)",
    ],
)
async def test_sqlite_pragma_writes_extensions_and_writes_are_denied(sqlite_file: Path, sql: str) -> None:
    db = database(driver="sqlite", path=str(sqlite_file))
    assert (await refused(db, sql)).reason == "read_only"
    conn = sqlite3.connect(sqlite_file)
    assert conn.execute("PRAGMA user_version").fetchone() == (0,)
    assert conn.execute("SELECT id FROM t").fetchall() == [(1,)]
    conn.close()


async def test_sqlite_reading_still_works(sqlite_file: Path) -> None:
    db = database(driver="sqlite", path=str(sqlite_file))
    assert (await db.fetch("SELECT COUNT(*) AS value FROM t", 5)).rows == [(1,)]
    assert (await db.fetch("PRAGMA table_info(t)", 5)).rows[0][1] == "id"
    assert (await db.fetch("PRAGMA user_version", 5)).rows == [(0,)]
    recursive = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3) SELECT SUM(x) FROM c"
    )
    assert (await db.fetch(recursive, 5)).rows == [(6,)]
