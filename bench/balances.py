"""Balances at scale: one polling cycle over 10,000 configured accounts against the simulator.

Ours is the real ``BalancesCollector`` on the real ``RpcPool`` (getMultipleAccounts, 100 keys per
call, mint decimals cached). The baseline is what a straightforward exporter does: one
``getBalance`` per SOL account and one ``getAccountInfo`` per token account plus one per mint
to learn its decimals, through the same pool, with the same concurrency. Both read the same
10,000 accounts: the simulator's five real accounts under many names, and every tenth one an
address that does not exist (a closed escrow), which both must report as missing.

RPC calls are counted from the pool's own ``escrow_rpc_requests_total``, i.e. what a provider
would bill. The endpoint's rate limit is lifted for the timing (the simulator is local), and the
time a provider's limit would impose is given separately: calls / requests-per-second.

    python -m bench.balances          # prints the result as JSON
"""

from __future__ import annotations

import asyncio
import base64
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry
from solders.keypair import Keypair
from solders.token.state import Mint, TokenAccount

from exporter.collectors.balances import BalancesCollector
from exporter.config.model import AccountConfig, BalancesConfig, EndpointConfig, SolanaConfig
from exporter.rpc.metrics import RpcMetrics
from exporter.rpc.pool import RpcPool
from exporter.solana import LAMPORTS_PER_SOL, MINT_LEN, TOKEN_ACCOUNT_LEN
from tests.support.devchain_proc import Devchain

ACCOUNTS = 10_000
SMOKE_ACCOUNTS = 200  # run(smoke=True): the make-test smoke run
MISSING_EVERY = 10
OURS_CYCLES = 3
#: A typical paid provider's per-endpoint limit, to translate calls into wall-clock seconds.
PROVIDER_RPS = 10.0


def account_configs(chain_balances: dict[str, Any], n: int = ACCOUNTS) -> list[AccountConfig]:
    """``n`` accounts over the simulator's real ones; every ``MISSING_EVERY``-th does not exist."""
    real = sorted(chain_balances)
    out = []
    for i in range(n):
        if i % MISSING_EVERY == MISSING_EVERY - 1:
            out.append(AccountConfig(name=f"acct_{i:05d}", kind="token", address=str(Keypair().pubkey())))
            continue
        src = chain_balances[real[i % len(real)]]
        if src["mint"] == "SOL":
            out.append(AccountConfig(name=f"acct_{i:05d}", kind="sol", address=src["address"]))
        else:
            out.append(AccountConfig(name=f"acct_{i:05d}", kind="token", address=src["address"]))
    return out


def _solana(url: str) -> SolanaConfig:
    # Same concurrency as the default config; the rate limit is lifted (see module doc).
    return SolanaConfig(endpoints=[EndpointConfig(name="sim", url=url, rate_limit_rps=1e6)])


def _calls(registry: CollectorRegistry) -> int:
    total = 0.0
    for family in registry.collect():
        if family.name == "escrow_rpc_requests":
            total += sum(s.value for s in family.samples if s.name.endswith("_total"))
    return int(total)


async def _ours(url: str, accounts: list[AccountConfig]) -> tuple[list[float], int, dict[str, float]]:
    """Seconds of each cycle (first one includes the mint-decimals lookup), calls per steady cycle."""
    registry = CollectorRegistry()
    async with aiohttp.ClientSession() as session:
        pool = RpcPool(_solana(url), session, RpcMetrics(registry))
        collector = BalancesCollector(BalancesConfig(interval_seconds=60, accounts=accounts), pool)
        seconds, calls_before = [], 0
        for _ in range(OURS_CYCLES):
            calls_before = _calls(registry)
            start = time.perf_counter()
            await collector.run_cycle()
            seconds.append(time.perf_counter() - start)
        steady_calls = _calls(registry) - calls_before
        values = {
            s.labels["account"]: s.value
            for fam in collector.collect()
            if fam.name == "escrow_account_balance"
            for s in fam.samples
        }
    return seconds, steady_calls, values


async def _naive(url: str, accounts: list[AccountConfig]) -> tuple[float, int, dict[str, float]]:
    """One request per account (and per token account's mint): the baseline."""
    registry = CollectorRegistry()
    commitment = {"commitment": "confirmed"}
    async with aiohttp.ClientSession() as session:
        pool = RpcPool(_solana(url), session, RpcMetrics(registry))

        async def one(acct: AccountConfig) -> tuple[str, float | None]:
            if acct.kind == "sol":
                reply = await pool.call("getBalance", [acct.address, commitment])
                return acct.name, reply["value"] / LAMPORTS_PER_SOL
            reply = await pool.call("getAccountInfo", [acct.address, {"encoding": "base64", **commitment}])
            if reply["value"] is None:
                return acct.name, None
            token = TokenAccount.from_bytes(base64.b64decode(reply["value"]["data"][0])[:TOKEN_ACCOUNT_LEN])
            mint = await pool.call("getAccountInfo", [str(token.mint), {"encoding": "base64", **commitment}])
            decimals = Mint.from_bytes(base64.b64decode(mint["value"]["data"][0])[:MINT_LEN]).decimals
            return acct.name, token.amount / 10**decimals

        start = time.perf_counter()
        results = await asyncio.gather(*(one(a) for a in accounts))
        seconds = time.perf_counter() - start
    return seconds, _calls(registry), {name: v for name, v in results if v is not None}


def run(n: int = ACCOUNTS, smoke: bool = False) -> dict[str, Any]:
    if smoke:
        n = SMOKE_ACCOUNTS
    with tempfile.TemporaryDirectory(prefix="bench-balances-") as tmp:
        chain = Devchain(Path(tmp), seed=7, tps=0)  # no traffic: balances hold still for the check
        try:
            accounts = account_configs(chain.state()["balances"], n)
            ours_s, ours_calls, ours_values = asyncio.run(_ours(chain.url, accounts))
            naive_s, naive_calls, naive_values = asyncio.run(_naive(chain.url, accounts))
        finally:
            chain.stop()
    if ours_values != naive_values:
        raise RuntimeError("balances bench: the collector and the baseline read different balances")
    return {
        "accounts": n,
        "missing_accounts": n // MISSING_EVERY,
        "ours_seconds_per_cycle": statistics.median(ours_s[1:]) if len(ours_s) > 1 else ours_s[0],
        "ours_first_cycle_seconds": ours_s[0],
        "ours_rpc_calls_per_cycle": ours_calls,
        "baseline_seconds_per_cycle": naive_s,
        "baseline_rpc_calls_per_cycle": naive_calls,
        "provider_rps": PROVIDER_RPS,
        "ours_seconds_at_provider_limit": ours_calls / PROVIDER_RPS,
        "baseline_seconds_at_provider_limit": naive_calls / PROVIDER_RPS,
        "balances_read": len(ours_values),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
