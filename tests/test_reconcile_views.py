"""The three views of exact reconciliation, piece by piece (no network): what each comparison
reports, how the events view is made exact at a slot, how ledger amounts become raw units, and the
config's cross references."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import yaml

from exporter.anchor import DecodedEvent
from exporter.config import load_config
from exporter.config.programs import MintConfig
from exporter.ingest.state import Cursor, StateStore
from exporter.ingest.totals import Delta, Totals
from exporter.reconcile import compare as cmp
from exporter.reconcile.chain import ChainSnapshot
from exporter.reconcile.flows import FLOW, FlowTracker, net_flows
from exporter.reconcile.ledger import parse_ledger, to_raw
from exporter.sql.database import QueryResult
from tests.support.stack import (
    example_program,
)
from tests.support.util import ROOT, config_problems

USDC = "EfAauwwULLSsK9D8DWm6WbqZL1r3y8jQ2Ei6YE2afaZS"
SOL_NATIVE = "So11111111111111111111111111111111111111112"


def snapshot(slot: int, **balances: tuple[str, int]) -> ChainSnapshot:
    s = ChainSnapshot(slot)
    for account, (mint, raw) in balances.items():
        s.balances[(account, mint)] = raw
        s.mint_of[account] = mint
    return s


def ledger(rows: list[tuple[str, str, int, object]]) -> QueryResult:
    return QueryResult(["account", "mint", "decimals", "value"], [tuple(r) for r in rows])


# ---- chain vs ledger ------------------------------------------------------------------------------
def test_an_escrow_with_no_ledger_row_is_a_mismatch_of_its_whole_balance() -> None:
    chain = snapshot(10, escrow_sol=("SOL", 5_000), escrow_usdc=(USDC, 250_000_000_000))
    books = parse_ledger(ledger([("escrow_sol", "SOL", 9, Decimal("0.000005"))]), {})
    res = cmp.chain_vs_ledger(chain, books, ["escrow_sol", "escrow_usdc"])
    assert res.drift == {("escrow_sol", "SOL"): 0, ("escrow_usdc", USDC): 250_000_000_000}
    assert res.unmatched == {cmp.CHAIN_WITHOUT_LEDGER: 1}


def test_a_misspelled_mint_is_unmatched_on_both_sides() -> None:
    chain = snapshot(10, escrow_usdc=(USDC, 7_000_000))
    books = parse_ledger(ledger([("escrow_usdc", USDC.lower(), 6, "7")]), {})
    res = cmp.chain_vs_ledger(chain, books, ["escrow_usdc"])
    assert res.drift == {("escrow_usdc", USDC): 7_000_000, ("escrow_usdc", USDC.lower()): -7_000_000}
    assert res.unmatched == {cmp.CHAIN_WITHOUT_LEDGER: 1, cmp.LEDGER_WITHOUT_CHAIN: 1}


def test_a_misspelled_mint_is_unmatched_even_on_an_empty_account() -> None:
    chain = snapshot(10, escrow_usdc=(USDC, 0))
    books = parse_ledger(ledger([("escrow_usdc", USDC.lower(), 6, 0)]), {})
    res = cmp.chain_vs_ledger(chain, books, ["escrow_usdc"])
    assert res.unmatched == {cmp.CHAIN_WITHOUT_LEDGER: 1, cmp.LEDGER_WITHOUT_CHAIN: 1}


def test_an_account_not_created_yet_may_have_an_empty_ledger_row() -> None:
    books = parse_ledger(ledger([("escrow_new", "SOL", 9, 0)]), {})
    res = cmp.chain_vs_ledger(snapshot(10), books, ["escrow_new"])
    assert res.unmatched == {} and res.drift == {("escrow_new", "SOL"): 0}


def test_accounts_of_other_roles_are_not_expected_in_the_ledger() -> None:
    chain = snapshot(10, escrow_sol=("SOL", 1), treasury_sol=("SOL", 99))
    books = parse_ledger(ledger([("escrow_sol", "SOL", 9, 1e-9)]), {})
    assert cmp.chain_vs_ledger(chain, books, ["escrow_sol"]).drift == {("escrow_sol", "SOL"): 0}


# ---- ledger amounts -------------------------------------------------------------------------------
def test_ledger_amounts_become_exact_raw_units() -> None:
    # SQLite returns the query's ROUND(..., 9) as a double; PostgreSQL NUMERIC as a Decimal.
    assert to_raw(3.50089088, 9) == 3_500_890_880
    assert to_raw(0.1 + 0.2, 6) == 300_000
    assert to_raw(Decimal("123456789.123456"), 6) == 123_456_789_123_456
    assert to_raw("x", 6) is None
    assert to_raw(None, 6) is None


def test_a_ledger_row_without_decimals_uses_the_configured_mint() -> None:
    result = QueryResult(
        ["account", "mint", "value"], [("escrow_usdc", USDC, 2.5), ("escrow_x", "UNKNOWN", 1)]
    )
    books = parse_ledger(result, {USDC: MintConfig(decimals=6)})
    assert books.balances == {("escrow_usdc", USDC): 2_500_000}
    assert len(books.unusable) == 1 and "escrow_x/UNKNOWN" in books.unusable[0]


# ---- chain vs events ------------------------------------------------------------------------------
ROLES = {"escrow_sol": "escrow", "treasury_sol": "treasury", "escrow_usdc": "escrow", "fee_usdc": "fee"}


def test_an_on_chain_change_without_an_event_is_chain_events_drift() -> None:
    base = snapshot(10, escrow_sol=("SOL", 1_000), treasury_sol=("SOL", 50))
    now = snapshot(20, escrow_sol=("SOL", 1_000 + 300 - 20 - 1), treasury_sol=("SOL", 70))
    flows = {("escrow", "SOL"): 300 - 20, ("fee|treasury", "SOL"): 20}
    res = cmp.chain_vs_events(now, base, flows, {}, ROLES)
    assert res.drift == {("escrow_sol", "SOL"): -1, ("treasury_sol", "SOL"): 0}


def test_a_flow_reaches_the_first_role_holding_the_mint() -> None:
    mint_of = {"treasury_sol": "SOL", "fee_usdc": USDC}
    assert cmp.account_of("fee|treasury", "SOL", ROLES, mint_of) == "treasury_sol"
    assert cmp.account_of("fee|treasury", USDC, ROLES, mint_of) == "fee_usdc"
    assert cmp.account_of("fee|treasury", "PYUSD", ROLES, mint_of) is None  # not watched: ignored


# ---- the events view, exact at a slot ------------------------------------------------------------


def tracker() -> FlowTracker:
    from exporter.config.reconcile import FlowConfig

    return FlowTracker(
        example_program(),
        [
            FlowConfig(event="PlayerJoined", field="amount", credit=["escrow"]),
            FlowConfig(event="WithdrawalProcessed", field="amount", debit=["escrow"]),
        ],
    )


def joined(amount: int) -> DecodedEvent:
    return DecodedEvent("PlayerJoined", "log", {"mint": SOL_NATIVE, "amount": amount})


def withdrawn(amount: int) -> DecodedEvent:
    return DecodedEvent("WithdrawalProcessed", "cpi", {"mint": SOL_NATIVE, "amount": amount})


def batch(t: FlowTracker, totals: Totals, txs: list[tuple[int, list[DecodedEvent]]]) -> None:
    t.begin_batch()
    delta = Delta()
    for slot, events in txs:
        t.on_transaction(slot, events, delta)
    totals.apply(totals.after(delta))
    t.committed()


def test_flows_at_a_slot_are_exact_only_once_a_later_slot_is_committed() -> None:
    t = tracker()
    totals = Totals()
    t.bind(totals, Cursor("sig0", 100, 0))
    batch(t, totals, [(101, [joined(500)]), (101, [withdrawn(200)])])
    # Slot 101 may still hold transactions not listed yet: not exact.
    assert t.at_slot(101, read_at=1.0) is None
    batch(t, totals, [(101, [joined(5)]), (103, [joined(1_000)])])
    assert t.at_slot(101, read_at=1.0) == {("escrow", "SOL"): 305}
    assert t.at_slot(102, read_at=1.0) == {("escrow", "SOL"): 305}
    assert t.at_slot(100, read_at=1.0) == {}
    assert t.at_slot(99, read_at=1.0) is None  # before what this run has seen: unknown, not zero
    # A cycle that started after slot 103 was read and caught up: everything through 103 is in.
    assert t.at_slot(103, read_at=5.0) is None
    t.cycle_caught_up(started_at=6.0)
    assert t.at_slot(103, read_at=5.0) == {("escrow", "SOL"): 1_305}
    assert t.at_slot(103, read_at=7.0) is None


def test_a_batch_that_was_not_committed_leaves_no_history() -> None:
    t = tracker()
    totals = Totals()
    t.bind(totals, Cursor("sig0", 100, 0))
    t.begin_batch()
    t.on_transaction(101, [joined(1)], Delta())
    t.on_transaction(102, [joined(1)], Delta())
    t.abandoned()
    assert t.at_slot(101, read_at=0.0) is None
    batch(t, totals, [(101, [joined(7)]), (102, [])])
    assert t.at_slot(101, read_at=0.0) == {("escrow", "SOL"): 7}


def test_flow_totals_are_saved_with_the_cursor(tmp_path: Path) -> None:
    t = tracker()
    totals = Totals()
    t.bind(totals, Cursor("sig0", 100, 0))
    t.begin_batch()
    delta = Delta()
    t.on_transaction(101, [joined(40), withdrawn(15)], delta)
    store = StateStore(tmp_path / "state.sqlite")
    store.open()
    store.save("paid_match", "pid", Cursor("sig1", 101, 0), totals.after(delta), 0.0)
    store.close()
    again = StateStore(tmp_path / "state.sqlite")
    again.open()
    saved = again.load("paid_match")
    again.close()
    assert saved is not None and net_flows(saved.counters) == {("escrow", "SOL"): 25}
    assert {k[0] for k in saved.counters} == {FLOW}


# ---- config -------------------------------------------------------------------------------------
def test_reconciliation_names_checked_against_the_rest_of_the_config(tmp_path: Path) -> None:
    cfg = yaml.safe_load((ROOT / "examples" / "config.yml").read_text())
    cfg["programs"][0]["idl"] = str(ROOT / "idls" / "paid_match.json")
    cfg["sql"]["databases"][0]["path"] = str(tmp_path / "ledger.sqlite")
    r = cfg["reconciliation"]
    r["flows"].append({"event": "MatchSettled", "field": "prize_typo", "debit": ["escrow"]})
    r["accounts"] = ["escrow_sol", "escrow_nope"]
    r["ledger"]["database"] = "books"
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(cfg))
    problems = config_problems(load_config, path)
    lines = path.read_text().splitlines()

    def at(key: str, message: str) -> str:
        """The problem about ``key``, checked to name the line that holds ``message``'s value."""
        found = [p for p in problems if f": {key}: {message}" in p]
        assert len(found) == 1, problems
        line = int(found[0].split(":")[1])
        return lines[line - 1].strip()

    typo = f"reconciliation.flows[{len(r['flows']) - 1}].field"
    assert at(typo, "MatchSettled.prize_typo is not an amount") == "field: prize_typo"
    assert at("reconciliation.accounts[1]", "no account named 'escrow_nope'") == "- escrow_nope"
    assert at("reconciliation.ledger.database", "no database named 'books'") == "database: books"


def test_the_example_config_reconciles_with_the_pack_unchanged() -> None:
    pack = yaml.safe_load((ROOT / "schema" / "reconciliation.yml").read_text())
    example = yaml.safe_load((ROOT / "examples" / "config.yml").read_text())
    assert example["reconciliation"] == pack["reconciliation"]
