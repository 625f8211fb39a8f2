"""The interface both drivers implement, and the errors they raise."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from exporter.config.sql import DatabaseConfig
from exporter.errors import CollectorError

#: Reasons (the ``reason`` label of ``escrow_sql_query_errors_total``) a driver can raise.
UNAVAILABLE = "unavailable"  # cannot connect / connection lost: the database is down
TIMEOUT = "timeout"  # the statement ran longer than the query's timeout_seconds
READ_ONLY = "read_only"  # the statement tried to write
BAD_SQL = "bad_sql"  # syntax error, unknown table or column...
QUERY_ERROR = "query_error"  # any other error reported by the database
#: The PostgreSQL role may do more than read (superuser, server files, signals, table writes):
#: nothing is run with it, and the database counts as down until the role is fixed.
PRIVILEGED_ROLE = "privileged_role"


class SqlError(CollectorError):
    """A query or connection failed; ``reason`` is one of the constants above."""


@dataclass(slots=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    #: The query had more than ``max_rows`` rows: ``rows`` holds the first ``max_rows``, the
    #: one row past the limit was read to know it, and nothing after it was read at all.
    truncated: bool = False

    @property
    def rows_read(self) -> int:
        return len(self.rows) + (1 if self.truncated else 0)


def limit_rows(columns: list[str], rows: list[tuple[Any, ...]], max_rows: int | None) -> QueryResult:
    """The result of reading at most ``max_rows + 1`` rows: the extra row only says there were more."""
    if max_rows is not None and len(rows) > max_rows:
        return QueryResult(columns, rows[:max_rows], truncated=True)
    return QueryResult(columns, rows)


class Database(abc.ABC):
    """One configured database. ``up`` is what the last contact with it said (None: not yet tried)."""

    def __init__(self, config: DatabaseConfig) -> None:
        self.config = config
        self.name = config.name
        self.up: bool | None = None

    @abc.abstractmethod
    async def fetch(
        self, sql: str, timeout: float, params: Sequence[Any] = (), max_rows: int | None = None
    ) -> QueryResult:
        """Run ``sql`` in a read-only session, cancelled after ``timeout`` seconds; raise ``SqlError``.

        ``params`` are bound parameters (``?1`` in SQLite, ``$1`` in PostgreSQL), never spliced
        into the text: the reconciliation's "as of slot" query passes its slot this way. With
        ``max_rows``, at most ``max_rows + 1`` rows are read from the database (the rest are
        never transferred) and the result says whether there were more.
        """

    async def ping(self) -> None:
        """Check the database answers; raise ``SqlError`` if not."""
        await self.fetch("SELECT 1", self.config.connect_timeout_seconds, max_rows=1)

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections. Safe to call more than once."""

    def _mark(self, error: SqlError | None) -> None:
        """Any answer from the server (even an SQL error) means it is up; connection trouble is down,
        and so is a role the exporter refuses to use (nothing can be read until it is fixed)."""
        self.up = error is None or error.reason not in (UNAVAILABLE, PRIVILEGED_ROLE)


def open_database(config: DatabaseConfig) -> Database:
    """The driver for ``config`` (connections open lazily, at the first query)."""
    if config.driver == "postgres":
        from exporter.sql.postgres import PostgresDatabase

        return PostgresDatabase(config)
    from exporter.sql.sqlite import SqliteDatabase

    return SqliteDatabase(config)
