"""devchain PubSub WebSocket: real message shapes (parsed by solders), commitment, and each fault."""

from __future__ import annotations

import json
import socket
from collections import Counter
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from solders.rpc.responses import (
    LogsNotification,
    SubscriptionError,
    SubscriptionResult,
    UnsubscribeResult,
    parse_websocket_message,
)

from devchain.chain import Chain
from devchain.program import PROGRAM_ID
from devchain.server import DevchainServer

GENESIS = 1_700_000_000
PROG = str(PROGRAM_ID)
CONFIRMED_V0 = {"commitment": "confirmed", "maxSupportedTransactionVersion": 0}
WS = aiohttp.ClientWebSocketResponse


@pytest.fixture
async def served() -> Any:
    chain = Chain(seed=11, genesis_time=GENESIS)
    chain.step(20)
    server = DevchainServer(chain)
    client = TestClient(TestServer(server.app(background=False)))
    await client.start_server()
    yield chain, client, server
    await client.close()


async def rpc(client: TestClient, method: str, params: Any) -> Any:
    r = await client.post("/", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    return (await r.json())["result"]


async def subscribe(ws: WS, flt: Any = None, commitment: str | None = "processed", rid: int = 1) -> int:
    params: list[Any] = [flt if flt is not None else {"mentions": [PROG]}]
    if commitment is not None:
        params.append({"commitment": commitment})
    await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": rid, "method": "logsSubscribe", "params": params}))
    [answer] = parse_websocket_message(await ws.receive_str(timeout=10))
    assert isinstance(answer, SubscriptionResult) and answer.id == rid
    return int(answer.result)


async def notification(ws: WS) -> LogsNotification:
    [msg] = parse_websocket_message(await ws.receive_str(timeout=10))
    assert isinstance(msg, LogsNotification)
    return msg


async def until(ws: WS, signature: str) -> list[LogsNotification]:
    """Every notification up to and including the one of ``signature``."""
    out = []
    while True:
        out.append(await notification(ws))
        if str(out[-1].result.value.signature) == signature:
            return out


async def set_faults(client: TestClient, **flags: Any) -> Any:
    r = await client.post("/_faults", json=flags)
    assert r.status == 200, await r.text()
    return await r.json()


async def closed(ws: WS) -> bool:
    """Read what is left; True once the server dropped the connection."""
    while True:
        msg = await ws.receive(timeout=10)
        if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR):
            return True


async def test_notifications_match_get_transaction_including_failures(served: Any) -> None:
    chain, client, _ = served
    async with client.ws_connect("/ws") as ws:
        sub = await subscribe(ws)
        sigs = chain.step(60)
        got = await until(ws, sigs[-1])
    assert [str(n.result.value.signature) for n in got] == sigs  # every program call, in order
    failed = 0
    for n in got:
        assert n.subscription == sub
        tx = await rpc(client, "getTransaction", [str(n.result.value.signature), CONFIRMED_V0])
        assert n.result.value.logs == tx["meta"]["logMessages"]
        assert n.result.context.slot == tx["slot"]
        err = json.loads(n.to_json())["result"]["value"]["err"]
        assert err == tx["meta"]["err"]
        failed += err is not None
    assert failed > 0, "the generator's failing calls must arrive with their error"


async def test_filters_unsubscribe_and_errors(served: Any) -> None:
    chain, client, _ = served
    async with client.ws_connect("/node/alpha/ws") as ws:
        mine = await subscribe(ws, rid=1)
        every = await subscribe(ws, "all", rid=2)
        await ws.send_str(
            json.dumps({"jsonrpc": "2.0", "id": 3, "method": "logsUnsubscribe", "params": [mine]})
        )
        [answer] = parse_websocket_message(await ws.receive_str(timeout=10))
        assert isinstance(answer, UnsubscribeResult) and answer.result is True
        sigs = chain.step(5)
        got = await until(ws, sigs[-1])
        assert {n.subscription for n in got} == {every}
        bad = [
            ("logsSubscribe", [{"mentions": [PROG, PROG]}], -32602),
            ("logsSubscribe", [{"mentions": ["not-a-key"]}], -32602),
            ("logsSubscribe", [{"mentions": [PROG]}, {"commitment": "soon"}], -32602),
            ("logsUnsubscribe", [mine], -32602),
            ("slotSubscribe", [], -32601),
        ]
        for method, params, code in bad:
            await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": 9, "method": method, "params": params}))
            text = await ws.receive_str(timeout=10)
            [err] = parse_websocket_message(text)
            assert isinstance(err, SubscriptionError), (method, params)
            assert json.loads(text)["error"]["code"] == code, (method, params)


async def test_confirmed_and_finalized_wait_for_their_slot(served: Any) -> None:
    chain, client, _ = served
    async with client.ws_connect("/ws") as ws:
        processed = await subscribe(ws, rid=1)
        confirmed = await subscribe(ws, commitment="confirmed", rid=2)
        finalized = await subscribe(ws, commitment=None, rid=3)  # a real node's default: finalized
        first = chain.step(1)[0]
        assert [n.subscription for n in await until(ws, first)] == [processed]
        chain.step(32)  # one slot each: the first transaction's slot is now 32 behind
        seen = Counter()
        for n in await until(ws, chain.step(1)[0]):
            seen[n.subscription] += 1
            if n.subscription == finalized:
                assert str(n.result.value.signature) == first
                assert seen[processed] == 32  # released only once slot S+32 began
        # confirmed: slots S..S+31 complete; S+32 completes with the last one, after its processed one
        assert seen[finalized] == 1 and seen[confirmed] == 32


