"""The demo ledger fed by the simulated chain, read through the query pack, on SQLite and on a
real PostgreSQL: the books equal the chain while healthy, drift by exactly what a drain took,
and show requested audit-log gaps."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.pg_server import PG_BIN, PgServer, pg_server  # noqa: F401 - the session fixture
from tests.support.sql_pack import Scrape, scrape_pack
from tests.support.util import ROOT

chain_mod = pytest.importorskip("devchain.chain", reason="devchain.chain (the simulator) is not available")
ledger_mod = pytest.importorskip("devchain.ledger")


def escrow_state(chain: object) -> dict[tuple[tuple[str, str], ...], float]:
    """What the chain holds in each escrow account, labelled like escrow_ledger_escrow_balance."""
    balances = chain.state()["balances"]  # type: ignore[attr-defined]
    return {
        (("account", name), ("mint", b["mint"])): b["raw"] / 10 ** b["decimals"]
        for name, b in balances.items()
        if name.startswith("escrow_")
    }


def family(m: Scrape, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: v for (n, labels), v in m.items() if n == name}


@dataclass
class Books:
    """Where the ledger writes (``target`` for attach), how the exporter reads it, and a SQL probe."""

    target: str
    database: dict[str, Any]
    query: Callable[[str], list[tuple[str, ...]]]


def _fresh_pg_database(pg: PgServer, name: str) -> str:
    pg.psql(f"DROP DATABASE IF EXISTS {name}")
    pg.psql(f"CREATE DATABASE {name}")
    return pg.dsn.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", "postgres"])
def books(request: pytest.FixtureRequest, tmp_path: Path) -> Books:
    if request.param == "sqlite":
        path = tmp_path / "ledger.sqlite"

        def query_sqlite(sql: str) -> list[tuple[str, ...]]:
            conn = sqlite3.connect(path)
            try:
                return [tuple(str(c) for c in row) for row in conn.execute(sql)]
            finally:
                conn.close()

        return Books(str(path), {"name": "business", "driver": "sqlite", "path": str(path)}, query_sqlite)
    pg: PgServer = request.getfixturevalue("pg_server")
    dsn = _fresh_pg_database(pg, "ledger")

    def query_pg(sql: str) -> list[tuple[str, ...]]:
        out = pg.psql(sql, dsn)
        return [tuple(line.split("|")) for line in out.splitlines() if line]

    return Books(
        dsn, {"name": "business", "driver": "postgres", "dsn": dsn, "allow_privileged_role": True}, query_pg
    )


async def test_ledger_follows_the_chain_then_drifts_on_drain_and_shows_audit_gaps(books: Books) -> None:
    chain = chain_mod.Chain(seed=7)
    ledger = ledger_mod.attach(chain, books.target, reconcile_every=3600)
    database = books.database
    try:
        chain.step(400)
        ledger.flush()
        healthy = await scrape_pack(database)
        truth = chain.state()

        # The books hold exactly what the chain holds, per escrow account.
        assert family(healthy, "escrow_ledger_escrow_balance") == escrow_state(chain)
        events = truth["events"]
        deposits = events["PlayerJoined"]["amounts"]["amount"]
        entry_volume = family(healthy, "escrow_business_entry_volume_total")
        for mint, raw in deposits.items():
            label = "SOL" if mint.startswith("So1111") else mint
            decimals = 9 if label == "SOL" else 6
            assert entry_volume[(("mint", label),)] == pytest.approx(raw / 10**decimals, abs=1e-9)
        fees = events["MatchSettled"]["amounts"]["fee"]
        fee_revenue = family(healthy, "escrow_business_fee_revenue_total")
        assert sum(fee_revenue.values()) == pytest.approx(
            sum(raw / 10 ** (9 if m.startswith("So1111") else 6) for m, raw in fees.items()), abs=1e-9
        )
        matches = family(healthy, "escrow_business_matches_total")
        assert sum(matches.values()) == events["MatchCreated"]["count"] > 0
        withdrawals = healthy.get(("escrow_business_withdrawals_total", ()), 0) + sum(
            family(healthy, "escrow_business_withdrawals_pending").values()
        )
        assert withdrawals == events["WithdrawalProcessed"]["count"]
        assert healthy[("escrow_business_audit_log_missing_entries", ())] == 0
        assert sum(family(healthy, "escrow_business_users").values()) > 0
        assert sum(family(healthy, "escrow_business_payment_webhook_latency_seconds").values()) > 0
        last_success = healthy[("escrow_business_reconciliation_last_success_timestamp_seconds", ())]

        # A drain moves money with no event: the books drift by exactly that amount.
        drained = chain.drain_escrow("escrow_usdc", 1_000_000)
        assert drained == 1_000_000
        chain.request_audit_gap()
        chain.step(30)
        ledger.open_audit_gap()
    finally:
        ledger.close()  # writes what is queued and runs a last reconciliation

    drifted = await scrape_pack(database)
    books_say = family(drifted, "escrow_ledger_escrow_balance")
    chain_says = escrow_state(chain)
    for labels, value in chain_says.items():
        want = value + 1.0 if ("account", "escrow_usdc") in labels else value
        assert books_say[labels] == pytest.approx(want, abs=1e-9), labels
    assert drifted[("escrow_business_audit_log_missing_entries", ())] == 2
    # The reconciliation run after the drain failed, so the last success did not move.
    assert drifted[("escrow_business_reconciliation_last_success_timestamp_seconds", ())] == last_success
    [(status, detail)] = books.query(
        "SELECT status, detail FROM reconciliation_runs ORDER BY id DESC LIMIT 1"
    )
    assert status == "failed" and "escrow_usdc" in detail


def _by(m: Scrape, name: str, label: str) -> dict[str, float]:
    """One label's totals of a family (summed over its other labels)."""
    out: dict[str, float] = {}
    for labels, v in family(m, name).items():
        key = dict(labels)[label]
        out[key] = out.get(key, 0) + v
    return out


