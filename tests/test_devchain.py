"""devchain: wire shapes checked with solders' own parsers, faults, determinism, ground truth."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import subprocess
import sys
from collections import defaultdict
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from solders.pubkey import Pubkey
from solders.rpc.responses import (
    GetMultipleAccountsResp,
    GetProgramAccountsResp,
    GetSignaturesForAddressResp,
    GetTransactionResp,
)
from solders.signature import Signature
from solders.token.state import Mint, TokenAccount

from devchain.b58 import b58decode
from devchain.chain import Chain
from devchain.events import BusinessEvent
from devchain.program import IDL, IDL_PATH, PROGRAM_ID, PYUSD_MINT, USDC_MINT, WATCHED, idl_json
from devchain.server import DevchainServer
from tests.support.devchain_proc import (
    assert_fails,
    devchain_cli,
)
from tests.support.util import ROOT, free_port, wait_http

GENESIS = 1_700_000_000
EVENT_IX_TAG = bytes.fromhex("e445a52e51cb9a1d")
PROG = str(PROGRAM_ID)
SOL_MINT = "So11111111111111111111111111111111111111112"


def make_chain(seed: int = 7, n: int = 400) -> Chain:
    chain = Chain(seed=seed, genesis_time=GENESIS)
    chain.step(n)
    chain.slot += 40  # let everything finalize so default-commitment reads see it
    return chain


async def client_for(chain: Chain) -> tuple[TestClient, DevchainServer]:
    server = DevchainServer(chain)
    client = TestClient(TestServer(server.app(background=False)))
    await client.start_server()
    return client, server


async def rpc(client: TestClient, method: str, params: Any = None, path: str = "/") -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, **({"params": params} if params is not None else {})}
    r = await client.post(path, json=body)
    return await r.json()


@pytest.fixture
async def served() -> Any:
    chain = make_chain()
    client, server = await client_for(chain)
    yield chain, client, server
    await client.close()


# ---- IDL ------------------------------------------------------------------------------------
def test_idl_file_is_current_and_uses_anchor_030_discriminators() -> None:
    assert IDL_PATH.read_text() == idl_json(), "run: python -m devchain.program"
    idl = json.loads(IDL_PATH.read_text())
    assert idl["address"] == PROG and idl["metadata"]["spec"] == "0.1.0"
    for ns, section in (("global", "instructions"), ("account", "accounts"), ("event", "events")):
        for item in idl[section]:
            assert (
                bytes(item["discriminator"]) == hashlib.sha256(f"{ns}:{item['name']}".encode()).digest()[:8]
            )
    assert {e["name"] for e in idl["events"]} == {
        "MatchCreated",
        "PlayerJoined",
        "MatchStarted",
        "MatchSettled",
        "MatchRefunded",
        "WithdrawalProcessed",
        "ProgramPaused",
        "ProgramResumed",
        "FeesSwept",
    }
    assert {e["code"]: e["name"] for e in idl["errors"]}[6001] == "MatchFull"
    types = {t["name"]: t["type"] for t in idl["types"]}
    assert [v["name"] for v in types["MatchStatus"]["variants"]] == [
        "Open",
        "InProgress",
        "Paused",
        "Settled",
        "Cancelled",
    ]
    assert [v["name"] for v in types["PauseReason"]["variants"]] == ["Maintenance", "Incident", "Manual"]


# ---- an independent decoder: what an exporter must do to count events ----------------------
def observed_events(tx: dict[str, Any]) -> list[tuple[str, bytes]]:
    """(event name, borsh body) for our program's events in a served transaction."""
    by_disc = {bytes(e["discriminator"]): e["name"] for e in IDL["events"]}
    out: list[tuple[str, bytes]] = []
    if tx["meta"]["err"] is not None:
        return out
    stack: list[str] = []
    for line in tx["meta"]["logMessages"]:
        parts = line.split()
        if line.startswith("Program ") and len(parts) == 4 and parts[2] == "invoke":
            stack.append(parts[1])
        elif line.startswith("Program ") and len(parts) == 3 and parts[2] == "success":
            stack.pop()
        elif line.startswith("Program data: ") and stack and stack[-1] == PROG:
            raw = base64.b64decode(line.split(": ", 1)[1])
            if raw[:8] in by_disc:
                out.append((by_disc[raw[:8]], raw[8:]))
    msg = tx["transaction"]["message"]
    keys = (
        msg["accountKeys"]
        + tx["meta"]["loadedAddresses"]["writable"]
        + tx["meta"]["loadedAddresses"]["readonly"]
    )
    for group in tx["meta"]["innerInstructions"]:
        for ix in group["instructions"]:
            data = b58decode(ix["data"])
            if keys[ix["programIdIndex"]] == PROG and data[:8] == EVENT_IX_TAG:
                out.append((by_disc[data[8:16]], data[16:]))
    return out


