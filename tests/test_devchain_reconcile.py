"""The simulator's side of exact reconciliation: ledger entries carry the slot and signature of
their transaction and arrive late on the busy profile, a served context slot is complete, and the
fault actions do exactly what they say (in-process: no server needed)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from devchain import chain as chain_mod
from devchain import ledger as ledger_mod
from devchain.rpc import NodeView, Rpc
from devchain.server import DevchainServer


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_entries_carry_slot_and_signature_and_arrive_late(tmp_path: Path) -> None:
    chain = chain_mod.Chain(seed=3)
    path = tmp_path / "books.sqlite"
    ledger = ledger_mod.attach(chain, path, reconcile_every=3600, write_delay=(3.0, 3.5))
    try:
        sigs = chain.step(60)
        time.sleep(0.5)  # the writer ran (every 0.25 s) but every entry is still held back
        assert rows(path, "SELECT COUNT(*) FROM ledger_entries WHERE signature != 'opening-balance'") == [
            (0,)
        ]
        ledger.flush()
        entries = rows(
            path, "SELECT signature, slot FROM ledger_entries WHERE signature != 'opening-balance'"
        )
    finally:
        ledger.close()
    assert entries, "no money moved in 60 transactions"
    slot_of = {chain.get_record(s).signature: chain.get_record(s).slot for s in sigs}  # type: ignore[union-attr]
    assert all(slot_of[sig] == slot for sig, slot in entries)


def test_a_served_confirmed_slot_is_complete() -> None:
    chain = chain_mod.Chain(seed=3)
    chain.step(5)
    rpc = Rpc(chain)
    req = {"jsonrpc": "2.0", "id": 1, "method": "getBalance"}
    served = rpc.handle(
        {**req, "params": ["11111111111111111111111111111111", {"commitment": "confirmed"}]}, NodeView(chain)
    )
    slot = served["result"]["context"]["slot"]
    chain.step(3, advance_slot=False)  # the live generator's way: transactions in the current slot
    assert min(chain.get_record(s).slot for s in chain.step(1, advance_slot=False)) > slot  # type: ignore[union-attr]


def test_silent_drain_is_a_program_transaction_without_an_event(tmp_path: Path) -> None:
    chain = chain_mod.Chain(seed=3)
    chain.step(50)
    server = DevchainServer(chain)
    before = chain.state()
    out = server.run_action({"action": "silent_drain", "account": "escrow_sol", "amount": 1})
    after = chain.state()
    assert after["balances"]["escrow_sol"]["raw"] == before["balances"]["escrow_sol"]["raw"] - 1
    assert after["events"] == before["events"]  # no event counted
    assert after["transactions"]["success"] == before["transactions"]["success"] + 1
    assert "Program data:" not in " ".join(
        chain.load(chain.get_record(out["signature"]))["meta"]["logMessages"]
    )  # type: ignore[arg-type]
    server.run_action({"action": "restore_escrow", "account": "escrow_sol"})
    assert chain.state()["balances"]["escrow_sol"]["raw"] == before["balances"]["escrow_sol"]["raw"]


def test_ledger_faults_need_a_ledger_and_name_the_account() -> None:
    server = DevchainServer(chain_mod.Chain(seed=3))
    with pytest.raises(ValueError, match="--ledger-db"):
        server.run_action({"action": "ledger_drop_entry"})
    with pytest.raises(ValueError, match="'treasury_sol' is not an escrow account"):
        server.run_action({"action": "silent_drain", "account": "treasury_sol"})


def test_dropped_and_duplicated_entries_are_recorded_with_their_amount(tmp_path: Path) -> None:
    chain = chain_mod.Chain(seed=3)
    path = tmp_path / "books.sqlite"
    ledger = ledger_mod.attach(chain, path, reconcile_every=3600)
    server = DevchainServer(chain, ledger=ledger)
    try:
        server.run_action({"action": "ledger_drop_entry", "account": "escrow_sol"})
        server.run_action({"action": "ledger_duplicate_entry", "account": "escrow_sol"})
        sigs = chain.step(200)
        ledger.flush()
        faults = {f["fault"]: f for f in ledger.faults.applied}
        counts = dict(
            rows(
                path, "SELECT signature || ':' || kind, COUNT(*) FROM ledger_entries GROUP BY signature, kind"
            )  # type: ignore[arg-type]
        )
    finally:
        ledger.close()
    assert faults["drop"]["account"] == faults["duplicate"]["account"] == "escrow_sol"
    assert faults["drop"]["raw"] > 0 and faults["duplicate"]["raw"] > 0
    assert 2 in counts.values()  # one entry written twice
    assert len(sigs) == 200
