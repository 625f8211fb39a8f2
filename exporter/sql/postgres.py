"""PostgreSQL through an asyncpg pool; every query runs in a READ ONLY transaction that is
always rolled back.

Layers that keep a query from writing: the session default ``default_transaction_read_only``,
the explicit ``BEGIN READ ONLY`` around each query, the ROLLBACK that ends it (so functions that
READ ONLY allows, such as ``pg_notify`` or ``lo_create``, never take effect), and asyncpg's
prepared statements, which accept a single statement only (so ``SELECT 1; COMMIT; DELETE ...``
is rejected outright). What a rollback cannot undo is refused at connection time by the role
check (``exporter.sql.pg_role``); see docs/sql.md "Read-only".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

import asyncpg

from exporter.config.sql import DatabaseConfig
from exporter.sql.database import (
    BAD_SQL,
    PRIVILEGED_ROLE,
    QUERY_ERROR,
    READ_ONLY,
    TIMEOUT,
    UNAVAILABLE,
    Database,
    QueryResult,
    SqlError,
    limit_rows,
)
from exporter.sql.pg_role import PrivilegedRole, refuse_privileged_role

#: Extra seconds the client waits beyond the server-side statement_timeout before giving up itself.
_CLIENT_GRACE = 2.0


class PostgresDatabase(Database):
    def __init__(self, config: DatabaseConfig) -> None:
        super().__init__(config)
        assert config.dsn is not None  # checked by the config
        self._dsn = config.dsn
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        self._secrets = [s for s in (self._dsn, urlparse(self._dsn).password) if s]

    def _redact(self, text: str) -> str:
        """Driver messages must never carry the DSN or its password into logs."""
        for s in self._secrets:
            text = text.replace(s, "***")
        return text

    async def _get_pool(self) -> asyncpg.Pool:
        async with self._lock:
            if self._pool is None:
                try:
                    # min_size=0: creating the pool does not connect, so a database that is down
                    # at start-up is just "down", and the pool reconnects by itself later.
                    self._pool = await asyncpg.create_pool(
                        self._dsn,
                        min_size=0,
                        max_size=self.config.pool_size,
                        timeout=self.config.connect_timeout_seconds,
                        # Every new connection checks its role before any query runs on it.
                        init=None if self.config.allow_privileged_role else refuse_privileged_role,
                        server_settings={
                            "application_name": "escrow-exporter",
                            "default_transaction_read_only": "on",
                        },
                    )
                except (ValueError, TypeError):
                    raise SqlError(UNAVAILABLE, f"database {self.name}: invalid dsn") from None
            return self._pool

    async def fetch(
        self, sql: str, timeout: float, params: Sequence[Any] = (), max_rows: int | None = None
    ) -> QueryResult:
        try:
            result = await asyncio.wait_for(
                self._fetch(sql, timeout, params, max_rows),
                timeout + self.config.connect_timeout_seconds + _CLIENT_GRACE,
            )
        except SqlError as e:
            self._mark(e)
            raise
        except TimeoutError:
            err = SqlError(TIMEOUT, f"database {self.name}: no answer within {timeout}s")
            self._mark(err)
            raise err from None
        self._mark(None)
        return result

    async def _fetch(
        self, sql: str, timeout: float, params: Sequence[Any], max_rows: int | None
    ) -> QueryResult:
        pool = await self._get_pool()
        try:
            async with pool.acquire(timeout=self.config.connect_timeout_seconds) as conn:
                transaction = conn.transaction(readonly=True)
                await transaction.start()
                try:
                    # SET LOCAL: the timeout ends with this transaction, the pooled session is untouched.
                    await conn.execute(f"SET LOCAL statement_timeout = {max(1, int(timeout * 1000))}")
                    stmt = await conn.prepare(sql)
                    columns = [a.name for a in stmt.get_attributes()]
                    if max_rows is None:
                        records = await stmt.fetch(*params)
                    else:
                        # A portal read max_rows + 1 rows at a time: the server stops producing
                        # rows there, and the rest of a huge result never reaches this process.
                        cursor = await stmt.cursor(*params)
                        records = await cursor.fetch(max_rows + 1)
                finally:
                    # Never COMMIT: what READ ONLY lets through (pg_notify, lo_create, set_config,
                    # temp-table writes) is transactional, and a rollback undoes all of it.
                    if not conn.is_closed():
                        with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                            await transaction.rollback()
        except PrivilegedRole as e:
            raise SqlError(
                PRIVILEGED_ROLE,
                f"database {self.name}: refusing to run queries as {e}; connect as a role that may "
                'only read (docs/sql.md "Read-only"), or set allow_privileged_role: true',
            ) from None
        except asyncpg.PostgresError as e:
            raise self._classify(e) from None
        except (OSError, asyncpg.InterfaceError, asyncpg.InternalClientError, TimeoutError) as e:
            raise SqlError(
                UNAVAILABLE, f"database {self.name}: cannot reach the server: {self._describe(e)}"
            ) from None
        return limit_rows(columns, [tuple(r) for r in records], max_rows)

    def _describe(self, e: BaseException) -> str:
        return self._redact(f"{type(e).__name__}: {e}".strip().rstrip(":"))

    def _classify(self, e: asyncpg.PostgresError) -> SqlError:
        state = getattr(e, "sqlstate", "") or ""
        msg = f"database {self.name}: {self._describe(e)}"
        if state == "25006":  # read_only_sql_transaction
            return SqlError(READ_ONLY, f"{msg} (queries run read-only; writes are refused)")
        if state == "57014":  # query_canceled: our statement_timeout fired
            return SqlError(TIMEOUT, msg)
        if state.startswith(("08", "57P", "53")):  # connection, shutdown, out of resources
            return SqlError(UNAVAILABLE, msg)
        if state.startswith("28") or state == "3D000":
            # Bad password or role, or no such database: nothing can be read until someone fixes
            # the credentials or the DSN, so the database is down (EscrowSqlDatabaseDown).
            return SqlError(UNAVAILABLE, f"{msg} (check the DSN's user, password and database)")
        if state.startswith("42"):  # syntax error or access rule violation (unknown table, column...)
            return SqlError(BAD_SQL, msg)
        return SqlError(QUERY_ERROR, msg)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 5)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                pool.terminate()
