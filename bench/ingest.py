"""Ingestion benchmark: billed RPC calls and CPU per ingested transaction, batched vs naive.

Metering is per call, as RPC providers bill: the simulator runs in a subprocess with a fixed
history of ``TRANSACTIONS`` transactions and an endpoint slowed by 50 ms per request and limited
to 10 calls/s, a JSON-RPC batch of N calls costing N (its ``rate_limit_per_item`` fault; HTTP 429
beyond); the exporter meters the same way (``rate_limit_per_batch_item: true``, its default).
Batching therefore saves round trips and commits, not billed calls. (Earlier results counted a
batch as one request - a provider metering HTTP requests - which made batched ingestion look
50x cheaper than any provider bills it; the HTTP-request figure is still reported, labelled so.)
Two ingestions of the same history run in this process, so ``time.process_time`` measures the
exporter's work only:

* ``batched``: the real ingester (getSignaturesForAddress pages, getTransaction JSON-RPC
  batches, one state-file commit per batch);
* ``naive``: the same decoding and counting, one getTransaction request per signature and
  one commit per transaction.

Then the rate sweep (``sweep``): a second simulator, empty at first, produces transactions
live at rising rates (``SWEEP_RATES``) behind the same 50 ms / 10 calls/s endpoint. For each rate,
each side starts fresh at "now", ingests every ``SWEEP_INTERVAL`` s for ``STEP_SECONDS`` s, and
the backlog (transactions produced minus ingested) is sampled four times a second. The lag is
bounded when, after the warm-up, the backlog grows by less than ``BOUNDED_GROWTH`` of the
offered rate, or by at most one transaction (the floor of the saw-tooth, see ``_floor_growth``;
at a few tx/s under per-call metering one transaction is already 5%). Each side stops at
its first unbounded rate; the figure is the highest bounded one.

``run()`` returns ``{"rows": [...], ...raw}`` (see ``bench.run``); ``python -m bench.ingest``
prints it as JSON. About three minutes; ``run(smoke=True)`` (the make-test smoke run) ingests a
tiny history and sweeps one short step.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parent.parent
TRANSACTIONS = 200
SLOW_MS = 50
RATE_LIMIT = 10
#: How the simulated provider and the exporter meter, stated on every row.
METERING = (
    f"{RATE_LIMIT} calls/s metered per call: a JSON-RPC batch of N calls bills N, as providers bill "
    "(simulator rate_limit_per_item, exporter rate_limit_per_batch_item: true, its default)"
)
BATCH_SIZE = 50  # the exporter's default batch_size

# The sweep: offered rates (tx/s), seconds per step, the first seconds not judged (the first
# cycle, the first batches), the backlog sampling period and the ingestion interval.
SWEEP_RATES = (5, 8, 10, 25, 50, 100, 200, 400)
STEP_SECONDS = 15.0
WARMUP_SECONDS = 3.0
SAMPLE_SECONDS = 0.25
SWEEP_INTERVAL = 1.0
#: Bounded: the backlog grows by less than this fraction of the offered rate.
BOUNDED_GROWTH = 0.05
#: ... or the floor rises by at most this many transactions (the backlog counts whole ones).
QUANTUM = 1
#: Below this fraction of the asked rate the simulator itself is the limit, not the ingester.
SIMULATOR_SHORTFALL = 0.9

NAIVE = "naive: one getTransaction per signature, one commit per transaction"


@dataclass(frozen=True)
class Setup:
    transactions: int = TRANSACTIONS
    rates: tuple[float, ...] = SWEEP_RATES
    step_seconds: float = STEP_SECONDS
    warmup_seconds: float = WARMUP_SECONDS


#: run(smoke=True): every code path once, in seconds; the figures mean nothing.
SMOKE = Setup(transactions=12, rates=(5,), step_seconds=3.0, warmup_seconds=1.0)

# argv: port, transactions of history made up front; POST /_bench/tps {"tps": N} sets the live rate.
_SERVER = """
import sys
from aiohttp import web
from devchain.chain import Chain
from devchain.server import DevchainServer
chain = Chain(seed=3)
if int(sys.argv[2]):
    chain.step(int(sys.argv[2]))
