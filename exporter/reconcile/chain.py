"""The chain view: every reconciled account's balance in raw units, exact at one slot.

One ``getMultipleAccounts`` call (chunks of 100, all at the ``confirmed`` commitment) returns the
accounts' state and its ``context.slot``: a confirmed slot is complete, so the balances are
exactly those at the end of that slot. Chunks answered at different slots cannot be compared
with one ledger read; the read is repeated (up to three times) until they agree.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from solders.token.state import TokenAccount

from exporter.accounts import WatchedAccount, chunks
from exporter.config.programs import SOL_LABEL
from exporter.errors import CollectorError
from exporter.rpc.pool import RpcPool
from exporter.solana import NATIVE_MINT, TOKEN_ACCOUNT_LEN, TOKEN_PROGRAMS


@dataclass(slots=True)
class ChainSnapshot:
    slot: int
    #: (account name, mint label) -> raw units; only accounts that exist.
    balances: dict[tuple[str, str], int] = field(default_factory=dict)
    #: account name -> mint label (for the ones that exist).
    mint_of: dict[str, str] = field(default_factory=dict)


def mint_label(mint: str) -> str:
    return SOL_LABEL if mint == NATIVE_MINT else mint


def _token(info: dict[str, Any]) -> TokenAccount | None:
    data = info.get("data")
    if not (isinstance(data, list) and len(data) == 2 and data[1] == "base64"):
        return None
    raw = base64.b64decode(data[0])
    if info.get("owner") not in {str(p) for p in TOKEN_PROGRAMS} or len(raw) < TOKEN_ACCOUNT_LEN:
        return None
    return TokenAccount.from_bytes(raw[:TOKEN_ACCOUNT_LEN])


async def read_chain(pool: RpcPool, accounts: list[WatchedAccount]) -> ChainSnapshot:
    """Balances of ``accounts`` at one confirmed slot. Raises ``RpcError`` or ``CollectorError``."""
    opts = {
        "encoding": "base64",
        "commitment": "finalized" if pool.commitment == "finalized" else "confirmed",
    }
    for _ in range(3):
        slots: set[int] = set()
        infos: list[Any] = []
        for chunk in chunks(accounts):
            reply = await pool.call("getMultipleAccounts", [[str(a.address) for a in chunk], opts])
            ctx = reply.get("context") if isinstance(reply, dict) else None
            value = reply.get("value") if isinstance(reply, dict) else None
            slot = ctx.get("slot") if isinstance(ctx, dict) else None
            if not isinstance(value, list) or len(value) != len(chunk) or not isinstance(slot, int):
                raise CollectorError("malformed_response", "getMultipleAccounts returned an unexpected shape")
            slots.add(slot)
            infos.extend(value)
        if len(slots) == 1:
            break
    else:
        raise CollectorError("slot_unstable", "getMultipleAccounts chunks kept answering at different slots")
    snap = ChainSnapshot(slot=slots.pop())
    problems = []
    for acct, info in zip(accounts, infos, strict=True):
        if not isinstance(info, dict):
            continue  # missing or closed: holds nothing
        if acct.kind == "sol":
            lamports = info.get("lamports")
            if not isinstance(lamports, int):
                problems.append(f"{acct.name}: lamports missing")
                continue
            snap.balances[(acct.name, SOL_LABEL)] = lamports
            snap.mint_of[acct.name] = SOL_LABEL
            continue
        try:
            token = _token(info)
        except ValueError:
            token = None
        if token is None:
            problems.append(f"{acct.name}: not a token account")
            continue
        label = mint_label(str(token.mint))
        snap.balances[(acct.name, label)] = token.amount
        snap.mint_of[acct.name] = label
    if problems:
        raise CollectorError("invalid_account_data", "; ".join(problems))
    return snap
