"""The ledger view: what the business database says each account held as of slot S.

The query (``reconciliation.ledger.sql``; the reference one is ``ledger_escrow_balance_at_slot``
in the query pack) returns rows ``account, mint, value`` and optionally ``decimals``, ``value``
in whole units. It is turned into exact raw units here: PostgreSQL ``NUMERIC`` arrives as a
``Decimal``; a SQLite sum arrives as a double, whose shortest decimal form is the sum rounded to
the query's 9 decimals, exact below 2**53 raw units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from exporter.config.programs import MintConfig, mint_decimals
from exporter.sql.database import QueryResult


@dataclass(slots=True)
class LedgerSnapshot:
    #: (account, mint as the ledger spells it) -> raw units.
    balances: dict[tuple[str, str], int] = field(default_factory=dict)
    #: Rows that could not be used (missing column, unknown decimals, not a number).
    unusable: list[str] = field(default_factory=list)


def to_raw(value: Any, decimals: int) -> int | None:
    """Whole units as exact raw units; None if ``value`` is not a number."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        whole = value if isinstance(value, Decimal) else Decimal(str(value))
        return int((whole.scaleb(decimals)).to_integral_value())
    except (InvalidOperation, ValueError):
        return None


def parse_ledger(result: QueryResult, mints: dict[str, MintConfig]) -> LedgerSnapshot:
    cols = {c.lower(): i for i, c in enumerate(result.columns)}
    snap = LedgerSnapshot()
    missing = [c for c in ("account", "mint", "value") if c not in cols]
    if missing:
        snap.unusable.append(f"the ledger query has no column {', '.join(missing)}")
        return snap
    for row in result.rows:
        account, mint, value = (row[cols["account"]], row[cols["mint"]], row[cols["value"]])
        account, mint = str(account), str(mint)
        decimals: int | None = None
        if "decimals" in cols and isinstance(row[cols["decimals"]], int):
            decimals = row[cols["decimals"]]
        else:
            known = mint_decimals(mint, mints)
            decimals = known[1] if known else None
        raw = to_raw(value, decimals) if decimals is not None else None
        if raw is None:
            snap.unusable.append(f"{account}/{mint}: value {value!r} or decimals unknown")
            continue
        key = (account, mint)
        snap.balances[key] = snap.balances.get(key, 0) + raw
    return snap
