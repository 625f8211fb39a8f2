"""The reference schema and query pack (schema/) on PostgreSQL and SQLite, and the migrate CLI."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exporter.sql.migrate import apply_sqlite, migrations
from tests.support.pg_server import PgServer, pg_server  # noqa: F401 - the session fixture
from tests.support.sql_pack import (
    Scrape,
    scrape_pack,
)
from tests.support.util import ROOT

USDC = "EfAauwwULLSsK9D8DWm6WbqZL1r3y8jQ2Ei6YE2afaZS"
NOW = time.time()
#: Every migration of the reference schema, in order (the same for both drivers).
VERSIONS = [v for v, _ in migrations("sqlite")]


def demo_rows(driver: str) -> str:
    """The same business data for both databases, as SQL (timestamps and booleans differ)."""

    def ts(ago: float) -> str:
        return f"to_timestamp({NOW - ago})" if driver == "postgres" else str(NOW - ago)

    t, f = ("true", "false") if driver == "postgres" else ("1", "0")
    return f"""
    INSERT INTO escrow_accounts VALUES ('escrow_sol', 'SoLEscrow1', 'SOL', 9), ('escrow_usdc', 'UsdcEscrow1', '{USDC}', 6);
    INSERT INTO users (wallet, kyc_tier, frozen, created_at) VALUES
      ('w1', 'none', {f}, {ts(900)}), ('w2', 'basic', {t}, {ts(900)}), ('w3', 'basic', {f}, {ts(900)}), ('w4', 'full', {f}, {ts(900)});
    INSERT INTO matches (id, creator, paid, entry_fee, mint, status, created_at) VALUES
      (1, 'w1', {t}, 0.5, 'SOL', 'settled', {ts(800)}), (2, 'w2', {t}, 10, '{USDC}', 'settled', {ts(700)}),
      (3, 'w3', {t}, 10, '{USDC}', 'open', {ts(600)}), (4, 'w4', {f}, 0, 'SOL', 'open', {ts(500)}),
      (5, 'w1', {f}, 0, 'SOL', 'cancelled', {ts(400)});
    INSERT INTO ledger_entries (kind, amount, mint, escrow_account, signature, created_at) VALUES
      ('adjustment', 0.00089088, 'SOL', 'escrow_sol', 'opening', {ts(1000)}),
      ('deposit', 1.5, 'SOL', 'escrow_sol', 's1', {ts(800)}), ('deposit', 2.5, 'SOL', 'escrow_sol', 's2', {ts(790)}),
      ('deposit', 10, '{USDC}', 'escrow_usdc', 's3', {ts(700)}), ('deposit', 10.25, '{USDC}', 'escrow_usdc', 's4', {ts(690)}),
      ('payout', 19.75, '{USDC}', 'escrow_usdc', 's5', {ts(600)}), ('fee', 0.5, '{USDC}', 'escrow_usdc', 's5', {ts(600)}),
      ('withdrawal', 5, '{USDC}', 'escrow_usdc', 's6', {ts(500)}), ('refund', 0.5, 'SOL', 'escrow_sol', 's7', {ts(400)});
    INSERT INTO withdrawals (wallet, amount, mint, status, requested_at, completed_at) VALUES
      ('w2', 5, '{USDC}', 'completed', {ts(510)}, {ts(500)}), ('w2', 1.5, '{USDC}', 'completed', {ts(310)}, {ts(300)}),
      ('w3', 2, '{USDC}', 'pending', {ts(60)}, NULL), ('w4', 3, '{USDC}', 'pending', {ts(30)}, NULL),
      ('w1', 9, 'SOL', 'failed', {ts(200)}, NULL);
    INSERT INTO reconciliation_runs (started_at, finished_at, status) VALUES
      ({ts(610)}, {ts(600)}, 'success'), ({ts(310)}, {ts(300)}, 'success'), ({ts(70)}, {ts(60)}, 'failed');
    INSERT INTO audit_log (seq, created_at, actor, action) VALUES
      (1, {ts(900)}, 'a', 'x'), (2, {ts(800)}, 'a', 'x'), (3, {ts(700)}, 'a', 'x'), (5, {ts(600)}, 'a', 'x'),
      (6, {ts(500)}, 'a', 'x'), (9, {ts(10)}, 'a', 'x');
    INSERT INTO outbox (queue, created_at, processed_at) VALUES
      ('notifications', {ts(30)}, NULL), ('notifications', {ts(20)}, NULL), ('notifications', {ts(90)}, {ts(80)}),
      ('payouts', {ts(90)}, {ts(85)});
    INSERT INTO payment_webhooks (provider, created_at, received_at) VALUES
      ('stripe', {ts(64)}, {ts(60)}), ('stripe', {ts(62.5)}, {ts(60)}), ('stripe', {ts(3700)}, {ts(3600)}),
      ('moonpay', {ts(121)}, {ts(120)});
    INSERT INTO write_errors (component, error, created_at) VALUES
      ('ledger', 'e', {ts(100)}), ('ledger', 'e', {ts(50)}), ('api', 'e', {ts(40)});
    UPDATE matches SET funded_at = created_at WHERE id IN (1, 2, 3);
    UPDATE matches SET started_at = created_at, settled_at = created_at WHERE id IN (1, 2);
    INSERT INTO payment_attempts (wallet, provider, amount, currency, outcome, failure_reason, created_at) VALUES
      ('w1', 'stripe', 20, 'USD', 'succeeded', NULL, {ts(800)}), ('w2', 'stripe', 10, 'USD', 'failed', 'card_declined', {ts(700)}),
      ('w2', 'stripe', 10, 'USD', 'succeeded', NULL, {ts(690)}), ('w3', 'stripe', 10, 'USD', 'succeeded', NULL, {ts(600)}),
      ('w4', 'moonpay', 5, 'USD', 'succeeded', NULL, {ts(500)});
    INSERT INTO disputes (payment_attempt_id, provider, kind, status, amount, currency, opened_at, closed_at) VALUES
      (1, 'stripe', 'chargeback', 'open', 20, 'USD', {ts(100)}, NULL),
      (3, 'stripe', 'chargeback', 'lost', 10, 'USD', {ts(90)}, {ts(50)}),
      (4, 'stripe', 'inquiry', 'won', 10, 'USD', {ts(80)}, {ts(40)}),
      (NULL, 'ramp', 'chargeback', 'open', 7, 'EUR', {ts(70)}, NULL);
    INSERT INTO user_activity (wallet, action, created_at) VALUES
      ('w1', 'join', {ts(60)}), ('w1', 'join', {ts(120)}), ('w2', 'withdraw', {ts(7200)}),
      ('w3', 'join', {ts(2 * 86400)}), ('w4', 'join', {ts(10 * 86400)}), ('w5', 'join', {ts(40 * 86400)});
    """


EXPECTED: dict[str, dict[tuple[tuple[str, str], ...], float]] = {
    "escrow_business_matches_total": {(("kind", "paid"),): 3, (("kind", "free"),): 2},
    "escrow_business_entry_volume_total": {(("mint", "SOL"),): 4.0, (("mint", USDC),): 20.25},
    "escrow_business_fee_revenue_total": {(("mint", "SOL"),): 0, (("mint", USDC),): 0.5},
    "escrow_business_prize_payouts_total": {(("mint", "SOL"),): 0, (("mint", USDC),): 19.75},
    "escrow_business_withdrawals_total": {(): 2},
    "escrow_business_withdrawal_volume_total": {(("mint", "SOL"),): 0, (("mint", USDC),): 6.5},
    "escrow_business_withdrawals_pending": {(("mint", "SOL"),): 0, (("mint", USDC),): 2},
    "escrow_business_withdrawals_pending_amount": {(("mint", "SOL"),): 0, (("mint", USDC),): 5},
    "escrow_business_users": {
        (("kyc_tier", "none"),): 1,
        (("kyc_tier", "basic"),): 2,
        (("kyc_tier", "full"),): 1,
    },
    "escrow_business_users_frozen": {(): 1},
    "escrow_ledger_escrow_balance": {
        (("account", "escrow_sol"), ("mint", "SOL")): 3.50089088,
        (("account", "escrow_usdc"), ("mint", USDC)): 14.75,
    },
    "escrow_business_reconciliation_last_success_timestamp_seconds": {(): NOW - 300},
    "escrow_business_audit_log_missing_entries": {(): 3},
    "escrow_business_audit_log_last_entry_timestamp_seconds": {(): NOW - 10},
    "escrow_business_outbox_depth": {(("queue", "notifications"),): 2, (("queue", "payouts"),): 0},
    "escrow_business_payment_webhook_latency_seconds": {
        (("provider", "stripe"),): 4,
        (("provider", "moonpay"),): 1,
    },
    "escrow_business_write_errors_total": {(("component", "ledger"),): 2, (("component", "api"),): 1},
    "escrow_business_payment_attempts_total": {
        (("outcome", "succeeded"), ("provider", "stripe")): 3,
        (("outcome", "failed"), ("provider", "stripe")): 1,
        (("outcome", "succeeded"), ("provider", "moonpay")): 1,
        (("outcome", "failed"), ("provider", "moonpay")): 0,  # present at 0 before its first failure
    },
    "escrow_business_disputes_total": {
        (("kind", "chargeback"), ("provider", "stripe")): 2,
        (("kind", "inquiry"), ("provider", "stripe")): 1,
        (("kind", "chargeback"), ("provider", "moonpay")): 0,
        (("kind", "inquiry"), ("provider", "moonpay")): 0,
        (("kind", "chargeback"), ("provider", "ramp")): 1,  # a provider known only from its dispute
        (("kind", "inquiry"), ("provider", "ramp")): 0,
    },
    "escrow_business_disputes_open": {
        (("kind", "chargeback"), ("provider", "stripe")): 1,
        (("kind", "inquiry"), ("provider", "stripe")): 0,
        (("kind", "chargeback"), ("provider", "moonpay")): 0,
        (("kind", "inquiry"), ("provider", "moonpay")): 0,
        (("kind", "chargeback"), ("provider", "ramp")): 1,
        (("kind", "inquiry"), ("provider", "ramp")): 0,
    },
    # w1 twice in the last hour counts once; w5 (40 days ago) is outside every period.
    "escrow_business_active_users": {
        (("period", "1h"),): 1,
        (("period", "1d"),): 2,
        (("period", "7d"),): 3,
        (("period", "30d"),): 4,
    },
    # Paid matches only: 1 and 2 settled, 3 funded and waiting; 4 and 5 are free.
    "escrow_business_match_funnel_total": {
        (("stage", "created"),): 3,
        (("stage", "funded"),): 3,
        (("stage", "played"),): 2,
        (("stage", "settled"),): 2,
    },
}


@pytest.fixture(autouse=True)
def _fresh_now() -> None:
    """The demo rows are timed relative to NOW, and some queries look back 15 minutes. pytest
    imports every module before the first test runs, so a NOW taken at import can be many minutes
    old by the time these tests run in the full suite: take it when each test starts."""
    global NOW
    NOW = time.time()
    EXPECTED["escrow_business_reconciliation_last_success_timestamp_seconds"] = {(): NOW - 300}
    EXPECTED["escrow_business_audit_log_last_entry_timestamp_seconds"] = {(): NOW - 10}


def migrate(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "exporter.sql.migrate", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=60)


def business(m: Scrape) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for (name, labels), v in m.items():
        if name.startswith(("escrow_business_", "escrow_ledger_")):
            out.setdefault(name, {})[labels] = v
    return out


def assert_matches_expected(m: Scrape) -> None:
    got = business(m)
    assert sorted(got) == sorted(EXPECTED)
    for name, want in EXPECTED.items():
        assert got[name].keys() == want.keys(), name
        for labels, value in want.items():
            assert got[name][labels] == pytest.approx(value, abs=1e-6), (name, labels)


async def test_pack_on_sqlite_matches_the_demo_data(tmp_path: Path) -> None:
    path = tmp_path / "business.sqlite"
    assert apply_sqlite(path) == VERSIONS
    conn = sqlite3.connect(path)
    conn.executescript(demo_rows("sqlite"))
    conn.close()
    m = await scrape_pack({"name": "business", "driver": "sqlite", "path": str(path)})
    assert_matches_expected(m)
    # Rounded sums are exact: the books equal what the chain says to the last lamport.
    assert m[("escrow_ledger_escrow_balance", (("account", "escrow_sol"), ("mint", "SOL")))] == 3.50089088


async def test_pack_on_postgres_matches_the_demo_data(pg_server: PgServer, tmp_path: Path) -> None:  # noqa: F811
    pg_server.psql("DROP DATABASE IF EXISTS pack")
    pg_server.psql("CREATE DATABASE pack")
    dsn = pg_server.dsn.rsplit("/", 1)[0] + "/pack"
    (tmp_path / "dsn").write_text(dsn + "\n")
    first = migrate("--driver", "postgres", "--dsn-file", str(tmp_path / "dsn"))
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"applied: {', '.join(VERSIONS)}"
    again = migrate("--driver", "postgres", "--dsn-file", str(tmp_path / "dsn"))
    assert again.stdout.strip() == "schema is up to date"
    pg_server.psql(demo_rows("postgres"), dsn)
    m = await scrape_pack(
        {"name": "business", "driver": "postgres", "dsn": dsn, "allow_privileged_role": True}
    )
    assert_matches_expected(m)
    assert m[("escrow_ledger_escrow_balance", (("account", "escrow_sol"), ("mint", "SOL")))] == 3.50089088


def test_migrate_cli_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "b.sqlite"
    cli = [sys.executable, "-m", "exporter.sql.migrate", "--driver", "sqlite", "--path", str(path)]
    first = subprocess.run(cli, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert first.returncode == 0 and first.stdout.strip() == f"applied: {', '.join(VERSIONS)}", first.stderr
    assert subprocess.run(cli, capture_output=True, text=True, cwd=ROOT, timeout=60).stdout.strip() == (
        "schema is up to date"
    )
    tables = {
        r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    assert {
        "users",
        "matches",
        "ledger_entries",
        "withdrawals",
        "escrow_accounts",
        "reconciliation_runs",
        "audit_log",
        "outbox",
        "payment_webhooks",
        "write_errors",
    } <= tables
    missing = subprocess.run(
        [sys.executable, "-m", "exporter.sql.migrate", "--driver", "sqlite"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert missing.returncode != 0 and "--path" in missing.stderr


MISSING = ("escrow_business_audit_log_missing_entries", ())
# The demo audit log lacks 4, 7 and 8.
EXPLAIN_4 = "INSERT INTO audit_log_gap_explanations (first_seq, last_seq, explained_by, reason) VALUES (4, 4, 'ops', 'rolled back');"
EXPLAIN_7_8 = "INSERT INTO audit_log_gap_explanations (first_seq, last_seq, explained_by, reason) VALUES (7, 8, 'ops', 'restore');"


async def test_explained_audit_gaps_stop_counting_on_sqlite(tmp_path: Path) -> None:
    """Issue 13: EscrowAuditLogGap could never clear; explaining every gap brings the count to 0."""
    path = tmp_path / "business.sqlite"
    apply_sqlite(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(demo_rows("sqlite"))
    database = {"name": "business", "driver": "sqlite", "path": str(path)}
    assert (await scrape_pack(database))[MISSING] == 3
    conn.execute(EXPLAIN_4)
    assert (await scrape_pack(database))[MISSING] == 2
    conn.execute(EXPLAIN_7_8)
    assert (await scrape_pack(database))[MISSING] == 0
    conn.close()


def explain(first: int, last: int) -> str:
    return (
        "INSERT INTO audit_log_gap_explanations (first_seq, last_seq, explained_by, reason) "
        f"VALUES ({first}, {last}, 'ops', 'test');"
    )


# 4 twice (overlapping ranges), 100 (past the newest entry), 3 (an entry that exists) and
# 0 (before the first): none of them explains 7 or 8.
WRONG_EXPLANATIONS = explain(3, 4) + explain(4, 4) + explain(100, 100) + explain(0, 0)


async def test_a_wrong_or_overlapping_explanation_cannot_hide_another_gap_on_sqlite(tmp_path: Path) -> None:
    """Each missing number is explained at most once and only by a range that holds it: before,
    these ranges summed to 3 explained numbers and the P0 EscrowAuditLogGap went quiet while 7
    and 8 were still missing."""
    path = tmp_path / "business.sqlite"
    apply_sqlite(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(demo_rows("sqlite"))
    database = {"name": "business", "driver": "sqlite", "path": str(path)}
    conn.executescript(WRONG_EXPLANATIONS)
    assert (await scrape_pack(database))[MISSING] == 2
    conn.execute(explain(6, 9))  # one range over 7 and 8 and the entries around them
    assert (await scrape_pack(database))[MISSING] == 0
    conn.close()


async def test_explained_audit_gaps_stop_counting_on_postgres(pg_server: PgServer) -> None:  # noqa: F811
    pg_server.psql("DROP DATABASE IF EXISTS gaps")
    pg_server.psql("CREATE DATABASE gaps")
    dsn = pg_server.dsn.rsplit("/", 1)[0] + "/gaps"
    assert migrate("--driver", "postgres", "--dsn", dsn).returncode == 0
    pg_server.psql(demo_rows("postgres"), dsn)
    # The superuser, as in the other PostgreSQL pack test: the role check has its own tests.
    database = {"name": "business", "driver": "postgres", "dsn": dsn, "allow_privileged_role": True}
    assert (await scrape_pack(database))[MISSING] == 3
    pg_server.psql(WRONG_EXPLANATIONS, dsn)  # as on SQLite: they explain 4 only
    assert (await scrape_pack(database))[MISSING] == 2
    pg_server.psql(EXPLAIN_7_8, dsn)
    assert (await scrape_pack(database))[MISSING] == 0