def amount_fields(name: str, body: bytes) -> dict[str, tuple[str, int]]:
    """Amount fields of an event as (mint, raw) by field name."""
    if name in ("PlayerJoined", "MatchRefunded"):
        return {"amount": (str(Pubkey.from_bytes(body[40:72])), struct.unpack_from("<Q", body, 72)[0])}
    if name == "MatchSettled":
        mint = str(Pubkey.from_bytes(body[40:72]))
        prize, fee = struct.unpack_from("<QQ", body, 72)
        return {"prize": (mint, prize), "fee": (mint, fee)}
    if name == "WithdrawalProcessed":
        return {"amount": (str(Pubkey.from_bytes(body[32:64])), struct.unpack_from("<Q", body, 64)[0])}
    if name == "MatchCreated":
        return {"entry_fee": (str(Pubkey.from_bytes(body[40:72])), struct.unpack_from("<Q", body, 72)[0])}
    return {}


async def all_signatures(client: TestClient, address: str) -> list[str]:
    sigs: list[str] = []
    before = None
    while True:
        cfg: dict[str, Any] = {"limit": 150}
        if before:
            cfg["before"] = before
        resp = await rpc(client, "getSignaturesForAddress", [address, cfg])
        page = GetSignaturesForAddressResp.from_json(json.dumps(resp)).value
        if not page:
            return sigs
        sigs += [str(p.signature) for p in page]
        before = sigs[-1]


# ---- wire shapes ----------------------------------------------------------------------------
async def test_served_transactions_parse_with_solders_and_match_ground_truth(served: Any) -> None:
    chain, client, _ = served
    sigs = await all_signatures(client, PROG)
    assert len(sigs) == 400 and len(set(sigs)) == 400
    counts: dict[str, int] = defaultdict(int)
    sums: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    ok = failed = fees = 0
    versions = set()
    saw = defaultdict(int)
    for sig in sigs:
        resp = await rpc(
            client, "getTransaction", [sig, {"encoding": "json", "maxSupportedTransactionVersion": 0}]
        )
        parsed = GetTransactionResp.from_json(json.dumps(resp)).value
        assert parsed is not None and str(parsed.transaction.transaction.signatures[0]) == sig
        tx = resp["result"]
        versions.add(tx["version"])
        fees += tx["meta"]["fee"]
        if tx["meta"]["err"] is None:
            ok += 1
        else:
            failed += 1
            custom = tx["meta"]["err"]["InstructionError"][1]["Custom"]
            assert any(f"Error Number: {custom}." in line for line in tx["meta"]["logMessages"])
        logs = "\n".join(tx["meta"]["logMessages"])
        saw["router"] += f"Program {PROG} invoke [2]" in logs
        saw["lookup"] += bool(tx["meta"]["loadedAddresses"]["writable"])
        saw["budget"] += "ComputeBudget111111111111111111111111111111 invoke [1]" in logs
        saw["hook"] += "Instruction: Notify" in logs
        for name, body in observed_events(tx):
            counts[name] += 1
            for field, (mint, raw) in amount_fields(name, body).items():
                sums[name][field][mint] += raw
    assert versions == {0, "legacy"}
    assert all(saw[k] > 0 for k in ("router", "lookup", "budget", "hook")), saw
    truth = await (await client.get("/_state")).json()
    assert truth["transactions"]["success"] == ok and truth["transactions"]["failed"] == failed and failed > 0
    assert truth["fees_lamports"] == fees
    for name, ev in truth["events"].items():
        assert ev["count"] == counts.get(name, 0), name
        for field, per_mint in ev["amounts"].items():
            assert per_mint == dict(sums[name][field]), (name, field)


