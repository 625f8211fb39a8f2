"""Helpers for the ingestion tests: an in-thread simulator, configs, truth checks, and in-process
ingestion cycles with their scrape.

The simulator runs in a thread of the test process (not a subprocess) so a test can stop its
transaction generator (``stop_generator``) and then compare totals with a ground truth that no
longer moves.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from devchain.chain import Chain
from devchain.program import IDL_PATH, MINT_DECIMALS, NATIVE_MINT, PYUSD_MINT, USDC_MINT
from devchain.server import DevchainServer
from exporter.collectors.base import Collector
from exporter.collectors.ingest import IngestCollector, build_program_collectors
from exporter.config import load_config
from exporter.rpc.metrics import RpcMetrics
from exporter.rpc.pool import RpcPool
from exporter.solana import LAMPORTS_PER_SOL
from tests.support.devchain_proc import DevchainClient
from tests.support.util import free_port

PROGRAM = "paid_match"
SOL = str(NATIVE_MINT)


class ThreadDevchain(DevchainClient):
    def __init__(self, seed: int = 1, tps: float = 30.0, chain: Chain | None = None) -> None:
        """``chain``: one built (and given a history) by the test; else a new one at ``seed``."""
        self.chain = Chain(seed=seed) if chain is None else chain
        self.server = DevchainServer(self.chain, tps=tps)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        started = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self.thread.start()
        if not started.wait(20):
            raise RuntimeError("devchain thread did not start")

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            self._runner = web.AppRunner(self.server.app())
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

        self.loop.run_until_complete(start())
        started.set()
        self.loop.run_forever()

    def stop_generator(self) -> dict[str, Any]:
        """Stop producing transactions; return the (now fixed) ground truth."""
        self.loop.call_soon_threadsafe(setattr, self.server, "tps", 0.0)
        # One more generator tick may be in flight: wait until two reads agree.
        import time

        last = self.state()
        while True:
            time.sleep(0.3)
            now = self.state()
            if now["transactions"] == last["transactions"]:
                return now
            last = now

    def close(self) -> None:
        async def stop() -> None:
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def program_yaml(
    *,
    interval: float = 0.3,
    batch_size: int = 50,
    page_size: int = 1000,
    label_cap: int = 20,
    backfill: str = "{mode: signatures, count: 10000000}",
    accounts: bool = True,
) -> str:
    """The ``programs:`` section mapping every amount the simulator's ground truth reports."""
    text = f"""\
programs:
  - name: {PROGRAM}
    idl: {IDL_PATH}
    interval_seconds: {interval}
    batch_size: {batch_size}
    signatures_page_size: {page_size}
    max_label_values: {label_cap}
    backfill: {backfill}
    mints:
      {USDC_MINT}: {{decimals: 6}}
      {PYUSD_MINT}: {{decimals: 6}}
    events:
      MatchCreated:
        amounts: [{{field: entry_fee, mint_field: mint}}]
        labels: [paid]
      PlayerJoined:
        amounts: [{{field: amount, mint_field: mint}}]
      MatchSettled:
        amounts: [{{field: prize, mint_field: mint}}, {{field: fee, mint_field: mint}}]
      MatchRefunded:
        amounts: [{{field: amount, mint_field: mint}}]
      WithdrawalProcessed:
        amounts: [{{field: amount, mint_field: mint}}]
      FeesSwept:                            # the operator's planned fee sweeps
        amounts: [{{field: amount, mint_field: mint}}]
      ProgramPaused:
        labels: [reason]
"""
    if accounts:
        text += f"""\
    accounts:
      interval_seconds: {interval}
      types:
        - account: Match
          count_by: status
          sums: [{{field: pot, mint_field: mint}}]
        - account: PlatformConfig
          flags: [paused]
"""
    return text


def write_config(
    path: Path, endpoints: list[tuple[str, str]], state: Path, programs: str, solana_extra: str = ""
) -> Path:
    eps = "".join(
        f"    - name: {name}\n      url: {url}\n      rate_limit_rps: 2000\n      timeout_seconds: 3\n"
        f"      max_retries: 2\n"
        for name, url in endpoints
    )
    path.write_text(f"solana:\n  endpoints:\n{eps}{solana_extra}state:\n  path: {state}\n{programs}")
    return path


def mint_label(mint: str) -> str:
    return "SOL" if mint == SOL else mint


