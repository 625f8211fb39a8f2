"""The comparisons of the three views at one slot (pure functions: no I/O).

* ``chain_ledger``: chain balance at S minus the ledger's balance as of S, per (account, mint).
  Absolute: any difference is money the books do not account for. An account of a ledger role
  that the ledger does not know counts as ledger 0 (a missing row is a mismatch, never a blind
  spot), and a ledger row no watched account matches counts as chain 0.
* ``chain_events``: the chain's balance change since the baseline slot B minus the net flow
  the program's events report between B and S. An on-chain change that no event explains (a
  transfer by an instruction that emits nothing, a transfer the program did not make) stays in
  it until money and events agree again. B is the first slot reconciled since the exporter started.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from exporter.reconcile.chain import ChainSnapshot
from exporter.reconcile.flows import Flows
from exporter.reconcile.ledger import LedgerSnapshot

CHAIN_LEDGER = "chain_ledger"
CHAIN_EVENTS = "chain_events"
VIEW_PAIRS = (CHAIN_LEDGER, CHAIN_EVENTS)

#: Kinds of ``escrow_reconciliation_unmatched``.
CHAIN_WITHOUT_LEDGER = "chain_account_without_ledger_row"
LEDGER_WITHOUT_CHAIN = "ledger_row_without_chain_account"
LEDGER_UNCONFIRMED = "ledger_entry_not_on_chain"
CHANGE_WITHOUT_EVENT = "chain_change_without_event"
UNMATCHED_KINDS = (CHAIN_WITHOUT_LEDGER, LEDGER_WITHOUT_CHAIN, LEDGER_UNCONFIRMED, CHANGE_WITHOUT_EVENT)

#: (account, mint) -> raw units.
Drift = dict[tuple[str, str], int]


@dataclass(slots=True)
class PairResult:
    drift: Drift = field(default_factory=dict)
    unmatched: dict[str, int] = field(default_factory=dict)


def chain_vs_ledger(
    chain: ChainSnapshot, ledger: LedgerSnapshot, ledger_accounts: Iterable[str]
) -> PairResult:
    """``ledger_accounts``: the reconciled accounts the ledger is expected to hold."""
    res = PairResult()
    expected = set(ledger_accounts)
    chain_keys = {k for k in chain.balances if k[0] in expected}
    for key in chain_keys:
        if key not in ledger.balances:
            res.unmatched[CHAIN_WITHOUT_LEDGER] = res.unmatched.get(CHAIN_WITHOUT_LEDGER, 0) + 1
        res.drift[key] = chain.balances[key] - ledger.balances.get(key, 0)
    for key, raw in ledger.balances.items():
        if key in chain_keys:
            continue
        # Only an expected account absent from the chain may have a row of 0 (not created yet,
        # or closed); a row under another mint than the chain's is unmatched even at 0.
        if raw != 0 or key[0] not in expected or key[0] in chain.mint_of:
            res.unmatched[LEDGER_WITHOUT_CHAIN] = res.unmatched.get(LEDGER_WITHOUT_CHAIN, 0) + 1
        res.drift[key] = -raw
    return res


def account_of(spec: str, mint: str, roles: dict[str, str], mint_of: dict[str, str]) -> str | None:
    """The reconciled account a flow's roles spec ("fee|treasury") reaches for ``mint``."""
    for role in spec.split("|"):
        for name, r in roles.items():
            if r == role and mint_of.get(name) == mint:
                return name
    return None


def chain_vs_events(
    chain: ChainSnapshot,
    base_chain: ChainSnapshot,
    flows: Flows,
    base_flows: Flows,
    roles: dict[str, str],
) -> PairResult:
    """``roles``: reconciled account -> role."""
    res = PairResult()
    mint_of = {**base_chain.mint_of, **chain.mint_of}
    expected: Drift = {}
    for key in set(flows) | set(base_flows):
        change = flows.get(key, 0) - base_flows.get(key, 0)
        account = account_of(key[0], key[1], roles, mint_of)
        if account is not None and change:
            expected[(account, key[1])] = expected.get((account, key[1]), 0) + change
    keys = {k for k in (*chain.balances, *base_chain.balances) if k[0] in roles} | set(expected)
    for key in keys:
        actual = chain.balances.get(key, 0) - base_chain.balances.get(key, 0)
        res.drift[key] = actual - expected.get(key, 0)
    return res