async def test_watched_accounts_have_real_layouts(served: Any) -> None:
    chain, client, _ = served
    names = list(WATCHED)
    keys = [str(WATCHED[n][0]) for n in names] + [str(USDC_MINT), str(PYUSD_MINT), str(Pubkey.new_unique())]
    resp = await rpc(client, "getMultipleAccounts", [keys, {"encoding": "base64", "commitment": "confirmed"}])
    accounts = GetMultipleAccountsResp.from_json(json.dumps(resp)).value
    state = (await (await client.get("/_state")).json())["balances"]
    for name, acc in zip(names, accounts[:5], strict=True):
        assert acc is not None
        if state[name]["mint"] == "SOL":
            assert str(acc.owner) == "11111111111111111111111111111111" and acc.data == b""
            assert acc.lamports == state[name]["raw"]
        else:
            token = TokenAccount.from_bytes(acc.data)
            assert token.amount == state[name]["raw"] and str(token.mint) == state[name]["mint"]
    assert str(accounts[5].owner) == "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
    assert str(accounts[6].owner) == "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
    assert Mint.from_bytes(accounts[5].data).decimals == 6 and Mint.from_bytes(accounts[6].data).decimals == 6
    assert accounts[7] is None
    too_many = await rpc(client, "getMultipleAccounts", [keys * 15])
    assert too_many["error"]["code"] == -32602


async def test_program_accounts_filters(served: Any) -> None:
    chain, client, _ = served
    disc = next(bytes(a["discriminator"]) for a in IDL["accounts"] if a["name"] == "Match")
    from devchain.b58 import b58encode

    resp = await rpc(
        client,
        "getProgramAccounts",
        [PROG, {"encoding": "base64", "filters": [{"memcmp": {"offset": 0, "bytes": b58encode(disc)}}]}],
    )
    rows = GetProgramAccountsResp.from_json(json.dumps(resp)).value
    truth = (await (await client.get("/_state")).json())["matches"]
    assert len(rows) == sum(truth.values()) > 0
    statuses = defaultdict(int)
    for row in rows:
        data = row.account.data
        n_players = struct.unpack_from("<I", data, 8 + 8 + 32 + 32 + 8 + 8 + 1)[0]
        statuses[data[8 + 8 + 32 + 32 + 8 + 8 + 1 + 4 + 32 * n_players]] += 1
    assert [statuses[i] for i in range(5)] == list(truth.values())
    sliced = await rpc(
        client,
        "getProgramAccounts",
        [
            PROG,
            {"encoding": "base64", "dataSlice": {"offset": 0, "length": 8}, "filters": [{"dataSize": 83}]},
        ],
    )
    assert len(sliced["result"]) == 1 and base64.b64decode(
        sliced["result"][0]["account"]["data"][0]
    ) == bytes(next(a["discriminator"] for a in IDL["accounts"] if a["name"] == "PlatformConfig"))


