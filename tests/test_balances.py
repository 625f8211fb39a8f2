"""Balances from the simulator: SOL, SPL Token and Token-2022 accounts, chunking, missing accounts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from solders.keypair import Keypair

from tests.support.devchain_proc import Devchain
from tests.support.exporter_proc import ExporterProcess, sample, wait_until
from tests.support.util import ROOT


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devchain]:
    d = Devchain(tmp_path_factory.mktemp("devchain"), seed=11, tps=1)
    yield d
    d.stop()


def example_accounts() -> str:
    """The `accounts:` list of examples/config.yml (the five demo accounts, as PDAs)."""
    text = (ROOT / "examples" / "config.yml").read_text()
    block = text.split("  accounts:\n", 1)[1]
    lines = []
    for line in block.splitlines():
        if line and not line.startswith("    "):
            break
        lines.append(line)
    return "\n".join(lines)


def start(tmp_path: Path, chain: Devchain, accounts: str, interval: float) -> ExporterProcess:
    cfg = tmp_path / "config.yml"
    cfg.write_text(
        f"solana:\n  endpoints: [{{name: devchain, url: '{chain.url}'}}]\n"
        f"balances:\n  interval_seconds: {interval}\n  accounts:\n{accounts}\n"
    )
    proc = ExporterProcess(cfg)
    proc.wait_up("/-/ready")
    return proc


def test_sol_spl_and_token2022_balances_equal_chain(chain: Devchain, tmp_path: Path) -> None:
    proc = start(tmp_path, chain, example_accounts(), interval=0.3)
    try:
        truth = chain.state()["balances"]
        assert {"escrow_sol", "escrow_usdc", "escrow_pyusd", "treasury_sol", "fee_usdc"} <= truth.keys()

        def all_equal() -> bool:
            state, text = chain.state()["balances"], proc.metrics()
            for name, acct in state.items():
                got = sample(text, "escrow_account_balance", account=name, mint=acct["mint"])
                if got is None or abs(got - acct["raw"] / 10 ** acct["decimals"]) > 1e-9:
                    return False
            return True

        # The chain moves at 1 tx/s and we poll every 0.3 s: they must agree within a few cycles.
        wait_until(all_equal, timeout=20, what="exporter balances == simulator balances")
        text = proc.metrics()
        for name, acct in truth.items():
            assert sample(text, "escrow_account_exists", account=name) == 1
            assert sample(text, "escrow_account_info", account=name, address=acct["address"]) == 1
        assert sample(text, "escrow_account_info", account="fee_usdc", role="fee", kind="token") == 1
        # Token-2022 is read with the same layout, decimals from its mint (6), never configured.
        assert truth["escrow_pyusd"]["decimals"] == 6
    finally:
        proc.stop()


def test_more_than_100_accounts_are_chunked_and_missing_account_reported(
    chain: Devchain, tmp_path: Path
) -> None:
    state = chain.state()["balances"]
    lines = []
    for i in range(150):  # 150 names over the five real accounts: two getMultipleAccounts calls
        name = list(state)[i % 5]
        kind = "sol" if state[name]["mint"] == "SOL" else "token"
        lines.append(f"    - {{name: acct_{i:03d}, kind: {kind}, address: {state[name]['address']}}}")
    missing = str(Keypair().pubkey())
    lines.append(f"    - {{name: closed_escrow, kind: token, address: {missing}}}")
    proc = start(tmp_path, chain, "\n".join(lines), interval=60)  # exactly one cycle during the test
    try:
        text = proc.metrics()
        present = [
            i
            for i in range(150)
            if sample(text, "escrow_account_balance", account=f"acct_{i:03d}") is not None
        ]
        assert len(present) == 150
        # 151 accounts -> 2 chunks, plus one call for the two mints' decimals.
        calls = sample(
            text,
            "escrow_rpc_requests_total",
            endpoint="devchain",
            method="getMultipleAccounts",
            outcome="success",
        )
        assert calls == 3
        assert sample(text, "escrow_account_exists", account="closed_escrow") == 0
        assert sample(text, "escrow_account_balance", account="closed_escrow") is None
        assert sample(text, "escrow_exporter_collector_up", collector="balances") == 1
    finally:
        proc.stop()