async def test_ledger_books_payments_activity_and_the_funnel_and_injects_chargebacks(books: Books) -> None:
    """Issue 17: every deposit is a successful payment (a few retried after a decline), users are
    active, paid matches move through the funnel; the chargeback and payment-failure actions add
    exactly what they ask for."""
    chain = chain_mod.Chain(seed=11)
    ledger = ledger_mod.attach(chain, books.target, reconcile_every=3600)
    try:
        chain.step(400)
        ledger.flush()
        before = await scrape_pack(books.database)
        deposits = chain.state()["events"]["PlayerJoined"]["count"]
        outcomes = _by(before, "escrow_business_payment_attempts_total", "outcome")
        assert outcomes["succeeded"] == deposits > 0
        # Realistic: some declines, well under the 2 % the failed-payment alert pages on.
        assert outcomes["failed"] / (outcomes["failed"] + outcomes["succeeded"]) < 0.02
        # Every user the books know was active within the hour (DAU = MAU on a fresh chain).
        active = _by(before, "escrow_business_active_users", "period")
        users = sum(family(before, "escrow_business_users").values())
        assert active["1h"] == active["1d"] == active["30d"] == users > 0
        funnel = _by(before, "escrow_business_match_funnel_total", "stage")
        assert funnel["created"] >= funnel["funded"] >= funnel["played"] >= funnel["settled"] > 0
        [(paid_settled,)] = books.query("SELECT COUNT(*) FROM matches WHERE paid AND status = 'settled'")
        assert funnel["settled"] == int(paid_settled)

        ledger.payments.request({"action": "chargeback", "count": 5})
        ledger.payments.request({"action": "payment_failures", "count": 4, "provider": "stripe"})
    finally:
        ledger.close()  # applies the queued actions in its last batch
    assert len(ledger.payments.applied) == 2
    after = await scrape_pack(books.database)
    kinds = _by(after, "escrow_business_disputes_total", "kind")
    assert kinds["chargeback"] - _by(before, "escrow_business_disputes_total", "kind")["chargeback"] == 5
    failed = family(after, "escrow_business_payment_attempts_total")[
        (("outcome", "failed"), ("provider", "stripe"))
    ]
    failed_before = family(before, "escrow_business_payment_attempts_total")[
        (("outcome", "failed"), ("provider", "stripe"))
    ]
    assert failed - failed_before == 4
    open_chargebacks = _by(after, "escrow_business_disputes_open", "kind")["chargeback"]
    assert open_chargebacks >= 5


