"""SQLite through aiosqlite, opened read-only (``file:...?mode=ro``).

Connections are kept and reused: each one is a worker thread with its own page cache (and, under
glibc, a malloc arena), and opening one per query every 30 s churned threads and memory for the
life of the process (the soak's RSS growth, issue 13). Up to ``pool_size`` connections stay
open per database; a query that finds them all busy for ``_OVERFLOW_AFTER_SECONDS`` opens one of
its own for that run and closes it after, so a slow query never holds the others up for long,
and a timeout interrupts only its own connection. A connection is reopened when the file at the
path is a different file (replaced by a restore or a copy: ``os.stat`` device and inode), so a
deleted file is never read forever, and after any error that is not the query's own (bad SQL, a
refused write, a timeout).

Writes fail four ways over: the read-only open mode, ``PRAGMA query_only``, an authorizer that
allows reading and nothing else (so no ``ATTACH``, ``VACUUM INTO``, setting a pragma or loading an
extension, which the read-only mode does not stop from creating files), and sqlite3 accepting one
statement per call. The authorizer also refuses ``BEGIN``, so no query can leave a read
transaction open on a pooled connection (which would pin an old snapshot and keep the WAL from
being checkpointed); a connection found inside one anyway is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
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

#: How long a query waits for one of the database's kept connections before it opens one of its
#: own for this run. The example config starts a dozen queries at once: on the demo ledger they
#: take milliseconds each and share two connections; only a slow one spills over.
_OVERFLOW_AFTER_SECONDS = 1.0
#: Page cache of each kept connection, in KiB. A kept connection holds its cache between queries
#: (that is part of the point: hot pages are not re-read), so the cap is what each one may keep
#: resident however large the ledger grows: 512 KiB times pool_size. SQLite's default is 2 MiB;
#: the metric queries scan a few tables once per run and gain nothing from more.
_CACHE_KIB = 512
#: A query's own failures: the connection is fine and stays in the pool. Anything else
#: (unavailable, or an exception that is not sqlite3's) closes it and the next query reopens.
_CONNECTION_STILL_GOOD = frozenset({BAD_SQL, READ_ONLY, TIMEOUT, QUERY_ERROR})


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


def file_identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path`` now; None if it cannot be seen (the open then
    fails and says why)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


@dataclass(slots=True, eq=False)
class _Connection:
    conn: aiosqlite.Connection
    #: The file's identity taken just before opening: if the path is replaced between that stat
    #: and the open, the next query sees a mismatch and reopens once more (never the reverse).
    file_id: tuple[int, int] | None
    #: Kept in the pool after the query (False: an overflow connection, closed after its query).
    kept: bool
    #: ``close()`` bumps the database's generation: connections opened before it are not kept.
    generation: int


class SqliteDatabase(Database):
    def __init__(self, config: DatabaseConfig) -> None:
        super().__init__(config)
        assert config.path is not None  # checked by the config
        self.path = config.path
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(config.pool_size)
        self._generation = 0

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

    async def close(self) -> None:
        """Close the kept connections; those running a query now are closed when it ends."""
        self._generation += 1
        idle, self._idle = self._idle, []
        await asyncio.gather(*(self._discard(c) for c in idle))

    async def _fetch(
        self, sql: str, timeout: float, params: Sequence[Any], max_rows: int | None
    ) -> QueryResult:
        kept = await self._take_slot()
        try:
            c = await self._checkout(kept)
            still_good = False
            try:
                result = await self._query(c.conn, sql, timeout, params, max_rows)
                still_good = True
                return result
            except SqlError as e:
                still_good = e.reason in _CONNECTION_STILL_GOOD
                raise
            finally:
                await self._checkin(c, still_good)
        finally:
            if kept:
                self._slots.release()

    async def _take_slot(self) -> bool:
        """True: the query may use (or open) a kept connection; False: it runs on its own one."""
        try:
            await asyncio.wait_for(self._slots.acquire(), _OVERFLOW_AFTER_SECONDS)
        except TimeoutError:
            return False
        return True

    async def _checkout(self, kept: bool) -> _Connection:
        file_id = file_identity(self.path)
        while kept and self._idle:
            c = self._idle.pop()
            if file_id is not None and c.file_id == file_id:
                return c
            # The path is now another file (or none): never keep reading the old, deleted one.
            await self._discard(c)
        return await self._open(file_id, kept)

    async def _checkin(self, c: _Connection, still_good: bool) -> None:
        if still_good and c.kept and c.generation == self._generation and not c.conn.in_transaction:
            self._idle.append(c)
        else:
            await self._discard(c)

    async def _open(self, file_id: tuple[int, int] | None, kept: bool) -> _Connection:
        pending = aiosqlite.connect(
            read_only_uri(self.path), uri=True, timeout=self.config.connect_timeout_seconds
        )
        # Kept connections live until close(): should a program using this class never call it,
        # a non-daemon worker thread would keep the process from exiting. Only reads are in flight.
        thread = getattr(pending, "_thread", None)
        if isinstance(thread, threading.Thread):
            thread.daemon = True
        # mode=ro never creates the file: a missing file fails here, naming the path.
        try:
            conn = await pending
        except sqlite3.Error as e:
            raise SqlError(UNAVAILABLE, f"database {self.name}: cannot open {self.path}: {e}") from None
        try:
            # Both before the authorizer, which refuses setting any pragma.
            await conn.execute("PRAGMA query_only = ON")
            await conn.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
            await conn.set_authorizer(read_only_authorizer)
        except sqlite3.Error as e:
            await self._discard(_Connection(conn, file_id, False, self._generation))
            raise self._classify(e) from None
        return _Connection(conn, file_id, kept, self._generation)

    @staticmethod
    async def _discard(c: _Connection) -> None:
        with contextlib.suppress(sqlite3.Error, ValueError):
            await c.conn.close()

    async def _query(
        self,
        conn: aiosqlite.Connection,
        sql: str,
        timeout: float,
        params: Sequence[Any],
        max_rows: int | None,
    ) -> QueryResult:
        try:
            task = asyncio.ensure_future(self._run(conn, sql, params, max_rows))
            try:
                return await asyncio.wait_for(asyncio.shield(task), timeout)
            except (TimeoutError, asyncio.CancelledError) as e:
                # sqlite3's interrupt() is thread-safe: it aborts the statement in the worker
                # thread. On cancellation (shutdown) too, or closing would wait for the query.
                # Called when no statement runs, it is a no-op: the next query is not affected.
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
