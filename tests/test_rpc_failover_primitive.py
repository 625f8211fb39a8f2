"""``RpcPool.failover``: the one failover loop, used by single requests (``call``/``batch``) and by
ingestion's multi-page reads that must come wholly from one endpoint (``SignatureFeed``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from exporter.config.model import EndpointConfig, SolanaConfig
from exporter.ingest.signatures import SignatureFeed
from exporter.rpc.endpoint import Endpoint
from exporter.rpc.errors import NoHealthyEndpoint, RpcNodeError, RpcTimeout
from exporter.rpc.metrics import RpcMetrics
from exporter.rpc.pool import RpcPool
from tests.support.util import free_port


@pytest.fixture
async def pool() -> AsyncIterator[RpcPool]:
    """Two endpoints nobody listens on (the first health round finds both down), one retry round."""
    endpoints = [
        EndpointConfig(name=name, url=f"http://127.0.0.1:{free_port()}", max_retries=1) for name in ("a", "b")
    ]
    async with aiohttp.ClientSession() as session:
        yield RpcPool(SolanaConfig(endpoints=endpoints), session, RpcMetrics(CollectorRegistry()))


async def test_a_read_moves_to_the_next_endpoint_on_an_endpoint_fault(pool: RpcPool) -> None:
    tried: list[tuple[str, int]] = []

    async def read(ep: Endpoint, round_no: int) -> str:
        tried.append((ep.name, round_no))
        if ep.name == "a":
            raise RpcTimeout(ep.name, "timed out")
        return f"answer from {ep.name}"

    assert await pool.failover(read) == "answer from b"
    assert tried == [("a", 0), ("b", 0)]


async def test_an_error_about_the_request_is_raised_at_once(pool: RpcPool) -> None:
    tried: list[str] = []

    async def read(ep: Endpoint, round_no: int) -> str:
        tried.append(ep.name)
        raise RpcNodeError(ep.name, -32602, "invalid params")  # the request's fault, not the node's

    with pytest.raises(RpcNodeError):
        await pool.failover(read)
    assert tried == ["a"]


async def test_every_endpoint_once_per_round_then_no_healthy_endpoint_with_the_last_fault(
    pool: RpcPool,
) -> None:
    tried: list[tuple[str, int]] = []

    async def read(ep: Endpoint, round_no: int) -> str:
        tried.append((ep.name, round_no))
        raise RpcTimeout(ep.name, f"timed out #{len(tried)}")

    with pytest.raises(NoHealthyEndpoint) as e:
        await pool.failover(read)
    assert tried == [("a", 0), ("b", 0), ("a", 1), ("b", 1)]
    assert e.value.last is not None and "timed out #4" in str(e.value.last)


async def test_a_signature_listing_retries_wholly_on_the_next_endpoint(pool: RpcPool) -> None:
    """The feed's reads go through the same loop: a fault moves the whole read, not one page."""
    feed = SignatureFeed(pool, "8mwrTgghVYYbzsBwrr8PtzTPud3Pe2T2A7npNQCDDBZR", page_size=10)
    tried: list[str] = []

    async def read(ep: Endpoint) -> str:
        tried.append(ep.name)
        if len(tried) == 1:
            raise RpcTimeout(ep.name, "timed out")
        return ep.name

    assert await feed._on_one_endpoint(read) == "b"
    assert tried == ["a", "b"]
