"""Business events the simulated chain announces to listeners (e.g. the demo ledger).

One ``BusinessEvent`` per on-chain money movement or state change that succeeded, in order.
A fault such as an escrow drain moves money on chain *without* an event: that is what makes
the ledger drift from the chain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

EventKind = Literal[
    "match_created",  # amount = entry fee; paid = entry fee > 0
    "deposit",  # a player joined: amount moved player -> escrow
    "match_started",
    "settlement",  # amount = prize credited to winner (stays in escrow), fee = escrow -> fee wallet
    "refund",  # amount moved escrow -> player
    "withdrawal",  # amount moved escrow -> user wallet
    "pause",
    "resume",
    "fee_sweep",  # amount moved fee wallet -> the operator's wallet (not an escrow movement)
]


@dataclass(frozen=True, slots=True)
class BusinessEvent:
    kind: EventKind
    signature: str
    slot: int
    block_time: int
    match_id: int | None = None
    user: str | None = None  # base58 pubkey of the player / winner / withdrawer
    mint: str | None = None  # mint address; the native mint So111...112 for SOL
    escrow_account: str | None = None  # config name of the escrow account, e.g. "escrow_usdc"
    amount: int = 0  # raw units (lamports or token base units)
    fee: int = 0
    paid: bool = False


Listener = Callable[[BusinessEvent], None]