async def test_a_new_chain_starts_new_books_on_postgres(pg_server: PgServer) -> None:  # noqa: F811
    dsn = _fresh_pg_database(pg_server, "ledger_again")
    for seed in (3, 4):  # the second attach must not see the first chain's rows
        chain = chain_mod.Chain(seed=seed)
        ledger = ledger_mod.attach(chain, dsn, reconcile_every=3600)
        try:
            chain.step(50)
            ledger.flush()
        finally:
            ledger.close()
        m = await scrape_pack(
            {"name": "business", "driver": "postgres", "dsn": dsn, "allow_privileged_role": True}
        )
        assert family(m, "escrow_ledger_escrow_balance") == escrow_state(chain)
        assert (
            sum(family(m, "escrow_business_matches_total").values())
            == (chain.state()["events"]["MatchCreated"]["count"])
        )
        assert m[("escrow_business_audit_log_missing_entries", ())] == 0


async def test_a_schema_loaded_without_the_migration_tool_is_used_as_is(pg_server: PgServer) -> None:  # noqa: F811
    # docker-compose.yml loads schema/postgres through docker-entrypoint-initdb.d (plain psql),
    # in name order: the schema, then 900_exporter_role.sh, the role the compose exporter reads as.
    dsn = _fresh_pg_database(pg_server, "ledger_initdb")
    for script in sorted((ROOT / "schema" / "postgres").glob("*.sql")):
        pg_server.psql(script.read_text(), dsn)
    role = _run_initdb_shell_script(pg_server, "ledger_initdb", password="exporter-pw")
    assert role.returncode == 0, role.stderr
    chain = chain_mod.Chain(seed=5)
    ledger = ledger_mod.attach(chain, dsn, reconcile_every=3600)
    try:
        chain.step(30)
        ledger.flush()
    finally:
        ledger.close()
    # As the compose exporter connects: escrow_exporter, and no allow_privileged_role. The role
    # check passes (the role may only read) and every query of the pack reads its tables.
    as_exporter = dsn.replace("postgres@", "escrow_exporter:exporter-pw@", 1)
    m = await scrape_pack({"name": "business", "driver": "postgres", "dsn": as_exporter})
    assert family(m, "escrow_ledger_escrow_balance") == escrow_state(chain)
    assert m[("escrow_sql_up", (("database", "business"),))] == 1
    assert not [k for k, v in m.items() if k[0] == "escrow_sql_query_up" and v != 1]
    # And it can write nothing: not the books, not a new table.
    for write in ("DELETE FROM ledger_entries", "CREATE TABLE stolen (x int)"):
        with pytest.raises(RuntimeError, match="permission denied"):
            pg_server.psql(write, as_exporter)


def _run_initdb_shell_script(pg: PgServer, db: str, password: str) -> subprocess.CompletedProcess[str]:
    """schema/postgres/900_exporter_role.sh as the postgres image's entrypoint runs it: with the
    image's POSTGRES_USER/POSTGRES_DB and the compose file's EXPORTER_DB_PASSWORD."""
    env = {
        "PATH": f"{PG_BIN}:/usr/bin:/bin",
        "PGHOST": "127.0.0.1",
        "PGPORT": str(pg.port),
        "POSTGRES_USER": "postgres",
        "POSTGRES_DB": db,
        "EXPORTER_DB_PASSWORD": password,
    }
    script = ROOT / "schema" / "postgres" / "900_exporter_role.sh"
    return subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=60)


def test_the_exporter_role_script_requires_its_password(pg_server: PgServer) -> None:  # noqa: F811
    r = _run_initdb_shell_script(pg_server, "postgres", password="")
    assert r.returncode != 0 and "set EXPORTER_DB_PASSWORD" in r.stderr


def test_unreachable_postgres_names_the_server_and_hides_the_password() -> None:
    with pytest.raises(ledger_mod.LedgerError) as err:
        ledger_mod.attach(chain_mod.Chain(seed=1), "postgresql://u:s3cret@127.0.0.1:1/db")
    message = str(err.value)
    assert "127.0.0.1:1/db" in message and "s3cret" not in message
