"""Read-only access to business databases (PostgreSQL via asyncpg, SQLite via aiosqlite).

``open_database(config)`` gives a ``Database`` whose ``fetch`` runs one SELECT read-only with a
timeout; ``rows.to_samples`` turns its rows into metric samples with the guard rails applied.
"""

from exporter.sql.database import Database, QueryResult, SqlError, open_database

__all__ = ["Database", "QueryResult", "SqlError", "open_database"]
