"""The reconciliation's ledger queries (schema/reconciliation.yml) on both reference databases: the
balance as of a slot, with the slot bound as a parameter, leaves out later and unconfirmed
entries and is exact in raw units; entries not on chain long after they were written are counted."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import yaml

from exporter.config.sql import DatabaseConfig
from exporter.reconcile.ledger import parse_ledger
from exporter.sql.database import open_database
from exporter.sql.migrate import apply_sqlite
from tests.support.pg_server import PgServer, pg_server  # noqa: F401 - the session fixture
from tests.support.util import ROOT

USDC = "EfAauwwULLSsK9D8DWm6WbqZL1r3y8jQ2Ei6YE2afaZS"
NOW = time.time()
LEDGER = yaml.safe_load((ROOT / "schema" / "reconciliation.yml").read_text())["reconciliation"]["ledger"]


def rows(driver: str) -> str:
    def ts(ago: float) -> str:
        return f"to_timestamp({NOW - ago})" if driver == "postgres" else str(NOW - ago)

    return f"""
    INSERT INTO escrow_accounts VALUES ('escrow_sol', 'SoLEscrow1', 'SOL', 9), ('escrow_usdc', 'UsdcEscrow1', '{USDC}', 6);
    INSERT INTO ledger_entries (kind, amount, mint, escrow_account, signature, slot, created_at) VALUES
      ('adjustment', 0.00089088, 'SOL', 'escrow_sol', 'opening', 100, {ts(1000)}),
      ('deposit', 1.5, 'SOL', 'escrow_sol', 's1', 110, {ts(900)}),
      ('deposit', 10.000001, '{USDC}', 'escrow_usdc', 's2', 110, {ts(900)}),
      ('payout', 9.5, '{USDC}', 'escrow_usdc', 's3', 120, {ts(800)}),
      ('fee', 0.25, '{USDC}', 'escrow_usdc', 's3', 120, {ts(800)}),
      ('withdrawal', 0.7, 'SOL', 'escrow_sol', 's4', 130, {ts(700)}),
      ('deposit', 2, 'SOL', 'escrow_sol', 'pending-1', NULL, {ts(600)}),
      ('deposit', 3, 'SOL', 'escrow_sol', 'pending-2', NULL, {ts(1)});
    """


async def check(config: DatabaseConfig) -> None:
    db = open_database(config)
    try:

        async def at(slot: int) -> dict[tuple[str, str], int]:
            result = await db.fetch(LEDGER["sql"][config.driver], 5.0, (slot,))
            return parse_ledger(result, {}).balances

        assert await at(99) == {("escrow_sol", "SOL"): 0, ("escrow_usdc", USDC): 0}
        assert await at(120) == {("escrow_sol", "SOL"): 1_500_890_880, ("escrow_usdc", USDC): 9_750_001}
        # The withdrawal at 130 counts from 130 on; the two deposits without a slot never do.
        assert await at(10**12) == {("escrow_sol", "SOL"): 800_890_880, ("escrow_usdc", USDC): 9_750_001}
        # Only the entry written long ago (600 s) is "not on chain"; the one written 1 s ago is pending.
        unconfirmed = await db.fetch(LEDGER["unconfirmed_sql"][config.driver], 5.0, (NOW - 60,))
        assert unconfirmed.rows == [(1,)]
    finally:
        await db.close()


def test_as_of_slot_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "books.sqlite"
    apply_sqlite(path)
    conn = sqlite3.connect(path)
    conn.executescript(rows("sqlite"))
    conn.close()
    asyncio.run(check(DatabaseConfig(name="business", driver="sqlite", path=str(path))))


def test_as_of_slot_on_postgres(pg_server: PgServer, tmp_path: Path) -> None:  # noqa: F811
    from exporter.sql.migrate import apply_postgres

    pg_server.psql("DROP DATABASE IF EXISTS asof")
    pg_server.psql("CREATE DATABASE asof")
    dsn = pg_server.dsn.rsplit("/", 1)[0] + "/asof"
    asyncio.run(apply_postgres(dsn))
    pg_server.psql(rows("postgres"), dsn)
    # The exporter reads as a role that may only read (it refuses the superuser).
    pg_server.psql(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'asof_reader') "
        "THEN CREATE ROLE asof_reader LOGIN; END IF; END $$; "
        "GRANT USAGE ON SCHEMA public TO asof_reader; "
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO asof_reader;",
        dsn,
    )
    reader = dsn.replace("postgres@", "asof_reader@", 1)
    asyncio.run(check(DatabaseConfig(name="business", driver="postgres", dsn=reader)))