server = DevchainServer(chain, tps=0)
app = server.app()
async def set_tps(request):
    server.tps = float((await request.json())["tps"])
    return web.json_response({"tps": server.tps})
app.router.add_post("/_bench/tps", set_tps)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
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


@contextlib.contextmanager
def simulator_process(server_source: str, arg: str) -> Iterator[str]:
    """A devchain subprocess running ``server_source`` (given its port and ``arg``), its ``bench``
    node slowed and metered per call; yields the node's base URL."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-c", server_source, str(port), arg],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(base + "/-/healthy")
        faults = {"slow_ms": SLOW_MS, "rate_limit": RATE_LIMIT, "rate_limit_per_item": True}
        _post(base + "/_faults", {"node": "bench", **faults})
        yield base
    finally:
        server.terminate()
        server.wait(10)


def _simulator(history: int) -> contextlib.AbstractContextManager[str]:
    """A devchain subprocess with ``history`` transactions; yields the base URL of its bench node."""
    return simulator_process(_SERVER, str(history))


def _config(tmp: Path, url: str, name: str, backfill: str = "{mode: signatures, count: 10000000}") -> Path:
    from devchain.program import IDL_PATH, PYUSD_MINT, USDC_MINT

    path = tmp / f"{name}.yml"
    path.write_text(
        f"""solana:
  endpoints:
    - {{name: bench, url: "{url}", rate_limit_rps: {RATE_LIMIT}, rate_limit_per_batch_item: true,
       max_retries: 5}}
state: {{path: {tmp / (name + ".sqlite")}}}
programs:
  - name: paid_match
    idl: {IDL_PATH}
    backfill: {backfill}
    max_transactions_per_cycle: 100000
    batch_size: {BATCH_SIZE}
    mints: {{{USDC_MINT}: {{decimals: 6}}, {PYUSD_MINT}: {{decimals: 6}}}}
    events:
      PlayerJoined: {{amounts: [{{field: amount, mint_field: mint}}]}}
      MatchSettled: {{amounts: [{{field: prize, mint_field: mint}}, {{field: fee, mint_field: mint}}]}}
"""
    )
    return path


class _Counting:
    """Counts what the ingester asks for: HTTP ``requests`` (a batch is one) and billed ``calls``
    (a batch of N is N, as providers bill)."""

    def __init__(self, pool: Any) -> None:
        self.pool, self.commitment, self.requests, self.calls = pool, pool.commitment, 0, 0
        self.registry: CollectorRegistry | None = None  # the pool's metrics

    def rate_limited(self) -> int:
        """Calls the provider refused with 429 (retried by the pool; not billed, not in ``calls``)."""
        assert self.registry is not None
        value = 0.0
        for metric in self.registry.collect():
            for sample in metric.samples:
                if (
                    sample.name == "escrow_rpc_requests_total"
                    and sample.labels.get("outcome") == "rate_limited"
                ):
                    value += sample.value
        return int(value)

    def _count(self, calls: int) -> None:
        self.requests += 1
        self.calls += calls

    async def call(self, method: str, params: Any) -> Any:
        self._count(1)
        return await self.pool.call(method, params)

    async def batch(self, calls: Any) -> list[Any]:
        calls = list(calls)
        self._count(len(calls))
        return list(await self.pool.batch(calls))

    async def call_on(self, endpoint: Any, method: str, params: Any) -> Any:
        self._count(1)
        return await self.pool.call_on(endpoint, method, params)

    async def batch_from(self, calls: Any) -> tuple[Any, list[Any]]:
        calls = list(calls)
        self._count(len(calls))
        return await self.pool.batch_from(calls)  # type: ignore[no-any-return]

    async def batch_on(self, endpoint: Any, calls: Any) -> list[Any]:
        calls = list(calls)
        self._count(len(calls))
        return list(await self.pool.batch_on(endpoint, calls))

    def __getattr__(self, name: str) -> Any:  # endpoints, current(), max_retries: as the pool's
        return getattr(self.pool, name)


@contextlib.asynccontextmanager
async def _ingester(config_path: Path) -> Any:
    """Yields ``(ProgramIngester, counting pool)`` for the config's only program."""
    from exporter.collectors.program import load_program
    from exporter.config import load_config
    from exporter.ingest.ingester import ProgramIngester
    from exporter.ingest.state import StateStore
    from exporter.rpc.metrics import RpcMetrics
    from exporter.rpc.pool import RpcPool

    config = load_config(config_path)
    program = config.programs[0]
    assert config.solana is not None, f"{config_path}: the bench config has a solana section"
    async with aiohttp.ClientSession() as session:
        registry = CollectorRegistry()
        pool = _Counting(RpcPool(config.solana, session, RpcMetrics(registry)))
        pool.registry = registry
        store = StateStore(config.state.path)
        try:
            yield ProgramIngester(program, pool, store, load_program(program).decoder), pool  # type: ignore[arg-type]
        finally:
            store.close()


