"""Two exporter instances split one deployment by config without double counting.

Shard A ingests the program and reads two escrow accounts; shard B reads the other accounts.
Summed over both instances (as `sum()` in Prometheus would), the event totals equal the chain's
ground truth exactly and every balance is reported by exactly one instance. `check-config`
refuses shard configs that overlap.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devchain.program import PROGRAM_ID
from tests.support.exporter_proc import ExporterProcess, wait_until
from tests.support.ingest import (
    ThreadDevchain,
    diff_totals,
    expected_totals,
    observed_totals,
    parse_metrics,
    program_yaml,
    write_config,
)
from tests.support.util import cli

ACCOUNTS = {
    "escrow_sol": ("sol", ["str:escrow_sol"]),
    "escrow_usdc": ("token", ["str:escrow", "pubkey:EfAauwwULLSsK9D8DWm6WbqZL1r3y8jQ2Ei6YE2afaZS"]),
    "escrow_pyusd": ("token", ["str:escrow", "pubkey:FE3z5sZn5SD9p6NoMKPfyPGMAMJWycKjNchfBgxdqfKR"]),
    "treasury_sol": ("sol", ["str:treasury"]),
    "fee_usdc": ("token", ["str:fee", "pubkey:EfAauwwULLSsK9D8DWm6WbqZL1r3y8jQ2Ei6YE2afaZS"]),
}
SHARD_A = ["escrow_sol", "escrow_usdc"]
SHARD_B = ["escrow_pyusd", "treasury_sol", "fee_usdc"]


def balances_yaml(names: list[str]) -> str:
    lines = ["balances:", "  interval_seconds: 0.5", "  accounts:"]
    for n in names:
        kind, seeds = ACCOUNTS[n]
        seed_list = ", ".join(f'"{s}"' for s in seeds)
        lines.append(
            f"    - {{name: {n}, kind: {kind}, pda: {{program_id: {PROGRAM_ID}, seeds: [{seed_list}]}}}}"
        )
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def chain() -> Iterator[ThreadDevchain]:
    d = ThreadDevchain(seed=5, tps=20)
    yield d
    d.close()


def shard_config(tmp: Path, name: str, chain: ThreadDevchain, accounts: list[str], programs: str) -> Path:
    return write_config(
        tmp / f"{name}.yml",
        [("devchain", chain.url)],
        tmp / f"{name}-state.sqlite",
        balances_yaml(accounts) + programs,
    )


def test_overlapping_shards_are_refused(tmp_path: Path, chain: ThreadDevchain) -> None:
    a = shard_config(tmp_path, "a", chain, SHARD_A, program_yaml())
    b = shard_config(tmp_path, "b", chain, [*SHARD_B, "escrow_usdc"], program_yaml())
    r = cli("check-config", "--config", str(a), "--config", str(b))
    assert r.returncode == 2
    assert "program paid_match is in 2 shards" in r.stderr
    assert f"program id {PROGRAM_ID} is in 2 shards" in r.stderr
    assert "account address" in r.stderr and "Traceback" not in r.stderr


def test_two_shards_count_each_event_once(tmp_path: Path, chain: ThreadDevchain) -> None:
    a = shard_config(tmp_path, "a", chain, SHARD_A, program_yaml())
    b = shard_config(tmp_path, "b", chain, SHARD_B, "")
    r = cli("check-config", "--config", str(a), "--config", str(b))
    assert r.returncode == 0, r.stderr
    shards = [ExporterProcess(a), ExporterProcess(b)]
    try:
        for s in shards:
            s.wait_up("/-/ready", timeout=60)
        truth = expected_totals(chain.stop_generator())

        def summed() -> dict[str, float]:
            total: dict[str, float] = {}
            for s in shards:
                for k, v in observed_totals(s.metrics()).items():
                    total[k] = total.get(k, 0.0) + v
            return total

        wait_until(
            lambda: not diff_totals(truth, summed()), timeout=60, what="sharded totals == ground truth"
        )
        # Every balance comes from exactly one shard.
        reporters: dict[str, int] = {}
        for s in shards:
            wait_until(
                lambda s=s: (
                    {
                        labels["account"]
                        for name, labels, _ in parse_metrics(s.metrics())
                        if name == "escrow_account_balance"
                    }
                    == set(SHARD_A if s is shards[0] else SHARD_B)
                ),
                timeout=20,
                what="each shard's balances",
            )
            for name, labels, _ in parse_metrics(s.metrics()):
                if name == "escrow_account_balance":
                    reporters[labels["account"]] = reporters.get(labels["account"], 0) + 1
        assert reporters == {n: 1 for n in ACCOUNTS}
    finally:
        for s in shards:
            s.stop()