async def test_signature_paging_and_errors(served: Any) -> None:
    chain, client, _ = served
    every = await all_signatures(client, PROG)
    page = (await rpc(client, "getSignaturesForAddress", [PROG, {"limit": 5, "until": every[3]}]))["result"]
    assert [p["signature"] for p in page] == every[:3]
    slots = [
        p["slot"] for p in (await rpc(client, "getSignaturesForAddress", [PROG, {"limit": 50}]))["result"]
    ]
    assert slots == sorted(slots, reverse=True)
    assert (await rpc(client, "getSignaturesForAddress", [PROG, {"limit": 1001}]))["error"]["code"] == -32602
    assert (await rpc(client, "getTransaction", ["not-a-sig!"]))["error"] == {
        "code": -32602,
        "message": "Invalid param: Invalid",
    }
    unknown = str(Signature.default())
    assert (await rpc(client, "getTransaction", [unknown, {"maxSupportedTransactionVersion": 0}]))[
        "result"
    ] is None
    assert (await rpc(client, "getBalance", ["abc"]))["error"]["code"] == -32602
    assert (await rpc(client, "bogus"))["error"]["code"] == -32601
    batch = await client.post("/", json=[{"jsonrpc": "2.0", "id": i, "method": "getSlot"} for i in range(3)])
    assert [r["id"] for r in await batch.json()] == [0, 1, 2]
    ctx = await rpc(client, "getBalance", [str(WATCHED["escrow_sol"][0])])
    assert (
        ctx["result"]["context"]["apiVersion"]
        and ctx["result"]["value"] == chain.state()["balances"]["escrow_sol"]["raw"]
    )


# ---- faults -------------------------------------------------------------------------------
async def test_faults_are_per_node_and_clear(served: Any) -> None:
    chain, client, _ = served
    await client.post("/_faults", json={"node": "a", "down": True})
    with pytest.raises(aiohttp.ClientError):
        await rpc(client, "getSlot", path="/node/a")
    assert "result" in await rpc(client, "getSlot", path="/node/b")

    await client.post("/_faults", json={"node": "b", "rate_limit": True})
    r = await client.post("/node/b", json={"jsonrpc": "2.0", "id": 9, "method": "getSlot"})
    assert r.status == 429 and r.headers["Retry-After"] == "1" and (await r.json())["id"] == 9

    await client.post("/_faults", json={"node": "c", "stale_slot": True})
    frozen = (await rpc(client, "getSlot", path="/node/c"))["result"]
    chain.step(5)
    health = await rpc(client, "getHealth", path="/node/c")
    assert health["error"]["code"] == -32005 and health["error"]["data"]["numSlotsBehind"] == 5
    assert (await rpc(client, "getSlot", path="/node/c"))["result"] == frozen

    await client.post("/_faults", json={"node": "d", "malformed": True})
    text = await (await client.post("/node/d", json={"jsonrpc": "2.0", "id": 1, "method": "getSlot"})).text()
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)

    await client.post("/_faults", json={"node": "e", "truncate_logs": True})
    sig = (await rpc(client, "getSignaturesForAddress", [PROG, {"limit": 1}]))["result"][0]["signature"]
    tx = await rpc(
        client,
        "getTransaction",
        [sig, {"maxSupportedTransactionVersion": 0, "commitment": "confirmed"}],
        path="/node/e",
    )
    assert tx["result"]["meta"]["logMessages"][-1] == "Log truncated"

    await client.delete("/_faults")
    assert "result" in await rpc(client, "getSlot", path="/node/a")
    assert (await rpc(client, "getHealth", path="/node/c"))["result"] == "ok"


async def test_rate_limit_per_item_bills_a_batch_per_call(served: Any) -> None:
    """As providers bill: a batch of 5 calls costs 5 of a 3 calls/s budget, so what follows waits."""
    _, client, _ = served
    batch = [{"jsonrpc": "2.0", "id": i, "method": "getSlot"} for i in range(5)]
    one = {"jsonrpc": "2.0", "id": 9, "method": "getSlot"}
    await client.post("/_faults", json={"node": "http", "rate_limit": 3})
    await client.post("/_faults", json={"node": "item", "rate_limit": 3, "rate_limit_per_item": True})
    # metered per HTTP request: the batch is one request, two more single calls still pass
    assert [(await client.post("/node/http", json=b)).status for b in (batch, one, one)] == [200] * 3
    # metered per call: the batch passes on a full bucket and leaves it in debt (3 - 5 = -2)
    r = await client.post("/node/item", json=batch)
    assert r.status == 200 and len(await r.json()) == 5
    assert (await client.post("/node/item", json=one)).status == 429
    # what was served is counted per node and method, a batch of N as N; the 429 is not billed
    await client.post("/node/item", json=[{"jsonrpc": "2.0", "id": 1, "method": "getHealth"}])
    calls = (await (await client.get("/_state")).json())["rpc_calls"]
    assert calls["http"] == {"getSlot": 7} and calls["item"] == {"getSlot": 5}


