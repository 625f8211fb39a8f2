"""Ingestion benchmark: RPC requests and CPU per ingested transaction, batched vs naive.

The simulator runs in a subprocess with a fixed history of ``TRANSACTIONS`` transactions and an
endpoint slowed by 50 ms per request and limited to 10 requests/s (HTTP 429 beyond); the
exporter side is configured with the same 10 req/s. Two ingestions of the same history run in
this process, so ``time.process_time`` measures the exporter's work only:

* ``batched``: the real ingester (getSignaturesForAddress pages, getTransaction JSON-RPC
  batches, one state-file commit per batch);
* ``naive``: the same decoding and counting, one getTransaction request per signature and
  one commit per transaction.

``run()`` returns a dict; ``python -m bench.ingest`` prints it as JSON. About a minute.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parent.parent
TRANSACTIONS = 300
SLOW_MS = 50
RATE_LIMIT = 10

_SERVER = """
import sys
from aiohttp import web
from devchain.chain import Chain
from devchain.server import DevchainServer
chain = Chain(seed=3)
chain.step(int(sys.argv[2]))
web.run_app(DevchainServer(chain, tps=0).app(), host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(url: str, body: Any) -> Any:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def _wait(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("devchain did not start")


def _config(tmp: Path, url: str, name: str) -> Path:
    from devchain.program import IDL_PATH, PYUSD_MINT, USDC_MINT

    path = tmp / f"{name}.yml"
    path.write_text(
        f"""solana:
  endpoints:
    - {{name: bench, url: "{url}", rate_limit_rps: {RATE_LIMIT}, max_retries: 5}}
state: {{path: {tmp / (name + ".sqlite")}}}
programs:
  - name: paid_match
    idl: {IDL_PATH}
    backfill: {{mode: signatures, count: 10000000}}
    max_transactions_per_cycle: 100000
    mints: {{{USDC_MINT}: {{decimals: 6}}, {PYUSD_MINT}: {{decimals: 6}}}}
    events:
      PlayerJoined: {{amounts: [{{field: amount, mint_field: mint}}]}}
      MatchSettled: {{amounts: [{{field: prize, mint_field: mint}}, {{field: fee, mint_field: mint}}]}}
"""
    )
    return path


class _Counting:
    """Counts the HTTP requests the ingester asks for (a batch is one request)."""

    def __init__(self, pool: Any) -> None:
        self.pool, self.commitment, self.requests = pool, pool.commitment, 0

    async def call(self, method: str, params: Any) -> Any:
        self.requests += 1
        return await self.pool.call(method, params)

    async def batch(self, calls: Any) -> list[Any]:
        self.requests += 1
        return list(await self.pool.batch(calls))


async def _ingest(config_path: Path, naive: bool) -> dict[str, float]:
    from exporter.collectors.ingest import load_decoder
    from exporter.config import load_config
    from exporter.ingest.ingester import ProgramIngester
    from exporter.ingest.state import Cursor, StateStore
    from exporter.ingest.totals import TRANSACTIONS as TX
    from exporter.ingest.totals import Delta
    from exporter.rpc.metrics import RpcMetrics
    from exporter.rpc.pool import RpcPool

    config = load_config(config_path)
    program = config.programs[0]
    async with aiohttp.ClientSession() as session:
        pool = _Counting(RpcPool(config.solana, session, RpcMetrics(CollectorRegistry())))
        store = StateStore(config.state.path)
        ing = ProgramIngester(program, pool, store, load_decoder(program))  # type: ignore[arg-type]
        wall, cpu = time.perf_counter(), time.process_time()
        if not naive:
            await ing.run_cycle()
        else:
            ing.restore()
            ing._commit(Cursor(None, None, None), Delta())
            for info in await ing.feed.newer_than(Cursor(None, None, None)):
                tx = await pool.call("getTransaction", [info.signature, ing._tx_opts])
                delta = Delta()
                ing._count(tx, delta)
                ing._commit(Cursor(info.signature, info.slot, info.block_time), delta)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        store.close()
    n = ing.totals.get(TX, status="success") + ing.totals.get(TX, status="failed")
    return {
        "transactions": n,
        "rpc_requests": pool.requests,
        "rpc_requests_per_transaction": round(pool.requests / n, 4),
        "cpu_seconds_per_1000_transactions": round(cpu / n * 1000, 4),
        "wall_seconds": round(wall, 2),
    }


def run() -> dict[str, Any]:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(port), str(TRANSACTIONS)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(base + "/-/healthy")
        _post(base + "/_faults", {"node": "bench", "slow_ms": SLOW_MS, "rate_limit": RATE_LIMIT})
        with tempfile.TemporaryDirectory() as tmp:
            results = {
                mode: asyncio.run(
                    _ingest(_config(Path(tmp), f"{base}/node/bench", mode), naive=mode == "naive")
                )
                for mode in ("batched", "naive")
            }
    finally:
        server.terminate()
        server.wait(10)
    b, n = results["batched"], results["naive"]
    return {
        "setup": {"transactions": TRANSACTIONS, "slow_ms": SLOW_MS, "rate_limit_rps": RATE_LIMIT},
        **results,
        "requests_ratio_naive_over_batched": round(n["rpc_requests"] / max(1, b["rpc_requests"]), 1),
        "cpu_ratio_naive_over_batched": round(
            n["cpu_seconds_per_1000_transactions"] / max(1e-9, b["cpu_seconds_per_1000_transactions"]), 2
        ),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
