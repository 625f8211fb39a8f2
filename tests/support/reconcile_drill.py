"""Exact reconciliation on a busy platform, as its tests check it (tests/test_reconcile_e2e.py,
compressed; the 30-minute ``drill`` in tests/test_drills_long.py): the simulator on the busy
profile with its ledger, an exporter reconciling it, and the checks on its metrics."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.devchain_proc import Devchain
from tests.support.exporter_proc import ExporterProcess, sample, wait_until
from tests.support.stack import example_config

#: Seconds: compressed, but the ledger still settles longer than its worst write delay (5 s).
INTERVAL = 2.0


SETTLE = 6.0


USDC = "EfAauwwULLSsK9D8DWm6WbqZL1r3y8jQ2Ei6YE2afaZS"


PYUSD = "FE3z5sZn5SD9p6NoMKPfyPGMAMJWycKjNchfBgxdqfKR"


MINT_OF = {"escrow_sol": "SOL", "escrow_usdc": USDC, "escrow_pyusd": PYUSD}


@dataclass
class Busy:
    chain: Devchain
    exporter: ExporterProcess

    def metrics(self) -> str:
        return self.exporter.metrics()

    def runs(self, views: str) -> float:
        return sample(self.metrics(), "escrow_reconciliation_runs_total", views=views) or 0.0

    def drift(self, account: str, mint: str, views: str) -> float | None:
        return sample(
            self.metrics(), "escrow_reconciliation_drift_raw", account=account, mint=mint, views=views
        )

    def unmatched(self, kind: str) -> float | None:
        return sample(self.metrics(), "escrow_reconciliation_unmatched", kind=kind)

    def within_two_runs(self, views: str, check: Any, what: str) -> None:
        """``check()`` holds by the end of the second reconciliation that started after now."""
        start = self.runs(views)
        wait_until(lambda: check() or self.runs(views) >= start + 3, timeout=120, what=what)
        assert check(), f"{what}: not seen within two reconciliations ({self.runs(views) - start:.0f} ran)"


def reconcile_config(tmp: Path, url: str) -> Path:
    path = example_config(tmp, url, interval_seconds=INTERVAL)
    cfg = yaml.safe_load(path.read_text())
    r = cfg["reconciliation"]
    r.update(interval_seconds=INTERVAL, ledger_settle_seconds=SETTLE, ingestion_wait_seconds=20)
    r["ledger"]["unconfirmed_after_slots"] = 10
    cfg["sql"]["queries"] = []  # not under test here: spare the two shared cores
    # 60 tx/s are 60 getTransaction calls a second: above the 20/s default budget of a provider.
    for ep in cfg["solana"]["endpoints"]:
        ep["rate_limit_rps"] = 1000
    path.write_text(yaml.safe_dump(cfg, sort_keys=False, width=10_000))
    return path


@contextmanager
def busy_platform(tmp: Path) -> Iterator[Busy]:
    """The simulator on the busy profile with its ledger, and an exporter reconciling it."""
    chain = Devchain(tmp, tps=60, extra=("--profile", "busy", "--ledger-db", str(tmp / "ledger.sqlite")))
    try:
        exporter = ExporterProcess(reconcile_config(tmp, chain.url), log=tmp / "exporter.log")
        try:
            exporter.wait_up("/-/ready", timeout=120)
            yield Busy(chain, exporter)
        finally:
            exporter.stop()
    finally:
        chain.stop()


def mismatches(b: Busy) -> list[str]:
    return [
        line
        for line in b.metrics().splitlines()
        if line.startswith("escrow_reconciliation_mismatch_streak{") and not line.endswith(" 0.0")
    ]


def check_quiet(busy: Busy) -> None:
    """Every view pair reconciled, every drift 0, nothing unmatched."""
    wait_until(
        lambda: busy.runs("chain_ledger") >= 4 and busy.runs("chain_events") >= 4,
        timeout=120,
        what="four reconciliations of each view pair",
    )
    text = busy.metrics()
    assert sample(text, "escrow_reconciliation_up", views="chain_ledger") == 1
    assert sample(text, "escrow_reconciliation_up", views="chain_events") == 1
    for account, mint in MINT_OF.items():
        assert busy.drift(account, mint, "chain_ledger") == 0, account
        assert busy.drift(account, mint, "chain_events") == 0, account
    assert mismatches(busy) == []
    for kind in (
        "chain_account_without_ledger_row",
        "ledger_row_without_chain_account",
        "ledger_entry_not_on_chain",
        "chain_change_without_event",
    ):
        assert busy.unmatched(kind) == 0, kind
    state = busy.chain.state()
    assert state["transactions"]["success"] > 500  # it really was busy


def check_every_fault(busy: Busy) -> None:
    """Each fault of the simulator, found within two reconciliations with its exact drift."""
    chain = busy.chain
    # A drain of 1 lamport through a program instruction that emits no event.
    chain.action("silent_drain", account="escrow_sol", amount=1)
    busy.within_two_runs(
        "chain_events",
        lambda: busy.drift("escrow_sol", "SOL", "chain_events") == -1,
        "chain_events drift -1 on escrow_sol",
    )
    busy.within_two_runs(
        "chain_ledger",
        lambda: busy.drift("escrow_sol", "SOL", "chain_ledger") == -1,
        "chain_ledger drift -1 on escrow_sol",
    )
    assert busy.unmatched("chain_change_without_event") == 1
    # Ledger faults: the chain and the events agree, the books do not.
    chain.action("ledger_drop_entry", account="escrow_usdc")
    chain.action("ledger_duplicate_entry", account="escrow_pyusd")
    chain.action("ledger_phantom_entry", account="escrow_sol", mint="SOL", amount="0.5")

    def applied(fault: str) -> dict[str, Any] | None:
        return next((f for f in chain.state().get("ledger_faults", []) if f["fault"] == fault), None)

    drop = wait_until(lambda: applied("drop"), timeout=60, what="a dropped ledger entry")
    dup = wait_until(lambda: applied("duplicate"), timeout=60, what="a duplicated ledger entry")
    assert drop is not None and dup is not None  # wait_until returns what it waited for
    sign = {"deposit": 1}
    want_drop = drop["raw"] * sign.get(drop["kind"], -1)  # chain - ledger: a missing deposit is +
    want_dup = -dup["raw"] * sign.get(dup["kind"], -1)
    busy.within_two_runs(
        "chain_ledger",
        lambda: busy.drift("escrow_usdc", USDC, "chain_ledger") == want_drop,
        f"chain_ledger drift {want_drop} on escrow_usdc",
    )
    busy.within_two_runs(
        "chain_ledger",
        lambda: busy.drift("escrow_pyusd", PYUSD, "chain_ledger") == want_dup,
        f"chain_ledger drift {want_dup} on escrow_pyusd",
    )
    assert busy.drift("escrow_usdc", USDC, "chain_events") == 0
    assert busy.drift("escrow_pyusd", PYUSD, "chain_events") == 0
    busy.within_two_runs(
        "chain_ledger",
        lambda: busy.unmatched("ledger_entry_not_on_chain") == 1,
        "a ledger entry not on chain after N slots",
    )
    # The books lose an escrow account, and spell another's mint differently: never blind.
    # escrow_sol always holds its rent-exempt lamports: forgotten, its whole balance is drift.
    chain.action("ledger_forget_escrow", account="escrow_sol")
    chain.action("ledger_misspell_mint", account="escrow_usdc")
    busy.within_two_runs(
        "chain_ledger",
        lambda: busy.unmatched("chain_account_without_ledger_row") == 2,
        "two chain accounts without a ledger row",
    )
    assert busy.unmatched("ledger_row_without_chain_account") == 1
    text = busy.metrics()
    whole = sample(
        text, "escrow_reconciliation_drift_raw", account="escrow_sol", mint="SOL", views="chain_ledger"
    )
    assert whole is not None and whole >= 890_880  # at least the rent-exempt minimum: all unaccounted
    usdc_chain = sample(
        text, "escrow_reconciliation_drift_raw", account="escrow_usdc", mint=USDC, views="chain_ledger"
    )
    usdc_books = sample(
        text,
        "escrow_reconciliation_drift_raw",
        account="escrow_usdc",
        mint=USDC.lower(),
        views="chain_ledger",
    )
    # Both spellings are reported: the chain's balance under its mint, the books' under theirs.
    assert usdc_chain is not None and usdc_books is not None
    assert busy.drift("escrow_sol", "SOL", "chain_events") == -1  # the events view is not fooled
