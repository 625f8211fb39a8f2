"""Watched balance accounts resolved from the config, shared by the balances collector and the
reconciliation's chain view (which sit in different packages, both above this module)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from solders.pubkey import Pubkey

from exporter.config.model import AccountConfig
from exporter.solana import find_pda, parse_pubkey

#: getMultipleAccounts accepts at most 100 keys per call.
CHUNK = 100


@dataclass(frozen=True, slots=True)
class WatchedAccount:
    name: str
    address: Pubkey
    kind: str
    role: str


def resolve(account: AccountConfig) -> WatchedAccount:
    if account.address is not None:
        address = parse_pubkey(account.address)
    else:
        assert account.pda is not None  # enforced by the config model
        address = find_pda(account.pda.program_id, account.pda.seeds)
    return WatchedAccount(account.name, address, account.kind, account.role)


def chunks(items: Sequence[Any], size: int = CHUNK) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