async def _naive_cycle(ing: Any, pool: _Counting) -> None:
    """The baseline: the same decoding and counting, one request and one commit per transaction."""
    from exporter.ingest.state import Cursor
    from exporter.ingest.totals import Delta
    from exporter.ingest.transactions import is_transaction

    for info in await ing.feed.newer_than(ing.cursor):
        tx = await pool.call("getTransaction", [info.signature, ing._tx_opts])
        if not is_transaction(tx, info.signature):
            return  # not served yet: next cycle, as the real ingester does
        delta = Delta()
        ing._count(tx, delta)
        ing._commit(Cursor(info.signature, info.slot, info.block_time), delta)


def ingested(ing: Any) -> int:
    from exporter.ingest.totals import TRANSACTIONS as TX

    return int(ing.totals.get(TX, status="success") + ing.totals.get(TX, status="failed"))


async def _ingest(config_path: Path, naive: bool) -> dict[str, float]:
    from exporter.ingest.state import Cursor
    from exporter.ingest.totals import Delta

    async with _ingester(config_path) as (ing, pool):
        wall, cpu = time.perf_counter(), time.process_time()
        if not naive:
            await ing.run_cycle()
        else:
            ing.restore()
            ing._commit(Cursor(None, None, None), Delta())
            await _naive_cycle(ing, pool)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        n = ingested(ing)
    return {
        "transactions": n,
        "rpc_calls": pool.calls,
        "rpc_calls_per_transaction": round(pool.calls / n, 4),
        "rpc_requests": pool.requests,
        "rpc_requests_per_transaction": round(pool.requests / n, 4),
        "rate_limited_calls": pool.rate_limited(),
        "cpu_seconds_per_1000_transactions": round(cpu / n * 1000, 4),
        "wall_seconds": round(wall, 2),
    }


# -- the rate sweep -----------------------------------------------------------------------------


def _floor_growth(samples: list[tuple[float, float]]) -> tuple[float, float]:
    """Growth of the backlog's floor: its minimum in the last third minus the first, in
    transactions and per second.

    The backlog saw-tooths (up between cycles, down when one commits); the minima are the
    backlog right after a cycle, which stays flat for a side that keeps up and rises for one
    that does not. A least-squares slope through the saw-tooth is too noisy in 15 s.
    """
    t0, t1 = samples[0][0], samples[-1][0]
    third = (t1 - t0) / 3
    first = min(b for t, b in samples if t <= t0 + third)
    last = min(b for t, b in samples if t >= t1 - third)
    return last - first, (last - first) / max(t1 - t0 - third, 1e-9)


async def _produced(session: aiohttp.ClientSession, base: str) -> int:
    async with session.get(base + "/_state") as r:
        tx = (await r.json())["transactions"]
    return int(tx["success"] + tx["failed"])


async def _set_tps(session: aiohttp.ClientSession, base: str, tps: float) -> None:
    async with session.post(base + "/_bench/tps", json={"tps": tps}) as r:
        r.raise_for_status()