async def test_truncate_logs_cuts_notifications_like_get_transaction(served: Any) -> None:
    chain, client, _ = served
    await set_faults(client, truncate_logs=True)
    async with client.ws_connect("/ws") as ws:
        await subscribe(ws)
        sig = chain.step(1)[0]
        [n] = await until(ws, sig)
    tx = await rpc(client, "getTransaction", [sig, CONFIRMED_V0])
    assert n.result.value.logs[-1] == "Log truncated" == tx["meta"]["logMessages"][-1]
    assert n.result.value.logs == tx["meta"]["logMessages"]


async def test_drop_every_n_and_on_demand(served: Any) -> None:
    chain, client, _ = served
    await set_faults(client, ws_drop_every=3)
    async with client.ws_connect("/ws") as ws:
        await subscribe(ws)
        chain.step(5)
        assert len([await notification(ws) for _ in range(3)]) == 3
        assert await closed(ws)
    await set_faults(client, ws_drop_every=0)
    async with client.ws_connect("/ws") as ws:
        await subscribe(ws)
        faults = await set_faults(client, ws_drop=True)
        assert faults["default"]["ws_drop"] is False  # one-shot, not kept
        assert await closed(ws)
    state = await (await client.get("/_state")).json()
    assert state["pubsub"]["default"]["dropped"] == 2


async def test_missed_and_duplicated_notifications_per_node(served: Any) -> None:
    chain, client, _ = served
    await set_faults(client, node="alpha", ws_miss=0.5)
    await set_faults(client, node="beta", ws_duplicate=0.25)
    async with (
        client.ws_connect("/node/alpha/ws") as alpha,
        client.ws_connect("/node/beta/ws") as beta,
        client.ws_connect("/ws") as healthy,
    ):
        for ws in (alpha, beta, healthy):
            await subscribe(ws)
        sigs = chain.step(8)
        await set_faults(client, node="alpha", ws_miss=0)
        await set_faults(client, node="beta", ws_duplicate=0)
        marker = chain.step(1)[0]
        got = {
            name: [str(n.result.value.signature) for n in await until(ws, marker)]
            for name, ws in (("alpha", alpha), ("beta", beta), ("healthy", healthy))
        }
    assert got["healthy"] == [*sigs, marker]
    assert got["alpha"] == [*sigs[0::2], marker]  # every second one never sent
    counts = Counter(got["beta"])
    assert sorted(counts[s] for s in sigs) == [1] * 6 + [2] * 2 and counts[marker] == 1
    state = (await (await client.get("/_state")).json())["pubsub"]
    assert state["alpha"]["missed"] == 4 and state["beta"]["duplicated"] == 2


async def test_phantom_notifications_never_land(served: Any) -> None:
    chain, client, _ = served
    await set_faults(client, ws_phantom=0.5)
    async with client.ws_connect("/ws") as processed, client.ws_connect("/ws") as confirmed:
        await subscribe(processed)
        await subscribe(confirmed, commitment="confirmed")
        sigs = chain.step(6)
        await set_faults(client, ws_phantom=0)
        marker = chain.step(1)[0]
        chain.slot += 1  # the marker's slot completes: confirmed releases it
        got = [str(n.result.value.signature) for n in await until(processed, marker)]
        got_confirmed = [str(n.result.value.signature) for n in await until(confirmed, marker)]
    phantoms = [s for s in got if s not in sigs and s != marker]
    assert len(phantoms) == 3 and got_confirmed == [*sigs, marker]
    state = (await (await client.get("/_state")).json())["pubsub"]
    assert state["default"]["phantom_signatures"] == phantoms
    listed = {
        s["signature"]
        for s in await rpc(client, "getSignaturesForAddress", [PROG, {"commitment": "confirmed"}])
    }
    for sig in phantoms:
        assert sig not in listed
        assert await rpc(client, "getTransaction", [sig, CONFIRMED_V0]) is None


def small_receive_buffer(addr_info: Any) -> socket.socket:
    """A client socket whose kernel buffer fills after a few notifications, not megabytes."""
    sock = socket.socket(addr_info[0], addr_info[1], addr_info[2])
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


async def test_slow_consumer_is_dropped_and_a_fast_one_is_not(served: Any) -> None:
    chain, client, _ = served
    await set_faults(client, ws_queue_limit=20)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(socket_factory=small_receive_buffer))
    url = client.make_url("/ws")
    async with session, session.ws_connect(url) as fast, session.ws_connect(url) as slow:
        await subscribe(fast)
        await subscribe(slow)  # and then never reads until dropped
        pubsub = (await (await client.get("/_state")).json())["pubsub"]["default"]
        steps = 0
        while pubsub["slow_consumers_dropped"] == 0:
            assert steps < 3000, "the unread socket never backed up"
            await until(fast, chain.step(10)[-1])  # the fast client keeps up with every batch
            steps += 10
            if steps % 50 == 0:
                pubsub = (await (await client.get("/_state")).json())["pubsub"]["default"]
        assert pubsub["slow_consumers_dropped"] == 1 and pubsub["open_connections"] == 1
        assert await closed(slow)
        sig = chain.step(1)[0]
        assert [str(n.result.value.signature) for n in await until(fast, sig)] == [sig]


async def test_down_node_closes_and_refuses_sockets(served: Any) -> None:
    _, client, _ = served
    async with client.ws_connect("/node/gamma/ws") as ws:
        await subscribe(ws)
        await set_faults(client, node="gamma", down=True)
        assert await closed(ws)
    with pytest.raises(aiohttp.ClientError):
        await client.ws_connect("/node/gamma/ws")
