"""SQLite through aiosqlite, opened read-only (``file:...?mode=ro``).

A fresh connection per query: each runs in its own thread, so a slow query never queues the
others behind it, and a timeout interrupts only its own connection. Writes fail four ways over:
the read-only open mode, ``PRAGMA query_only``, an authorizer that allows reading and nothing
else (so no ``ATTACH``, ``VACUUM INTO``, setting a pragma or loading an extension, which the
read-only mode does not stop from creating files), and sqlite3 accepting one statement per call.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiosqlite

from exporter.config.sql import DatabaseConfig
from exporter.sql.database import (
    BAD_SQL,
    QUERY_ERROR,
    READ_ONLY,
    TIMEOUT,
    UNAVAILABLE,
    Database,
    QueryResult,
    SqlError,
    limit_rows,
)

#: Pragmas that only report something; any other pragma, or one of these given a value, is denied.
_READ_PRAGMAS = frozenset(
    {
        "application_id", "collation_list", "compile_options", "data_version", "database_list",
        "encoding", "foreign_key_list", "foreign_keys", "freelist_count", "function_list",
        "index_info", "index_list", "index_xinfo", "journal_mode", "module_list", "page_count",
        "page_size", "pragma_list", "schema_version", "table_info", "table_list", "table_xinfo",
        "user_version",
    }
)  # fmt: skip
#: Of those, the ones whose argument names what to report on (a table or an index), not a new value.
_PRAGMAS_NAMING_A_TABLE = frozenset(
    {"foreign_key_list", "index_info", "index_list", "index_xinfo", "table_info", "table_list", "table_xinfo"}
)
#: Functions that reach outside the database file (extensions; the shell's file functions).
_DENIED_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"})


def read_only_authorizer(
    action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None
) -> int:
    """sqlite3 authorizer: reading is allowed, everything else (writes, DDL, ATTACH, which
    ``VACUUM INTO`` also goes through, setting a pragma, extension loading) is denied."""
    if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE):
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION:
        return sqlite3.SQLITE_DENY if (arg2 or "").lower() in _DENIED_FUNCTIONS else sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA:
        name = (arg1 or "").lower()
        if name in _READ_PRAGMAS and (arg2 is None or name in _PRAGMAS_NAMING_A_TABLE):
            return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def read_only_uri(path: str) -> str:
    return f"file:{quote(str(Path(path).resolve()))}?mode=ro"


class SqliteDatabase(Database):
    def __init__(self, config: DatabaseConfig) -> None:
        super().__init__(config)
        assert config.path is not None  # checked by the config
        self.path = config.path

    async def fetch(
        self, sql: str, timeout: float, params: Sequence[Any] = (), max_rows: int | None = None
    ) -> QueryResult:
        try:
            result = await self._fetch(sql, timeout, params, max_rows)
        except SqlError as e:
            self._mark(e)
            raise
        self._mark(None)
        return result

    async def _fetch(
        self, sql: str, timeout: float, params: Sequence[Any], max_rows: int | None
    ) -> QueryResult:
        # mode=ro never creates the file: a missing file fails here, naming the path.
        try:
            conn = await aiosqlite.connect(
                read_only_uri(self.path), uri=True, timeout=self.config.connect_timeout_seconds
            )
        except sqlite3.Error as e:
            raise SqlError(UNAVAILABLE, f"database {self.name}: cannot open {self.path}: {e}") from None
        try:
            await conn.execute("PRAGMA query_only = ON")
            await conn.set_authorizer(read_only_authorizer)
            task = asyncio.ensure_future(self._run(conn, sql, params, max_rows))
            try:
                return await asyncio.wait_for(asyncio.shield(task), timeout)
            except (TimeoutError, asyncio.CancelledError) as e:
                # sqlite3's interrupt() is thread-safe: it aborts the statement in the worker
                # thread. On cancellation (shutdown) too, or closing would wait for the query.
                await conn.interrupt()
                try:
                    await task
                except (sqlite3.Error, ValueError):
                    pass
                if isinstance(e, asyncio.CancelledError):
                    raise
                raise SqlError(TIMEOUT, f"database {self.name}: query ran longer than {timeout}s") from None
        except sqlite3.Error as e:
            raise self._classify(e) from None
        finally:
            await conn.close()

    @staticmethod
    async def _run(
        conn: aiosqlite.Connection, sql: str, params: Sequence[Any], max_rows: int | None
    ) -> QueryResult:
        async with conn.execute(sql, tuple(params)) as cur:
            # sqlite3 steps the statement row by row: rows past max_rows + 1 are never computed.
            rows = await (cur.fetchall() if max_rows is None else cur.fetchmany(max_rows + 1))
            columns = [d[0] for d in cur.description or ()]
        return limit_rows(columns, [tuple(r) for r in rows], max_rows)

    def _classify(self, e: sqlite3.Error) -> SqlError:
        text = str(e)
        msg = f"database {self.name}: {type(e).__name__}: {text}"
        lowered = text.lower()
        if "readonly" in lowered or "read-only" in lowered or "query_only" in lowered:
            return SqlError(READ_ONLY, f"{msg} (the database is opened read-only; writes are refused)")
        if "not authorized" in lowered or "authorization denied" in lowered:
            return SqlError(
                READ_ONLY,
                f"{msg} (the exporter only reads: writes, ATTACH, VACUUM, setting pragmas and "
                "extension functions are refused)",
            )
        if "interrupted" in lowered:
            return SqlError(TIMEOUT, msg)
        if "one statement at a time" in lowered:
            return SqlError(BAD_SQL, f"{msg} (a query must be a single statement)")
        if isinstance(e, sqlite3.OperationalError) and any(
            k in lowered
            for k in ("syntax error", "no such", "incomplete input", "unrecognized token", "ambiguous")
        ):
            return SqlError(BAD_SQL, msg)
        if isinstance(e, sqlite3.OperationalError) and any(
            k in lowered for k in ("unable to open", "disk i/o", "not a database")
        ):
            return SqlError(UNAVAILABLE, msg)
        if isinstance(e, sqlite3.ProgrammingError | sqlite3.Warning):
            return SqlError(BAD_SQL, msg)
        return SqlError(QUERY_ERROR, msg)