async def _sweep_step(base: str, config_path: Path, naive: bool, rate: float, setup: Setup) -> dict[str, Any]:
    """One side at one offered rate, from a fresh start at "now"; the backlog over time."""
    from exporter.collectors.base import CollectorError
    from exporter.ingest.totals import Delta

    async with _ingester(config_path) as (ing, pool), aiohttp.ClientSession() as control:
        ing.restore()
        ing._commit(await ing.feed.start_cursor("now", 0), Delta())
        failed_cycles = 0

        async def ingest_forever() -> None:
            nonlocal failed_cycles
            while True:
                started = time.monotonic()
                try:
                    await (_naive_cycle(ing, pool) if naive else ing.run_cycle())
                except CollectorError:  # e.g. retries exhausted on 429s: the next cycle resumes
                    failed_cycles += 1
                await asyncio.sleep(max(0.0, SWEEP_INTERVAL - (time.monotonic() - started)))

        produced0, ingested0 = await _produced(control, base), ingested(ing)
        await _set_tps(control, base, rate)
        t0 = time.monotonic()
        task = asyncio.create_task(ingest_forever())
        samples: list[tuple[float, float]] = []
        try:
            while (elapsed := time.monotonic() - t0) < setup.step_seconds:
                await asyncio.sleep(SAMPLE_SECONDS)
                produced = await _produced(control, base) - produced0
                samples.append((time.monotonic() - t0, produced - (ingested(ing) - ingested0)))
        finally:
            await _set_tps(control, base, 0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        elapsed = time.monotonic() - t0
        produced = await _produced(control, base) - produced0
    judged = [(t, b) for t, b in samples if t >= setup.warmup_seconds]
    offered = produced / elapsed
    rise, per_second = _floor_growth(judged)
    growth = per_second / max(offered, 1e-9)
    return {
        "asked_tps": rate,
        "offered_tps": round(offered, 1),
        "ingested_tps": round((ingested(ing) - ingested0) / elapsed, 1),
        "backlog_growth_per_offered": round(growth, 3),
        "backlog_max": max(b for _, b in samples),
        "backlog_end": samples[-1][1],
        "failed_cycles": failed_cycles,
        # one transaction is the saw-tooth's quantum: at a few tx/s it alone exceeds 5%
        "bounded": growth < BOUNDED_GROWTH or rise <= QUANTUM,
        "simulator_limited": offered < SIMULATOR_SHORTFALL * rate,
    }


async def _sweep_side(base: str, tmp: Path, naive: bool, setup: Setup) -> dict[str, Any]:
    side = "naive" if naive else "batched"
    steps: list[dict[str, Any]] = []
    for rate in setup.rates:
        path = _config(tmp, f"{base}/node/bench", f"sweep-{side}-{rate}", backfill="{mode: now}")
        step = await _sweep_step(base, path, naive, rate, setup)
        print(f"bench ingest sweep {side} {rate} tx/s: {step}", file=sys.stderr, flush=True)
        steps.append(step)
        if not step["bounded"] or step["simulator_limited"]:
            break
    bounded = [s for s in steps if s["bounded"]]
    last = steps[-1]
    return {
        "highest_bounded_tps": bounded[-1]["asked_tps"] if bounded else None,
        # the sweep ran out of rates, or the simulator could not produce faster: a lower bound
        "lower_bound_only": last["bounded"],
        "steps": steps,
    }


def _sweep(setup: Setup) -> dict[str, Any]:
    with _simulator(history=0) as base, tempfile.TemporaryDirectory() as tmp:
        return {
            side: asyncio.run(_sweep_side(base, Path(tmp), naive=side == "naive", setup=setup))
            for side in ("batched", "naive")
        }


# -- the table ----------------------------------------------------------------------------------


def _sweep_note(sweep: dict[str, Any], setup: Setup) -> str:
    parts = []
    for side, r in sweep.items():
        steps = ", ".join(
            f"{s['asked_tps']:g}: {'bounded' if s['bounded'] else 'grows'} "
            f"(offered {s['offered_tps']:g}, ingested {s['ingested_tps']:g}/s)"
            for s in r["steps"]
        )
        bound = " (a lower bound: " + (
            "the simulator could not produce faster)"
            if r["steps"][-1]["simulator_limited"]
            else "the sweep's top rate)"
        )
        parts.append(f"{side}: {steps}" + (bound if r["lower_bound_only"] else ""))
    return (
        f"{METERING}; offered rates {', '.join(f'{r:g}' for r in setup.rates)} tx/s, "
        f"{setup.step_seconds:g} s each, {SLOW_MS} ms RPC latency, a cycle every {SWEEP_INTERVAL:g} s; "
        f"bounded = the backlog's floor grows < {BOUNDED_GROWTH:.0%} of the offered rate (or by at "
        f"most {QUANTUM} transaction) after {setup.warmup_seconds:g} s. Ceiling by design for both: one getTransaction call per "
        f"transaction, so about {RATE_LIMIT} tx/s less the listing calls; a provider metering HTTP "
        f"requests instead (a batch = one) would allow batched ~ limit x batch_size = "
        f"{RATE_LIMIT * BATCH_SIZE} tx/s - the basis of the 400 tx/s in earlier results, not how "
        "providers bill. " + "; ".join(parts)
    )


def _rows(results: dict[str, Any], setup: Setup) -> list[dict[str, Any]]:
    b, n, sweep = results["batched"], results["naive"], results["sweep"]
    where = f"{setup.transactions} transactions of history, {SLOW_MS} ms RPC latency, {METERING}"
    rows = [
        {
            "figure": "highest rate with bounded ingest lag, per-call metering",
            "unit": "tx/s",
            "ours": sweep["batched"]["highest_bounded_tps"],
            "baseline": sweep["naive"]["highest_bounded_tps"],
            "baseline_name": NAIVE,
            "better": "higher",
            "note": _sweep_note(sweep, setup),
        }
    ]
    figures = [
        (
            "rpc_calls_per_transaction",
            "billed RPC calls per ingested transaction",
            "calls",
            f"{where}; calls refused with 429 and retried (not billed, not counted here): "
            f"batched {b['rate_limited_calls']}, naive {n['rate_limited_calls']}",
        ),
        (
            "rpc_requests_per_transaction",
            "HTTP requests per ingested transaction (a batch = one; not what providers bill)",
            "requests",
            "round trips, not billing: a provider metering per call bills the row above",
        ),
        ("cpu_seconds_per_1000_transactions", "CPU seconds per 1,000 transactions", "s", ""),
        ("wall_seconds", "wall seconds to ingest the history, per-call metering", "s", ""),
    ]
    rows += [
        {
            "figure": f,
            "unit": u,
            "ours": b[k],
            "baseline": n[k],
            "baseline_name": NAIVE,
            "better": "lower",
            "note": w,
        }
        for k, f, u, w in figures
    ]
    return rows


def run(smoke: bool = False) -> dict[str, Any]:
    setup = SMOKE if smoke else Setup()
    with _simulator(history=setup.transactions) as base, tempfile.TemporaryDirectory() as tmp:
        results: dict[str, Any] = {
            mode: asyncio.run(_ingest(_config(Path(tmp), f"{base}/node/bench", mode), naive=mode == "naive"))
            for mode in ("batched", "naive")
        }
    results["sweep"] = _sweep(setup)
    b, n = results["batched"], results["naive"]
    return {
        "rows": _rows(results, setup),
        "setup": {
            "transactions": setup.transactions,
            "slow_ms": SLOW_MS,
            "rate_limit_rps": RATE_LIMIT,
            "metering": "per_call",
            "batch_size": BATCH_SIZE,
        },
        **results,
        "calls_ratio_naive_over_batched": round(n["rpc_calls"] / max(1, b["rpc_calls"]), 2),
        "requests_ratio_naive_over_batched": round(n["rpc_requests"] / max(1, b["rpc_requests"]), 1),
        "cpu_ratio_naive_over_batched": round(
            n["cpu_seconds_per_1000_transactions"] / max(1e-9, b["cpu_seconds_per_1000_transactions"]), 2
        ),
    }


if __name__ == "__main__":
    print(json.dumps(run(smoke="--smoke" in sys.argv), indent=2))