async def test_hostile_faults_lie_in_a_real_nodes_shape(served: Any) -> None:
    """Each hostile fault changes what it says it changes; the answers that stay answers still
    parse with solders (a lying node is still a node), and the other nodes stay honest."""
    chain, client, _ = served
    every = await all_signatures(client, PROG)
    honest_slot = (await rpc(client, "getSlot", path="/node/h"))["result"]

    await client.post("/_faults", json={"node": "lie", "slot_offset": 1_000_000})
    assert (await rpc(client, "getSlot", path="/node/lie"))["result"] == honest_slot + 1_000_000
    page = await rpc(client, "getSignaturesForAddress", [PROG, {"limit": 2}], path="/node/lie")
    assert GetSignaturesForAddressResp.from_json(json.dumps(page)).value[0].slot > 1_000_000
    tx = await rpc(
        client, "getTransaction", [every[0], {"maxSupportedTransactionVersion": 0}], path="/node/lie"
    )
    assert GetTransactionResp.from_json(json.dumps(tx)).value.slot > 1_000_000  # type: ignore[union-attr]

    await client.post("/_faults", json={"node": "dup", "duplicate_signatures": True})
    first = await rpc(client, "getSignaturesForAddress", [PROG, {"limit": 5}], path="/node/dup")
    listed = [str(s.signature) for s in GetSignaturesForAddressResp.from_json(json.dumps(first)).value]
    assert listed == [every[0], every[0], every[1], every[2], every[3]]  # a repeat within the page
    second = await rpc(
        client, "getSignaturesForAddress", [PROG, {"limit": 3, "before": listed[-1]}], path="/node/dup"
    )
    assert [s["signature"] for s in second["result"]] == [every[3], every[4], every[4]]  # and across

    for flag, check in (
        ("null_transactions", lambda r: r["result"] is None),
        ("history_unavailable", lambda r: r["error"]["code"] == -32011),
    ):
        await client.post("/_faults", json={"node": flag, flag: True})
        assert check(
            await rpc(
                client,
                "getTransaction",
                [every[0], {"maxSupportedTransactionVersion": 0}],
                path=f"/node/{flag}",
            )
        )
    await client.post("/_faults", json={"node": "obj", "bad_listing": True})
    assert isinstance(
        (await rpc(client, "getSignaturesForAddress", [PROG], path="/node/obj"))["result"], dict
    )

    await client.post("/_faults", json={"node": "deep", "deep_json": True})
    text = await (
        await client.post("/node/deep", json={"jsonrpc": "2.0", "id": 1, "method": "getSlot"})
    ).text()
    with pytest.raises(RecursionError):
        json.loads(text)
    await client.post("/_faults", json={"node": "ids", "array_ids": True})
    batch = await client.post(
        "/node/ids", json=[{"jsonrpc": "2.0", "id": i, "method": "getSlot"} for i in range(2)]
    )
    assert [r["id"] for r in await batch.json()] == [[0], [1]]

    await client.post("/_faults", json={"node": "away", "redirect": "http://127.0.0.1:9/elsewhere"})
    r = await client.post(
        "/node/away", json={"jsonrpc": "2.0", "id": 1, "method": "getSlot"}, allow_redirects=False
    )
    assert r.status == 307 and r.headers["Location"] == "http://127.0.0.1:9/elsewhere"
    await client.post("/_faults", json={"node": "echo", "echo_secrets": True})
    r = await client.post(
        "/node/echo?api-key=K3Y",
        json={"jsonrpc": "2.0", "id": 1, "method": "getSlot"},
        headers={"X-Token": "T0K"},
    )
    message = (await r.json())["error"]["message"]
    assert "K3Y" in message and "T0K" in message

    # Other nodes are untouched.
    assert (await rpc(client, "getSlot", path="/node/h"))["result"] == honest_slot
    assert await all_signatures(client, PROG) == every


