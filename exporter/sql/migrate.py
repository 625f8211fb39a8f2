"""Apply the reference business schema: ``python -m exporter.sql.migrate --driver sqlite --path FILE``
or ``--driver postgres --dsn DSN`` (or ``--dsn-file``).

Migrations are ``schema/<driver>/NNN_*.sql``, applied in name order, each in one transaction
together with its row in ``schema_migrations``, so running the command twice is harmless.
This is the one place in ``exporter.sql`` that writes: it is a set-up tool, not the collector.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from pathlib import Path

#: Shipped inside the package (the repository's top-level schema/ is a link to it).
SCHEMA_DIR = Path(__file__).resolve().parent / "schema"

_TRACKING = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
)


def migrations(driver: str, schema_dir: Path = SCHEMA_DIR) -> list[tuple[str, str]]:
    """``(version, sql)`` for every migration of ``driver``, in order; version is the file stem."""
    folder = schema_dir / driver
    files = sorted(folder.glob("*.sql"))
    if not files:
        raise FileNotFoundError(f"no migrations found in {folder}")
    return [(f.stem, f.read_text()) for f in files]


def apply_sqlite(path: str | Path, schema_dir: Path = SCHEMA_DIR) -> list[str]:
    """Create/upgrade the SQLite file at ``path``; return the versions applied now."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        conn.execute(_TRACKING)
        done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        applied = []
        for version, sql in migrations("sqlite", schema_dir):
            if version in done:
                continue
            # executescript commits first, so wrap the script in our own transaction.
            conn.executescript(
                f"BEGIN;\n{sql}\nINSERT INTO schema_migrations VALUES ('{version}', datetime('now'));\nCOMMIT;"
            )
            applied.append(version)
        return applied
    finally:
        conn.close()


async def apply_postgres(dsn: str, schema_dir: Path = SCHEMA_DIR) -> list[str]:
    """Create/upgrade the PostgreSQL database at ``dsn``; return the versions applied now."""
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(_TRACKING)
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        applied = []
        for version, sql in migrations("postgres", schema_dir):
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)  # no arguments: simple protocol, several statements allowed
                await conn.execute("INSERT INTO schema_migrations VALUES ($1, now()::text)", version)
            applied.append(version)
        return applied
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m exporter.sql.migrate", description=__doc__.splitlines()[0])
    p.add_argument("--driver", choices=["sqlite", "postgres"], required=True)
    p.add_argument("--path", help="SQLite file (created if missing)")
    p.add_argument(
        "--dsn", help="PostgreSQL DSN (prefer --dsn-file: a DSN on the command line is visible in ps)"
    )
    p.add_argument("--dsn-file", help="file holding the PostgreSQL DSN")
    p.add_argument("--schema-dir", type=Path, default=SCHEMA_DIR, help="folder with sqlite/ and postgres/")
    args = p.parse_args(argv)
    try:
        if args.driver == "sqlite":
            if not args.path:
                p.error("--driver sqlite needs --path")
            applied = apply_sqlite(args.path, args.schema_dir)
        else:
            dsn = Path(args.dsn_file).read_text().strip() if args.dsn_file else args.dsn
            if not dsn:
                p.error("--driver postgres needs --dsn or --dsn-file")
            applied = asyncio.run(apply_postgres(dsn, args.schema_dir))
    except (OSError, sqlite3.Error) as e:
        print(f"migrate: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # asyncpg errors; never echo the DSN
        print(f"migrate: {type(e).__name__}: {str(e).replace(args.dsn or '', '***')}", file=sys.stderr)
        return 1
    print(f"applied: {', '.join(applied)}" if applied else "schema is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