def expected_totals(truth: dict[str, Any]) -> dict[str, float]:
    """Ground truth as flat keys, in the units /metrics uses."""
    out: dict[str, float] = {}
    for name, ev in truth["events"].items():
        out[f"events/{name}"] = ev["count"]
        for field, by_mint in ev["amounts"].items():
            for mint, raw in by_mint.items():
                out[f"amount/{name}/{field}/{mint_label(mint)}"] = raw / 10 ** MINT_DECIMALS[mint]
    out["tx/success"] = truth["transactions"]["success"]
    out["tx/failed"] = truth["transactions"]["failed"]
    for err, n in truth["transactions"]["errors"].items():
        out[f"error/{err}"] = n
    for ix, n in truth["transactions"]["failed_by_instruction"].items():
        out[f"failed_ix/{ix}"] = n
    out["fees"] = truth["fees_lamports"] / LAMPORTS_PER_SOL
    return out


def parse_metrics(text: str) -> list[tuple[str, dict[str, str], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    return [
        (s.name, dict(s.labels), s.value) for fam in text_string_to_metric_families(text) for s in fam.samples
    ]


def observed_totals(text: str, program: str = PROGRAM) -> dict[str, float]:
    """The same keys as ``expected_totals``, summed from a /metrics page."""
    out: dict[str, float] = {}

    def add(key: str, v: float) -> None:
        out[key] = out.get(key, 0.0) + v

    for name, labels, value in parse_metrics(text):
        if labels.get("program") != program:
            continue
        if name == "escrow_events_total":
            add(f"events/{labels['event']}", value)
        elif name == "escrow_event_amount_total":
            add(f"amount/{labels['event']}/{labels['field']}/{labels['mint']}", value)
        elif name == "escrow_transactions_total":
            add(f"tx/{labels['status']}", value)
        elif name == "escrow_transaction_errors_total":
            add(f"error/{labels['error']}", value)
        elif name == "escrow_transaction_failures_total":
            add(f"failed_ix/{labels['instruction']}", value)
        elif name == "escrow_transaction_fees_sol_total":
            add("fees", value)
    return out


def observed_windows(text: str, window: str, program: str = PROGRAM) -> dict[str, float]:
    """The ``events/`` and ``amount/`` keys of ``expected_totals``, from the block-time window
    gauges (``escrow_events_block_time_window``...) of ``window``."""
    out: dict[str, float] = {}
    for name, labels, value in parse_metrics(text):
        if labels.get("program") != program or labels.get("window") != window:
            continue
        if name == "escrow_events_block_time_window":
            key = f"events/{labels['event']}"
        elif name == "escrow_event_amount_block_time_window":
            key = f"amount/{labels['event']}/{labels['field']}/{labels['mint']}"
        else:
            continue
        out[key] = out.get(key, 0.0) + value
    return out


def diff_totals(expected: dict[str, float], observed: dict[str, float]) -> list[str]:
    """Human-readable differences; amounts compared to 1e-9 relative (float rendering)."""
    problems = []
    for key in sorted(set(expected) | set(observed)):
        e, o = expected.get(key, 0.0), observed.get(key, 0.0)
        if abs(e - o) > 1e-9 * max(1.0, abs(e)):
            problems.append(f"{key}: expected {e}, got {o}")
    return problems


def start_exporter(config: Path, log: Path) -> Any:
    """An ``escrow-exporter run`` subprocess (tests.support.exporter_proc.ExporterProcess)."""
    from tests.support.exporter_proc import ExporterProcess

    return ExporterProcess(config, log=log)


def scrape(collectors: list[Collector]) -> str:
    """The text exposition of each collector, one registry each, concatenated."""
    text = ""
    for c in collectors:
        reg = CollectorRegistry()
        reg.register(_One(c))
        text += generate_latest(reg).decode()
    return text


class _One:
    def __init__(self, c: Collector) -> None:
        self.c = c

    def collect(self) -> Any:
        return self.c.collect()


async def ingest(config_path: Path, cycles: int = 1, wrap: Any = None) -> tuple[list[Collector], str]:
    """Run ``cycles`` ingestion cycles of every program of the config in-process (the pool
    wrapped by ``wrap`` when given); returns the collectors and their scrape."""
    config = load_config(config_path)
    assert config.solana is not None, f"{config_path}: ingestion needs a solana section"
    async with aiohttp.ClientSession() as session:
        pool: Any = RpcPool(config.solana, session, RpcMetrics(CollectorRegistry()))
        if wrap is not None:
            pool = wrap(pool)
        collectors: list[Collector] = [
            c for c in build_program_collectors(config, pool) if isinstance(c, IngestCollector)
        ]
        for _ in range(cycles):
            for c in collectors:
                await c.run_cycle()
        for c in collectors:
            await c.close()
    return collectors, scrape(collectors)
