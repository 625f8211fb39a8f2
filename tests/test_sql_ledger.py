"""The demo ledger fed by the simulated chain, read through the query pack: the books equal the
chain while healthy, drift by exactly what a drain took, and show requested audit-log gaps."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.test_sql_pack import Scrape, scrape_pack

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


async def test_ledger_follows_the_chain_then_drifts_on_drain_and_shows_audit_gaps(tmp_path: Path) -> None:
    chain = chain_mod.Chain(seed=7)
    path = tmp_path / "ledger.sqlite"
    ledger = ledger_mod.attach(chain, path, reconcile_every=3600)
    database = {"name": "business", "driver": "sqlite", "path": str(path)}
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
    books = family(drifted, "escrow_ledger_escrow_balance")
    chain_says = escrow_state(chain)
    for labels, value in chain_says.items():
        want = value + 1.0 if ("account", "escrow_usdc") in labels else value
        assert books[labels] == pytest.approx(want, abs=1e-9), labels
    assert drifted[("escrow_business_audit_log_missing_entries", ())] == 2
    # The reconciliation run after the drain failed, so the last success did not move.
    assert drifted[("escrow_business_reconciliation_last_success_timestamp_seconds", ())] == last_success
    conn = sqlite3.connect(path)
    status, detail = conn.execute(
        "SELECT status, detail FROM reconciliation_runs ORDER BY id DESC LIMIT 1"
    ).fetchone()
    conn.close()
    assert status == "failed" and "escrow_usdc" in detail


def test_attach_refuses_a_postgres_dsn() -> None:
    with pytest.raises(ValueError, match="SQLite only"):
        ledger_mod.attach(chain_mod.Chain(seed=1), "postgresql://u@127.0.0.1:1/db")
