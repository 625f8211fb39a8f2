"""exporter.ingest.logs_source against the devchain PubSub endpoint: decoding, failures, faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from devchain.chain import Chain
from devchain.program import IDL_PATH, PROGRAM_ID
from devchain.server import DevchainServer
from exporter.anchor import EventDecoder, load_idl
from exporter.ingest.logs_source import LogsSource, LogsSourceError, LogsTransaction

PROG = str(PROGRAM_ID)
V0 = {"commitment": "confirmed", "maxSupportedTransactionVersion": 0}


@pytest.fixture
async def served() -> Any:
    chain = Chain(seed=5, genesis_time=1_700_000_000)
    chain.step(20)
    server = DevchainServer(chain)
    client = TestClient(TestServer(server.app(background=False)))
    await client.start_server()
    yield chain, client
    await client.close()


def decoder() -> EventDecoder:
    return EventDecoder(load_idl(IDL_PATH), PROG)


def source_for(client: TestClient, node: str = "", **kw: Any) -> LogsSource:
    url = str(client.make_url(f"/node/{node}/ws" if node else "/ws"))
    return LogsSource([url], PROG, decoder(), backoff_initial=0.01, backoff_max=0.05, **kw)


async def next_tx(it: AsyncIterator[LogsTransaction], timeout: float = 10) -> LogsTransaction:
    return await asyncio.wait_for(anext(it), timeout)


async def subscribed(source: LogsSource) -> None:
    await asyncio.wait_for(source.connected.wait(), 10)


async def get_transaction(client: TestClient, sig: str) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": "getTransaction", "params": [sig, V0]}
    return (await (await client.post("/", json=body)).json())["result"]


async def test_events_and_failures_decoded_from_notification_logs(served: Any) -> None:
    chain, client = served
    source = source_for(client)
    it = source.transactions()
    first = asyncio.ensure_future(anext(it))
    await subscribed(source)
    sigs = chain.step(60)
    chain.slot += 1  # complete the last slot: confirmed notifications wait for it
    got = [await asyncio.wait_for(first, 10)] + [await next_tx(it) for _ in sigs[1:]]
    await it.aclose()
    assert [t.signature for t in got] == sigs
    failed = 0
    for t in got:
        full = decoder().decode_transaction(await get_transaction(client, t.signature))
        assert t.decoded.events == [e for e in full.events if e.source == "log"]
        assert (t.decoded.failed, t.decoded.error) == (full.failed, full.error)
        assert t.decoded.compute_units == full.compute_units and not t.needs_full_fetch
        failed += t.decoded.failed
    assert failed > 0 and any(t.decoded.events for t in got)


async def test_batches_hand_over_what_arrived_together_in_order(served: Any) -> None:
    """``batches()`` (the push counts each batch in one commit): every notification once, in order,
    several per batch once they arrived while the consumer was busy, none beyond ``max_size``;
    closing it closes the reader's connection."""
    chain, client = served
    source = source_for(client)
    batches = source.batches(max_size=25)
    first = asyncio.ensure_future(anext(batches))
    await subscribed(source)
    sigs = chain.step(60)
    chain.slot += 1  # complete the last slot: confirmed notifications wait for it
    await asyncio.sleep(0.5)  # a busy consumer: all 60 arrive meanwhile
    got = [await asyncio.wait_for(first, 10)]
    while sum(map(len, got)) < len(sigs):
        got.append(await asyncio.wait_for(anext(batches), 10))
    await batches.aclose()
    assert [t.signature for b in got for t in b] == sigs
    assert max(map(len, got)) == 25 and len(got) <= 4, [len(b) for b in got]
    await asyncio.sleep(0.2)
    state = await (await client.get("/_state")).json()
    assert state["pubsub"]["default"]["open_connections"] == 0


async def test_reconnects_after_drops_and_skips_duplicates(served: Any) -> None:
    chain, client = served
    await client.post("/_faults", json={"node": "flaky", "ws_drop_every": 3, "ws_duplicate": 0.5})
    source = source_for(client, "flaky")
    it = source.transactions()
    pending = asyncio.ensure_future(anext(it))
    received: list[str] = []
    for _ in range(200):
        if source.stats.connects >= 3 and len(received) >= 6:
            break
        await subscribed(source)
        chain.step(1)
        chain.slot += 1
        # Pacing only: a notification sent while the source reconnects is lost (the gap the
        # signatures listing fills), so a step may yield nothing.
        done, _ = await asyncio.wait({pending}, timeout=0.5)
        if done:
            received.append(pending.result().signature)
            pending = asyncio.ensure_future(anext(it))
    pending.cancel()
    await it.aclose()
    assert source.stats.connects >= 3 and source.stats.disconnects >= 2
    assert source.stats.duplicates_skipped > 0
    assert len(received) == len(set(received)) >= 6  # each transaction yielded once
    for sig in received:
        assert await get_transaction(client, sig) is not None


async def test_truncated_logs_ask_for_a_full_fetch(served: Any) -> None:
    chain, client = served
    await client.post("/_faults", json={"truncate_logs": True})
    source = source_for(client)
    it = source.transactions()
    first = asyncio.ensure_future(anext(it))
    await subscribed(source)
    chain.step(1)
    chain.slot += 1
    tx = await asyncio.wait_for(first, 10)
    await it.aclose()
    assert tx.needs_full_fetch and tx.decoded.logs_truncated


async def test_refused_subscription_and_processed_commitment_are_clear_errors(served: Any) -> None:
    _, client = served
    bad = LogsSource([str(client.make_url("/ws"))], "not-a-key", decoder())
    with pytest.raises(LogsSourceError, match="Invalid pubkey"):
        await next_tx(bad.transactions())
    with pytest.raises(ValueError, match="processed notifies transactions of forks"):
        source_for(client, commitment="processed")
