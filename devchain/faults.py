"""Reconciliation fault actions of ``POST /_actions`` (the chain side and the books side).

* ``silent_drain`` ``{"account": "escrow_usdc", "amount": 1}``: a real transaction of the program
  (its ``withdraw`` instruction, as a buggy code path would run it) moves ``amount`` raw units out
  of the escrow to a player and emits **no event**. The chain's balance changes, the program's
  events and the books do not. ``restore_escrow`` puts it back (without a transaction).
* the ``ledger_*`` actions of ``devchain.ledger_faults`` (need ``--ledger-db``);
* ``chargeback`` and ``payment_failures`` of ``devchain.ledger_payments`` (need ``--ledger-db``).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

from solders.instruction import AccountMeta

from devchain.ledger_faults import ACTIONS as LEDGER_ACTIONS
from devchain.ledger_payments import ACTIONS as PAYMENT_ACTIONS
from devchain.paid_match import SOL, Call, wallet_token_account
from devchain.program import CONFIG_PDA, EVENT_AUTHORITY, PROGRAM_ID, WATCHED, pubkey_of
from devchain.trace import Trace

if TYPE_CHECKING:
    from devchain.chain import Chain
    from devchain.ledger import Ledger

ACTIONS = ("silent_drain", *LEDGER_ACTIONS, *PAYMENT_ACTIONS)


def silent_drain_call(chain: Chain, account: str, amount: int) -> Call:
    """A ``withdraw`` of ``amount`` from escrow ``account`` that skips the event (and the credit check)."""
    if account not in WATCHED or not account.startswith("escrow_"):
        known = ", ".join(n for n in WATCHED if n.startswith("escrow_"))
        raise ValueError(f"silent_drain: {account!r} is not an escrow account; known: {known}")
    if amount <= 0:
        raise ValueError("silent_drain: amount must be a positive number of raw units")
    prog = chain.program
    escrow, mint = WATCHED[account]
    if chain._raw_balance(escrow, mint) < amount:
        raise ValueError(f"silent_drain: {account} holds less than {amount} raw units")
    user = chain.players[0]
    metas = [
        AccountMeta(pubkey_of(user), True, True),
        AccountMeta(CONFIG_PDA, False, False),
        *prog._money_metas(mint, pubkey_of(user)),
        AccountMeta(EVENT_AUTHORITY, False, False),
        AccountMeta(PROGRAM_ID, False, False),
    ]
    metas[3], metas[4] = metas[4], metas[3]  # IDL order: mint, escrow, user_token (see build_withdraw)
    ix = prog._ix("withdraw", struct.pack("<Q", amount), metas)

    def run(t: Trace) -> None:
        prog._start(t, "withdraw")
        dst = pubkey_of(user) if mint == SOL else wallet_token_account(pubkey_of(user), mint)
        prog._transfer(t, mint, escrow, dst, CONFIG_PDA, amount)
        t.consume(4_000)

    return Call("withdraw", ix, [user], run)


def run_action(chain: Chain, ledger: Ledger | None, body: dict[str, Any]) -> dict[str, Any]:
    action = body.get("action")
    if action == "silent_drain":
        from devchain.chain import TxOptions

        account = str(body.get("account", "escrow_usdc"))
        amount = int(body.get("amount", 1))
        signature = chain.execute(silent_drain_call(chain, account, amount), TxOptions())
        chain.drained[account] = chain.drained.get(account, 0) + amount
        return {"action": action, "account": account, "drained": amount, "signature": signature}
    if ledger is None:
        raise ValueError(f"{action}: the simulator runs without a ledger (start it with --ledger-db)")
    if action in PAYMENT_ACTIONS:
        return ledger.payments.request(body)
    return ledger.faults.request(body)
