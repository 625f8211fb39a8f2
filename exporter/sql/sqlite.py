"""SQLite through aiosqlite, opened read-only (``file:...?mode=ro``).

A fresh connection per query: each runs in its own thread, so a slow query never queues the
others behind it, and a timeout interrupts only its own connection. Writes fail three ways over:
the read-only open mode, ``PRAGMA query_only``, and sqlite3 accepting one statement per call.
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
)


def read_only_uri(path: str) -> str:
    return f"file:{quote(str(Path(path).resolve()))}?mode=ro"


class SqliteDatabase(Database):
    def __init__(self, config: DatabaseConfig) -> None:
        super().__init__(config)
        assert config.path is not None  # checked by the config
        self.path = config.path

    async def fetch(self, sql: str, timeout: float, params: Sequence[Any] = ()) -> QueryResult:
        try:
            result = await self._fetch(sql, timeout, params)
        except SqlError as e:
            self._mark(e)
            raise
        self._mark(None)
        return result

    async def _fetch(self, sql: str, timeout: float, params: Sequence[Any] = ()) -> QueryResult:
        # mode=ro never creates the file: a missing file fails here, naming the path.
        try:
            conn = await aiosqlite.connect(
                read_only_uri(self.path), uri=True, timeout=self.config.connect_timeout_seconds
            )
        except sqlite3.Error as e:
            raise SqlError(UNAVAILABLE, f"database {self.name}: cannot open {self.path}: {e}") from None
        try:
            await conn.execute("PRAGMA query_only = ON")
            task = asyncio.ensure_future(self._run(conn, sql, params))
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
    async def _run(conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> QueryResult:
        async with conn.execute(sql, tuple(params)) as cur:
            rows = await cur.fetchall()
            columns = [d[0] for d in cur.description or ()]
        return QueryResult(columns, [tuple(r) for r in rows])

    def _classify(self, e: sqlite3.Error) -> SqlError:
        text = str(e)
        msg = f"database {self.name}: {type(e).__name__}: {text}"
        lowered = text.lower()
        if "readonly" in lowered or "read-only" in lowered or "query_only" in lowered:
            return SqlError(READ_ONLY, f"{msg} (the database is opened read-only; writes are refused)")
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
