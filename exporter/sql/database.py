"""The interface both drivers implement, and the errors they raise."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from exporter.collectors.base import CollectorError
from exporter.config.sql import DatabaseConfig

#: Reasons (the ``reason`` label of ``escrow_sql_query_errors_total``) a driver can raise.
UNAVAILABLE = "unavailable"  # cannot connect / connection lost: the database is down
TIMEOUT = "timeout"  # the statement ran longer than the query's timeout_seconds
READ_ONLY = "read_only"  # the statement tried to write
BAD_SQL = "bad_sql"  # syntax error, unknown table or column...
QUERY_ERROR = "query_error"  # any other error reported by the database


class SqlError(CollectorError):
    """A query or connection failed; ``reason`` is one of the constants above."""


@dataclass(slots=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


class Database(abc.ABC):
    """One configured database. ``up`` is what the last contact with it said (None: not yet tried)."""

    def __init__(self, config: DatabaseConfig) -> None:
        self.config = config
        self.name = config.name
        self.up: bool | None = None

    @abc.abstractmethod
    async def fetch(self, sql: str, timeout: float, params: Sequence[Any] = ()) -> QueryResult:
        """Run ``sql`` in a read-only session, cancelled after ``timeout`` seconds; raise ``SqlError``.

        ``params`` are bound parameters (``?1`` in SQLite, ``$1`` in PostgreSQL), never spliced
        into the text: the reconciliation's "as of slot" query passes its slot this way."""

    async def ping(self) -> None:
        """Check the database answers; raise ``SqlError`` if not."""
        await self.fetch("SELECT 1", self.config.connect_timeout_seconds)

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections. Safe to call more than once."""

    def _mark(self, error: SqlError | None) -> None:
        """Any answer from the server (even an SQL error) means it is up; only connection trouble is down."""
        self.up = error is None or error.reason != UNAVAILABLE


def open_database(config: DatabaseConfig) -> Database:
    """The driver for ``config`` (connections open lazily, at the first query)."""
    if config.driver == "postgres":
        from exporter.sql.postgres import PostgresDatabase

        return PostgresDatabase(config)
    from exporter.sql.sqlite import SqliteDatabase

    return SqliteDatabase(config)