# ---- chain behaviour ----------------------------------------------------------------------
def test_same_seed_same_chain_other_seed_differs() -> None:
    a, b, c = (Chain(seed=s, genesis_time=GENESIS) for s in (3, 3, 4))
    assert a.step(150) == b.step(150)
    assert a.state() == b.state()
    assert c.step(150) != a.step(150)


def test_transactions_are_the_ones_solders_signs(monkeypatch: pytest.MonkeyPatch) -> None:
    """compile_and_sign signs each required signer once (Transaction(signers, ...) derived every
    public key twice more); the bytes must be what solders' own signing makes, legacy and v0,
    one signer and two (a crank paying for the authority)."""
    from solders.message import Message, MessageV0
    from solders.transaction import Transaction, VersionedTransaction

    import devchain.chain as chain_module
    from devchain.txbuild import compile_and_sign

    seen: list[tuple[int | str, int]] = []

    def checked(top: Any, signers: Any, blockhash: Any, lookup: Any) -> Any:
        out = compile_and_sign(top, signers, blockhash, lookup)
        payer = signers[0].pubkey()
        if lookup is None:
            ref: Any = Transaction(signers, Message.new_with_blockhash(top, payer, blockhash), blockhash)
        else:
            ref = VersionedTransaction(MessageV0.try_compile(payer, top, [lookup], blockhash), signers)
        assert bytes(out.tx) == bytes(ref)
        seen.append((out.version, len(signers)))
        return out

    monkeypatch.setattr(chain_module, "compile_and_sign", checked)
    Chain(seed=3, genesis_time=GENESIS).step(400)
    assert {v for v, _ in seen} == {"legacy", 0} and {n for _, n in seen} == {1, 2}


