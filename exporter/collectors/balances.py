"""Escrow balances: SOL and SPL Token / Token-2022 accounts, polled with getMultipleAccounts.

A failed fetch never becomes a zero: the last good value stays (with its timestamp) for
``staleness_intervals`` polling intervals, then the series disappears, while
``escrow_exporter_collector_up{collector="balances"}`` and the error counter say why.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from solders.pubkey import Pubkey
from solders.token.state import Mint, TokenAccount

from exporter.accounts import chunks, resolve
from exporter.collectors.base import Collector, CollectorError, SeriesCache
from exporter.config.model import BalancesConfig
from exporter.rpc.errors import RpcError
from exporter.rpc.pool import RpcPool
from exporter.solana import (
    LAMPORTS_PER_SOL,
    MINT_LEN,
    TOKEN_ACCOUNT_LEN,
    TOKEN_PROGRAMS,
)

_TOKEN_OWNERS = frozenset(str(p) for p in TOKEN_PROGRAMS)


class BalancesCollector(Collector):
    name = "balances"

    def __init__(self, config: BalancesConfig, pool: RpcPool) -> None:
        self.interval = config.interval_seconds
        self.timeout = max(self.interval * 2, 30.0)
        self.pool = pool
        self.accounts = [resolve(a) for a in config.accounts]
        max_age = config.interval_seconds * config.staleness_intervals
        self._balance = SeriesCache(max_age)  # (account, mint) -> whole units
        self._exists = SeriesCache(max_age)  # (account,) -> 0/1
        self._decimals: dict[Pubkey, int] = {}  # mint -> decimals; immutable on chain

    async def _fetch(self, keys: Sequence[Pubkey]) -> list[dict[str, Any] | None]:
        """Accounts for ``keys`` (None where missing), chunked and fetched in parallel."""
        opts = {"encoding": "base64", "commitment": self.pool.commitment}
        replies = await asyncio.gather(
            *(self.pool.call("getMultipleAccounts", [[str(k) for k in c], opts]) for c in chunks(keys))
        )
        values: list[dict[str, Any] | None] = []
        for chunk, reply in zip(chunks(keys), replies, strict=True):
            value = reply.get("value") if isinstance(reply, dict) else None
            if not isinstance(value, list) or len(value) != len(chunk):
                raise CollectorError("malformed_response", "getMultipleAccounts returned an unexpected shape")
            values.extend(v if isinstance(v, dict) else None for v in value)
        return values

    @staticmethod
    def _data(info: dict[str, Any]) -> bytes:
        data = info.get("data")
        if not (isinstance(data, list) and len(data) == 2 and data[1] == "base64"):
            raise ValueError("account data is not base64-encoded")
        return base64.b64decode(data[0])

    async def _mint_decimals(self, mints: set[Pubkey]) -> None:
        missing = sorted(mints - self._decimals.keys(), key=str)
        if not missing:
            return
        for mint, info in zip(missing, await self._fetch(missing), strict=True):
            if info is None:
                continue
            data = self._data(info)
            if len(data) < MINT_LEN:
                raise CollectorError("invalid_account_data", f"mint {mint} is not a token mint")
            self._decimals[mint] = Mint.from_bytes(data[:MINT_LEN]).decimals

    async def run_cycle(self) -> None:
        try:
            infos = await self._fetch([a.address for a in self.accounts])
            now = time.time()
            tokens: dict[str, TokenAccount] = {}
            problems: list[str] = []
            missing: set[str] = set()
            for acct, info in zip(self.accounts, infos, strict=True):
                self._exists.set((acct.name,), 0 if info is None else 1, now)
                if info is None:
                    missing.add(acct.name)
                    continue
                if acct.kind == "sol" and info.get("owner") in _TOKEN_OWNERS:
                    # Its lamports are the rent deposit, not what it holds: never report them.
                    problems.append(
                        f"{acct.name}: configured kind: sol, but it is a token account (owner "
                        f"{info.get('owner')}); its lamports are rent, not its balance: set kind: token"
                    )
                    continue
                if acct.kind == "sol":
                    lamports = info.get("lamports")
                    if not isinstance(lamports, int):
                        problems.append(f"{acct.name}: lamports missing")
                        continue
                    self._balance.set((acct.name, "SOL"), lamports / LAMPORTS_PER_SOL, now)
                    continue
                owner = info.get("owner")
                data = self._data(info)
                if owner not in _TOKEN_OWNERS or len(data) < TOKEN_ACCOUNT_LEN:
                    problems.append(f"{acct.name}: not a token account (owner {owner})")
                    continue
                tokens[acct.name] = TokenAccount.from_bytes(data[:TOKEN_ACCOUNT_LEN])
            if missing:  # a closed account has no balance (escrow_account_exists says why)
                for key in [k for k, _ in self._balance.items(now) if k[0] in missing]:
                    self._balance.discard(key)
            await self._mint_decimals({t.mint for t in tokens.values()})
            for name, token in tokens.items():
                decimals = self._decimals.get(token.mint)
                if decimals is None:
                    problems.append(f"{name}: mint {token.mint} not found")
                    continue
                self._balance.set((name, str(token.mint)), token.amount / 10**decimals, now)
        except RpcError as e:
            raise CollectorError("rpc_unavailable", str(e)) from None
        except ValueError as e:
            raise CollectorError("invalid_account_data", str(e)) from None
        if problems:
            raise CollectorError("invalid_account_data", "; ".join(problems))

    def collect(self) -> Iterable[Metric]:
        now = time.time()
        info = GaugeMetricFamily(
            "escrow_account_info",
            "Watched account: its address, kind (sol or token) and role (escrow, treasury, fee...). Always 1.",
            labels=["account", "role", "kind", "address"],
        )
        for a in self.accounts:
            info.add_metric([a.name, a.role, a.kind, str(a.address)], 1)
        yield info
        balance = GaugeMetricFamily(
            "escrow_account_balance",
            "Account balance in whole units (SOL, or token units after the mint's decimals); mint is SOL or the mint address.",
            labels=["account", "mint"],
        )
        updated = GaugeMetricFamily(
            "escrow_account_balance_updated_timestamp_seconds",
            "When the account's balance was last read successfully (Unix time).",
            labels=["account"],
        )
        last_update: dict[str, float] = {}
        for (account, mint), cached in self._balance.items(now):
            balance.add_metric([account, mint], cached.value)
            last_update[account] = max(last_update.get(account, 0.0), cached.updated)
        for account, ts in last_update.items():
            updated.add_metric([account], ts)
        yield balance
        yield updated
        exists = GaugeMetricFamily(
            "escrow_account_exists",
            "1 if the account exists on chain, 0 if it is missing or closed.",
            labels=["account"],
        )
        for (account,), cached in self._exists.items(now):
            exists.add_metric([account], cached.value)
        yield exists
