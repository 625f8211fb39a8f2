"""Scrape cost at 10k and 100k series: ``/metrics`` latency, ``/-/healthy`` p99 while Prometheus
scrapes back to back, and peak RSS.

The series come from a real SQL query (a SQLite table of N rows, ``{account,mint}`` labels), the
exporter's collector with most series. Measured in one run:

* ours: the exporter's scheduler and HTTP routes in a child process, the query re-run every
  ``INTERVAL`` seconds; ``/metrics`` serves the snapshot rendered after each run
  (``exporter.snapshot``);
* on-loop: the same child with every collector rendered on the event loop at each scrape
  (what the exporter did before snapshots; ``Scheduler(bridge=True)``);
* baseline: prometheus_client's ``start_http_server`` and ``generate_latest`` called in-process
  (the floor: no HTTP at all) on a registry of the same shape.

``/-/healthy`` p99: one client scrapes ``/metrics`` (gzip, as Prometheus) back to back for
``WINDOW`` seconds while another asks ``/-/healthy`` one request after the other.

    python -m bench.scrape                 # both sizes, JSON
    python -m bench.scrape --series 10000  # one size, in this process
    python -m bench.scrape --series 200 --window 1 --repeats 1   # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, ProcessCollector, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.collectors.sql import build_sql_collectors
from exporter.config.model import Config
from exporter.http import add_routes
from exporter.keys import REGISTRY, SCHEDULER
from exporter.scheduler import Scheduler
from tests.support.util import free_port

SIZES = (10_000, 100_000)
MINTS = (
    "SOL",
    "EfAauwwULLSsK9D8DWm6WbqZL1r3y8jQ2Ei6YE2afaZS",
    "FE3z5sZn5SD9p6NoMKPfyPGMAMJWycKjNchfBgxdqfKR",
)
INTERVAL = 5.0
WINDOW = 10.0
METRIC = "escrow_bench_balance"


def rows(series: int) -> list[tuple[str, str, float]]:
    return [(f"acct_{i:06d}", MINTS[i % len(MINTS)], i * 1.5) for i in range(series)]


class InMemory(Collector):
    """The baseline: the same series as one family, built at scrape time."""

    def __init__(self, series: int) -> None:
        self.rows = rows(series)

    def collect(self) -> Iterable[Metric]:
        fam = GaugeMetricFamily(METRIC, "Bench series.", labels=["account", "mint"])
        for account, mint, value in self.rows:
            fam.add_metric([account, mint], value)
        yield fam


def make_db(path: Path, series: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE balances (account TEXT, mint TEXT, value REAL)")
    conn.executemany("INSERT INTO balances VALUES (?, ?, ?)", rows(series))
    conn.commit()
    conn.close()


def sql_config(db: Path, series: int) -> Config:
    query = {
        "name": "bench",
        "database": "bench",
        "sql": "SELECT account, mint, value FROM balances",
        "interval_seconds": INTERVAL,
        "max_series": series,
        "timeout_seconds": 60,
        "metrics": [{"name": METRIC, "help": "Bench series.", "label_columns": ["account", "mint"]}],
    }
    return Config.model_validate(
        {
            "solana": {"endpoints": [{"name": "local", "url": "http://127.0.0.1:1"}]},
            "sql": {
                "databases": [{"name": "bench", "driver": "sqlite", "path": str(db)}],
                "queries": [query],
            },
        }
    )


async def serve(db: Path, series: int, port: int, on_loop: bool) -> None:
    """The child: the exporter's scheduler and routes over the SQL collector; 'ready' on stdout."""
    registry = CollectorRegistry()
    Gauge(
        "escrow_exporter_build_info", "Build information; always 1.", ["version"], registry=registry
    ).labels("bench").set(1)
    ProcessCollector(registry=registry)
    collectors = build_sql_collectors(sql_config(db, series))
    scheduler = Scheduler(collectors, registry, bridge=on_loop)
    app = web.Application()
    app[REGISTRY], app[SCHEDULER] = registry, scheduler
    add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    tasks = scheduler.start()
    await scheduler.wait_ready()
    render = 0.0
    if not on_loop:
        started = time.perf_counter()
        for c in collectors:  # the first render, timed: what each query run costs the worker thread
            scheduler.snapshots.invalidate(c)
            await scheduler.snapshots.refresh(c)
        render = time.perf_counter() - started
    print(json.dumps({"ready": True, "render_seconds": render}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # until the parent is done
    for t in tasks:
        t.cancel()
    print(json.dumps({"peak_rss_mib": peak_rss_mib()}), flush=True)


class Child:
    def __init__(self, db: Path, series: int, on_loop: bool) -> None:
        self.port = free_port()
        args = ["--child", str(db), "--series", str(series), "--port", str(self.port)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.scrape", *args, *(["--on-loop"] if on_loop else [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("bench child failed to start")
        self.render_seconds = float(json.loads(line)["render_seconds"])
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> float:
        out, _ = self.proc.communicate("\n", timeout=60)
        return float(json.loads(out.splitlines()[-1])["peak_rss_mib"])


def _get(url: str, gzip: bool) -> tuple[float, int]:
    headers = {"Accept": "text/plain", **({"Accept-Encoding": "gzip"} if gzip else {})}
    start = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=120) as r:
        size = len(r.read())
    return time.perf_counter() - start, size


def _timed(fn: Any, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def healthy_under_scrapes(base: str, window: float) -> dict[str, float]:
    """``/-/healthy`` latency (p99, max) while another client scrapes ``/metrics`` back to back."""
    stop = threading.Event()
    scrapes = [0]

    def scraper() -> None:
        while not stop.is_set():
            _get(base + "/metrics", gzip=True)
            scrapes[0] += 1

    t = threading.Thread(target=scraper, daemon=True)
    t.start()
    latencies = []
    end = time.monotonic() + window
    while time.monotonic() < end:
        latencies.append(_get(base + "/-/healthy", gzip=False)[0])
    stop.set()
    t.join()
    latencies.sort()
    return {
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "max": latencies[-1],
        "requests": float(len(latencies)),
        "scrapes": float(scrapes[0]),
    }


def measure(series: int, repeats: int, window: float) -> dict[str, Any]:
    registry = CollectorRegistry()
    registry.register(InMemory(series))
    base_port = free_port()
    baseline_server, _ = start_http_server(base_port, addr="127.0.0.1", registry=registry)
    base_url = f"http://127.0.0.1:{base_port}/metrics"
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite"
        make_db(db, series)
        ours = Child(db, series, on_loop=False)
        try:
            url = ours.url + "/metrics"
            out: dict[str, Any] = {
                "series": series,
                "body_bytes": len(generate_latest(registry)),
                "ours_http_seconds": _timed(lambda: _get(url, gzip=False), repeats),
                "ours_http_gzip_seconds": _timed(lambda: _get(url, gzip=True), repeats),
                "ours_gzip_body_bytes": _get(url, gzip=True)[1],
                "ours_render_seconds": ours.render_seconds,
                "ours_healthy_during_scrapes": healthy_under_scrapes(ours.url, window),
            }
        finally:
            out["peak_rss_mib"] = ours.stop()
        on_loop = Child(db, series, on_loop=True)
        try:
            url = on_loop.url + "/metrics"
            out["on_loop_http_seconds"] = _timed(lambda: _get(url, gzip=False), repeats)
            out["on_loop_healthy_during_scrapes"] = healthy_under_scrapes(on_loop.url, window)
        finally:
            out["on_loop_peak_rss_mib"] = on_loop.stop()
    out["baseline_http_seconds"] = _timed(lambda: _get(base_url, gzip=False), repeats)
    out["baseline_http_gzip_seconds"] = _timed(lambda: _get(base_url, gzip=True), repeats)
    out["baseline_generate_latest_seconds"] = _timed(lambda: generate_latest(registry), repeats)
    baseline_server.shutdown()
    baseline_server.server_close()
    floor = out["baseline_generate_latest_seconds"]
    out["ours_vs_generate_latest"] = out["ours_http_seconds"] / floor
    out["ours_gzip_vs_generate_latest"] = out["ours_http_gzip_seconds"] / floor
    out["on_loop_vs_generate_latest"] = out["on_loop_http_seconds"] / floor
    return out


def peak_rss_mib() -> float:
    """This interpreter's peak RSS. VmHWM rather than getrusage's ru_maxrss: Linux carries
    ru_maxrss over fork and exec, so a child of a big parent would report the parent's peak."""
    try:
        for line in open("/proc/self/status").read().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run(sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    """Each size in a fresh interpreter."""
    results = []
    for n in sizes:
        proc = subprocess.run(
            [sys.executable, "-m", "bench.scrape", "--series", str(n)],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"scrape bench at {n} series failed:\n{proc.stderr[-2000:]}")
        results.append(json.loads(proc.stdout))
    return {"sizes": results}


def main() -> int:
    p = argparse.ArgumentParser(description="/metrics latency, /-/healthy p99 during scrapes, peak RSS")
    p.add_argument("--series", type=int, help="measure one size in this process")
    p.add_argument("--repeats", type=int, default=0, help="timed scrapes per variant (default by size)")
    p.add_argument("--window", type=float, default=WINDOW, help="seconds of back-to-back scrapes per server")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--on-loop", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        asyncio.run(serve(Path(args.child), args.series, args.port, args.on_loop))
    elif args.series:
        repeats = args.repeats or (15 if args.series <= 20_000 else 5)
        print(json.dumps(measure(args.series, repeats, args.window)))
    else:
        print(json.dumps(run(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
