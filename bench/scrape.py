"""Scrape cost: ``/metrics`` latency at 10k and 100k series, and peak RSS.

The series are served the way every collector of ours serves them: a custom collector yielding
metric families from memory (shaped like ``escrow_account_balance{account,mint}``). Measured
side by side on the same registry:

* ours: the exporter's real aiohttp app (``exporter.http`` routes) over loopback HTTP, plain
  text and with ``Accept-Encoding: gzip`` (what Prometheus sends);
* baseline: prometheus_client's own HTTP server (``start_http_server``, ``generate_latest``)
  over loopback HTTP, and ``generate_latest`` called in-process (the floor: no HTTP at all).

Each size runs in a fresh interpreter so that its peak RSS (``getrusage``) is its own.

    python -m bench.scrape                 # both sizes, JSON
    python -m bench.scrape --series 10000  # one size, in this process
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.http import add_routes
from exporter.keys import REGISTRY
from tests.util import free_port

SIZES = (10_000, 100_000)
FAMILIES = 10
MINTS = (
    "SOL",
    "EfAauwwULLSsK9D8DWm6WbqZL1r3y8jQ2Ei6YE2afaZS",
    "FE3z5sZn5SD9p6NoMKPfyPGMAMJWycKjNchfBgxdqfKR",
)


class InMemory(Collector):
    """``series`` gauges over ``FAMILIES`` families, built at scrape time like our collectors."""

    def __init__(self, series: int) -> None:
        per = series // FAMILIES
        self.values = [
            [(f"acct_{i:06d}", MINTS[i % len(MINTS)], i * 1.5) for i in range(per)] for _ in range(FAMILIES)
        ]

    def collect(self) -> Iterable[Metric]:
        for f, rows in enumerate(self.values):
            fam = GaugeMetricFamily(f"escrow_bench_family_{f}", "Bench series.", labels=["account", "mint"])
            for account, mint, value in rows:
                fam.add_metric([account, mint], value)
            yield fam


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


def _serve_ours(registry: CollectorRegistry, port: int) -> threading.Event:
    """The exporter's HTTP app on its own loop in a thread (as in the exporter, one loop)."""
    started = threading.Event()

    def main() -> None:
        async def serve() -> None:
            app = web.Application()
            app[REGISTRY] = registry
            add_routes(app)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            started.set()
            await asyncio.Event().wait()

        asyncio.run(serve())

    threading.Thread(target=main, daemon=True).start()
    started.wait(10)
    return started


def measure(series: int, repeats: int) -> dict[str, Any]:
    registry = CollectorRegistry()
    registry.register(InMemory(series))
    ours_port, base_port = free_port(), free_port()
    _serve_ours(registry, ours_port)
    start_http_server(base_port, addr="127.0.0.1", registry=registry)
    ours_url, base_url = f"http://127.0.0.1:{ours_port}/metrics", f"http://127.0.0.1:{base_port}/metrics"
    text_bytes = len(generate_latest(registry))
    out = {
        "series": series,
        "body_bytes": text_bytes,
        "ours_http_seconds": _timed(lambda: _get(ours_url, gzip=False), repeats),
        "ours_http_gzip_seconds": _timed(lambda: _get(ours_url, gzip=True), repeats),
        "ours_gzip_body_bytes": _get(ours_url, gzip=True)[1],
        "baseline_http_seconds": _timed(lambda: _get(base_url, gzip=False), repeats),
        "baseline_http_gzip_seconds": _timed(lambda: _get(base_url, gzip=True), repeats),
        "baseline_generate_latest_seconds": _timed(lambda: generate_latest(registry), repeats),
    }
    out["peak_rss_mib"] = peak_rss_mib()
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
    """Each size in a fresh interpreter (its own peak RSS)."""
    results = []
    for n in sizes:
        proc = subprocess.run(
            [sys.executable, "-m", "bench.scrape", "--series", str(n)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"scrape bench at {n} series failed:\n{proc.stderr[-2000:]}")
        results.append(json.loads(proc.stdout))
    return {"sizes": results}


def main() -> int:
    p = argparse.ArgumentParser(description="/metrics latency and peak RSS")
    p.add_argument("--series", type=int, help="measure one size in this process")
    p.add_argument("--repeats", type=int, default=0, help="timed scrapes per variant (default by size)")
    args = p.parse_args()
    if args.series:
        repeats = args.repeats or (15 if args.series <= 20_000 else 5)
        print(json.dumps(measure(args.series, repeats)))
    else:
        print(json.dumps(run(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
