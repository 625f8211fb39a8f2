"""Cases for the exact reconciliation alerts of the ``treasury`` rule group (issue 12).

Kept in one module beside bundle/config.py's reconciliation_alerts(), so the two move together.
"""

from __future__ import annotations

from bundle.cases.common import Case, Fired, humanize_duration
from bundle.cases.series import BAL, JL, LEDGER, USDC, J
from bundle.config import PARAMS

_DRIFT = f'escrow_reconciliation_drift_raw{{{J},account="escrow_sol",mint="SOL",views="chain_events"}}'
_STREAK = f'escrow_reconciliation_mismatch_streak{{{J},account="escrow_sol",mint="SOL",views="chain_events"}}'
_MISMATCH = {"account": "escrow_sol", "mint": "SOL", "views": "chain_events"}
_UNMATCHED = f'escrow_reconciliation_unmatched{{{J},kind="%s"}}'
_AGE = f'escrow_reconciliation_slot_age_seconds{{{J},views="chain_ledger"}}'
_AGE_LABELS = {**JL, "views": "chain_ledger"}

# Boundaries from the site's thresholds: N agreeing runs; ticket and page ages in seconds.
AGREEING_RUNS = int(float(PARAMS["reconciliation_agreeing_runs"]))
BLOCKED_TICKET_S = int(float(PARAMS["reconciliation_blocked_ticket_seconds"]))
BLOCKED_PAGE_S = int(float(PARAMS["reconciliation_blocked_page_seconds"]))


def _streak_to(n: int) -> str:
    """The exporter's mismatch streak counting 0, 1, .. n one reconciliation a minute."""
    return f"0+1x{n}" if n else "0"


RECONCILIATION_CASES: list[Case] = [
    Case(
        "EscrowReconciliationMismatch",
        f"{AGREEING_RUNS} agreeing reconciliations of a 1-lamport drift fire with the drift",
        {_DRIFT: "0 -1x40", _STREAK: f"{_streak_to(AGREEING_RUNS)} {AGREEING_RUNS}x20"},
        f"{AGREEING_RUNS + 1}m",
        [Fired("critical", _MISMATCH, "-1")],
    ),
    Case(
        "EscrowReconciliationMismatch",
        f"{AGREEING_RUNS - 1} agreeing reconciliation(s), then agreement (a transient), is quiet",
        {_DRIFT: f"0 5x{max(AGREEING_RUNS - 1, 0)} 0x20", _STREAK: f"{_streak_to(AGREEING_RUNS - 1)} 0x20"},
        f"{AGREEING_RUNS - 1}m",
    ),
    Case(
        "EscrowReconciliationMismatch",
        "views that agree are quiet",
        {_DRIFT: "0x20", _STREAK: "0x20"},
        "5m",
    ),
    Case(
        "EscrowReconciliationUnmatched",
        "an escrow on chain with no ledger row fires",
        {_UNMATCHED % "chain_account_without_ledger_row": "0 1x20"},
        "3m",
        [Fired("critical", {"kind": "chain_account_without_ledger_row"}, "1")],
    ),
    Case(
        "EscrowReconciliationUnmatched",
        "every account matched is quiet",
        {
            _UNMATCHED % "chain_account_without_ledger_row": "0x20",
            _UNMATCHED % "ledger_row_without_chain_account": "0x20",
        },
        "5m",
    ),
    Case(
        "EscrowLedgerEntryNotOnChain",
        "an entry not on chain for 5m fires",
        {_UNMATCHED % "ledger_entry_not_on_chain": "0 2x20"},
        "7m",
        [Fired("high", {"kind": "ledger_entry_not_on_chain"}, "2")],
    ),
    Case(
        "EscrowLedgerEntryNotOnChain",
        "no such entry is quiet",
        {_UNMATCHED % "ledger_entry_not_on_chain": "0x20"},
        "7m",
    ),
    Case(
        "EscrowReconciliationBlocked",
        f"last reconciled {BLOCKED_TICKET_S + 1}s ago opens a ticket",
        {_AGE: f"{BLOCKED_TICKET_S + 1}x30"},
        "5m",
        [Fired("high", _AGE_LABELS, humanize_duration(BLOCKED_TICKET_S + 1))],
    ),
    Case(
        "EscrowReconciliationBlocked",
        f"last reconciled exactly {BLOCKED_TICKET_S}s ago (the ticket threshold) is quiet",
        {_AGE: f"{BLOCKED_TICKET_S}x30"},
        "5m",
    ),
    Case(
        "EscrowReconciliationBlocked",
        f"last reconciled {BLOCKED_PAGE_S + 1}s ago pages",
        {_AGE: f"{BLOCKED_PAGE_S + 1}x30"},
        "5m",
        [
            Fired("critical", _AGE_LABELS, humanize_duration(BLOCKED_PAGE_S + 1)),
            Fired("high", _AGE_LABELS, humanize_duration(BLOCKED_PAGE_S + 1)),
        ],
    ),
    Case(
        "EscrowReconciliationBlocked",
        f"last reconciled exactly {BLOCKED_PAGE_S}s ago (the page threshold) only tickets",
        {_AGE: f"{BLOCKED_PAGE_S}x30"},
        "5m",
        [Fired("high", _AGE_LABELS, humanize_duration(BLOCKED_PAGE_S))],
    ),
    # Blocked from 0 (the age grows a minute a minute): the ticket, then the page, on time.
    Case(
        "EscrowReconciliationBlocked",
        "blocked and growing: pages once past the page threshold",
        {_AGE: f"0+60x{BLOCKED_PAGE_S // 60 + 10}"},
        f"{BLOCKED_PAGE_S // 60 + 1}m",
        [
            Fired("critical", _AGE_LABELS, humanize_duration((BLOCKED_PAGE_S // 60 + 1) * 60)),
            Fired("high", _AGE_LABELS, humanize_duration((BLOCKED_PAGE_S // 60 + 1) * 60)),
        ],
    ),
    Case(
        "EscrowReconciliationBlocked",
        "reconciling every 30 seconds is quiet",
        {_AGE: "30x30"},
        "20m",
    ),
    # Where exact reconciliation runs (mode slot), EscrowBalanceMismatch leaves the verdict to it.
    Case(
        "EscrowBalanceMismatch",
        "a skew where exact reconciliation runs in mode slot is quiet (the exact alert decides)",
        {
            BAL % ("escrow_usdc", USDC): "100x20",
            LEDGER % ("escrow_usdc", USDC): "100.5x20",
            f'escrow_reconciliation_info{{{J},mode="slot",program="paid_match"}}': "1x20",
        },
        "12m",
    ),
]