def test_finished_matches_are_pruned_oldest_first_and_never_picked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The generator picks among the live matches only and the oldest finished ones are forgotten
    beyond the kept number, without walking every match per transaction."""
    import devchain.chain as chain_module

    monkeypatch.setattr(chain_module, "KEEP_FINISHED_MATCHES", 5)
    chain = Chain(seed=3, genesis_time=GENESIS)
    chain.step(1500)
    program = chain.program
    finished = sorted(i for i, m in program.matches.items() if m.status in ("Settled", "Cancelled"))
    assert len(finished) == 5 and finished == sorted(program.finished)
    assert program.match_count > 50  # many more were finished and forgotten, the oldest first
    assert list(program.live) == [i for i, m in program.matches.items() if i not in finished]


def test_escrow_balances_follow_events_until_drained() -> None:
    chain = make_chain(seed=11, n=600)
    seen: list[BusinessEvent] = []
    chain.add_listener(seen.append)
    chain.step(200)
    st = chain.state()
    ev = st["events"]

    def total(name: str, field: str, mint: str) -> int:
        return int(ev[name]["amounts"][field].get(mint, 0))

    for name, mint in (
        ("escrow_sol", SOL_MINT),
        ("escrow_usdc", str(USDC_MINT)),
        ("escrow_pyusd", str(PYUSD_MINT)),
    ):
        expected = (
            total("PlayerJoined", "amount", mint)
            - total("MatchRefunded", "amount", mint)
            - total("WithdrawalProcessed", "amount", mint)
            - total("MatchSettled", "fee", mint)
        )
        bal = st["balances"][name]
        assert bal["raw"] - bal["genesis_raw"] == expected, name
        # What stays in escrow is exactly the open pots plus prizes not yet withdrawn.
        assert expected == st["open_pots"].get(mint, 0) + st["unwithdrawn_prizes"].get(mint, 0)
    assert len(seen) > 0 and seen[0].signature
    assert {e.kind for e in seen} >= {"deposit", "settlement", "withdrawal", "match_created"}
    before = chain.state()["balances"]["escrow_usdc"]["raw"]
    n_events = sum(v["count"] for v in chain.state()["events"].values())
    assert chain.drain_escrow("escrow_usdc", 1_000_000) == min(1_000_000, before)
    st2 = chain.state()
    assert st2["balances"]["escrow_usdc"]["raw"] == before - min(1_000_000, before)
    assert sum(v["count"] for v in st2["events"].values()) == n_events  # no event for a drain
    # restore_escrow ends the fault: the drained amount comes back, again without an event.
    assert chain.restore_escrow("escrow_usdc") == min(1_000_000, before)
    st3 = chain.state()
    assert st3["balances"]["escrow_usdc"]["raw"] == before
    assert not st3["drained"].get("escrow_usdc")
    assert sum(v["count"] for v in st3["events"].values()) == n_events


async def test_actions_pause_spike_and_audit_gap(served: Any) -> None:
    chain, client, _ = served
    r = await client.post("/_actions", json={"action": "pause", "reason": {"Incident": {"code": 42}}})
    assert r.status == 200 and chain.state()["paused"]
    failed_before = chain.state()["transactions"]["failed"]
    chain.step(10)
    assert chain.state()["transactions"]["failed"] == failed_before + 10
    assert chain.state()["transactions"]["errors"]["ProgramPaused"] >= 10
    await client.post("/_actions", json={"action": "resume"})
    spike = await (await client.post("/_actions", json={"action": "withdrawal_spike", "count": 5})).json()
    assert spike["withdrawals"] == 5
    assert chain.state()["events"]["WithdrawalProcessed"]["count"] >= 5
    await client.post("/_actions", json={"action": "audit_gap"})
    assert chain.consume_audit_gap() and not chain.consume_audit_gap()
    bad = await client.post("/_actions", json={"action": "explode"})
    assert bad.status == 400 and "unknown action" in (await bad.json())["error"]
    # A variant name is enough; a wrong one is a 400 naming the choices, not a crash.
    r = await client.post("/_actions", json={"action": "pause", "reason": "Maintenance"})
    assert r.status == 200 and chain.state()["paused"]
    await client.post("/_actions", json={"action": "resume"})
    bad = await client.post("/_actions", json={"action": "pause", "reason": "Oops"})
    assert bad.status == 400 and "Maintenance, Incident, Manual" in (await bad.json())["error"]


def test_cli_serves_rpc_on_a_port() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "devchain.cli", "--listen", f"127.0.0.1:{port}", "--seed", "2", "--tps", "50"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/-/healthy")
        import time
        import urllib.request

        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "getHealth"}).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            assert json.load(r)["result"] == "ok"
        for _ in range(50):  # transactions appear in real time
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_state", timeout=5) as r:
                if json.load(r)["transactions"]["success"] > 0:
                    break
            time.sleep(0.1)
        else:
            pytest.fail("no transactions generated")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_history_never_holds_one_signature_twice() -> None:
    """Many transactions per slot (as the server's generator makes them): a repeated identical
    instruction must still get a new signature, as on a real validator. A duplicate made
    getSignaturesForAddress(until=...) skip the transactions between the two copies."""
    chain = Chain(seed=11)
    signatures: list[str] = []
    for _ in range(300):
        signatures += chain.step(16, advance_slot=False)
        signatures += chain.step(1)
    signatures += chain.withdrawal_spike(40)
    assert len(signatures) == len(set(signatures))


# --- CLI start-up failures: one line naming the cause, exit code, no traceback -----------------


def test_cli_ledger_db_that_is_a_directory_fails_at_start(tmp_path: Any) -> None:
    # Used to print a thread traceback (IsADirectoryError) and serve on without a ledger.
    (tmp_path / "adir").mkdir()
    out = devchain_cli("--listen", f"127.0.0.1:{free_port()}", "--ledger-db", str(tmp_path / "adir"))
    assert_fails(out, 2, f"devchain: demo ledger: {tmp_path / 'adir'} is a directory, not an SQLite file")
    assert out.stderr.count("\n") == 1


def test_cli_ledger_db_refuses_to_replace_a_file_that_is_not_sqlite(tmp_path: Any) -> None:
    victim = tmp_path / "prometheus.yml"
    victim.write_text("global: {}\n")
    out = devchain_cli("--listen", f"127.0.0.1:{free_port()}", "--ledger-db", str(victim))
    assert_fails(out, 2, f"{victim} exists and is not an SQLite database; refusing to replace it")
    assert victim.read_text() == "global: {}\n"


@pytest.mark.parametrize("tps", ["nan", "inf", "-inf", "-1"])
def test_cli_rejects_tps_that_is_not_a_finite_rate(tps: str) -> None:
    out = devchain_cli("--listen", f"127.0.0.1:{free_port()}", f"--tps={tps}")
    assert_fails(out, 2, f"argument --tps: '{tps}': must be a finite number >= 0")


def test_server_rejects_non_finite_tps() -> None:
    with pytest.raises(ValueError, match="finite"):
        DevchainServer(Chain(seed=1), tps=float("nan"))


def test_cli_port_in_use_is_one_line(tmp_path: Any) -> None:
    import socket

    ledger = tmp_path / "ledger.sqlite"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = devchain_cli("--listen", f"127.0.0.1:{port}", "--ledger-db", str(ledger))
    assert_fails(out, 1, f"devchain: cannot listen on 127.0.0.1:{port}: address already in use")
    assert out.stderr.count("\n") == 1
    assert not ledger.exists()  # bound first: a failed start leaves the books alone


def test_cli_bad_listen_address() -> None:
    assert_fails(devchain_cli("--listen", "foo"), 2, "argument --listen: expected HOST:PORT, got 'foo'")


def test_cli_serves_on_bracketed_ipv6_and_reuses_its_sqlite_ledger(tmp_path: Any) -> None:
    import socket
    import sqlite3
    import urllib.request

    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    ledger = tmp_path / "ledger.sqlite"
    sqlite3.connect(ledger).execute("CREATE TABLE old (x)").connection.commit()  # an older run's books
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "devchain.cli", "--listen", f"[::1]:{port}", "--ledger-db", str(ledger)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_http(f"http://[::1]:{port}/-/healthy")
        with urllib.request.urlopen(f"http://[::1]:{port}/_state", timeout=5) as r:
            assert r.status == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert f"devchain listening on [::1]:{port}" in err
    tables = {r[0] for r in sqlite3.connect(ledger).execute("SELECT name FROM sqlite_master")}
    assert "old" not in tables and "ledger_entries" in tables  # replaced by fresh books


async def test_health_reports_the_platform_and_its_database_for_the_keyword_probes(tmp_path: Any) -> None:
    """The simulated platform's /health (issue 17): the blackbox modules look for the exact
    keywords "status":"ok" and "database":{"status":"up"}; a stopped ledger writer is a database
    the platform cannot write: 503 and "down"."""
    from devchain.ledger import attach

    chain = Chain(seed=1)
    ledger = attach(chain, tmp_path / "ledger.sqlite")
    server = DevchainServer(chain, ledger=ledger)
    async with TestClient(TestServer(server.app(background=False))) as client:
        r = await client.get("/health")
        assert r.status == 200
        assert await r.text() == '{"status":"ok","database":{"status":"up"}}'
        ledger.close()
        r = await client.get("/health")
        assert r.status == 503
        assert await r.text() == '{"status":"degraded","database":{"status":"down"}}'
    async with TestClient(TestServer(DevchainServer(Chain(seed=1)).app(background=False))) as client:
        r = await client.get("/health")
        assert (r.status, await r.text()) == (200, '{"status":"ok"}')  # no ledger: no database to report
