"""Peak RSS of the exporter process at 10,000 watched accounts + 100,000 SQL series.

The real ``escrow-exporter run`` process, against the simulator (no traffic) and a SQLite table
of 100,000 rows: a balances section of 10,000 accounts (``bench.balances.account_configs``:
the simulator's real accounts under many names, every tenth one missing) and one SQL query
serving every row as a series. The figure is the process's peak resident set (``VmHWM``) after
both collectors have completed a cycle and ``/metrics`` has been scraped twice (text and gzip),
i.e. after every snapshot the exporter keeps has been built.

    python -m bench.rss          # prints the result as JSON
"""

from __future__ import annotations

import json
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from bench.balances import account_configs
from bench.scrape import make_db
from tests.support.devchain_proc import Devchain
from tests.support.exporter_proc import ExporterProcess, sample, wait_until

ACCOUNTS = 10_000
SERIES = 100_000
SMOKE_ACCOUNTS = 100
SMOKE_SERIES = 1_000
METRIC = "escrow_bench_balance"


def config(chain_url: str, db: Path, accounts: list[dict[str, str]], series: int) -> dict[str, Any]:
    return {
        "solana": {"endpoints": [{"name": "sim", "url": chain_url, "rate_limit_rps": 1e6}]},
        "balances": {"interval_seconds": 60, "accounts": accounts},
        "sql": {
            "databases": [{"name": "bench", "driver": "sqlite", "path": str(db)}],
            "queries": [
                {
                    "name": "bench",
                    "database": "bench",
                    "sql": "SELECT account, mint, value FROM balances",
                    "interval_seconds": 60,
                    "max_series": series,
                    "timeout_seconds": 120,
                    "metrics": [
                        {"name": METRIC, "help": "Bench series.", "label_columns": ["account", "mint"]}
                    ],
                }
            ],
        },
    }


def vm_hwm_mib(pid: int) -> float:
    """Peak resident set of process ``pid`` (Linux ``/proc/<pid>/status`` ``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")


def _scrape(url: str, gzip: bool) -> str:
    headers = {"Accept-Encoding": "gzip"} if gzip else {}
    with urllib.request.urlopen(urllib.request.Request(url + "/metrics", headers=headers), timeout=120) as r:
        body: bytes = r.read()
    return "" if gzip else body.decode()


def run(accounts: int = ACCOUNTS, series: int = SERIES, smoke: bool = False) -> dict[str, Any]:
    if smoke:
        accounts, series = SMOKE_ACCOUNTS, SMOKE_SERIES
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as tmp_name:
        tmp = Path(tmp_name)
        db = tmp / "bench.sqlite"
        make_db(db, series)
        chain = Devchain(tmp, seed=7, tps=0)
        try:
            accts = [
                {"name": a.name, "kind": a.kind, "address": str(a.address)}
                for a in account_configs(chain.state()["balances"], accounts)
            ]
            cfg = tmp / "config.yml"
            cfg.write_text(yaml.safe_dump(config(chain.url, db, accts, series)))
            exporter = ExporterProcess(cfg)
            try:
                exporter.wait_up(timeout=60)

                def both_up() -> bool:
                    text = _scrape(exporter.url, gzip=False)
                    up = [
                        sample(text, "escrow_exporter_collector_up", collector=c)
                        for c in ("balances", "sql:bench")
                    ]
                    return all(v == 1 for v in up)

                wait_until(both_up, timeout=300, interval=1.0, what="balances and SQL collectors up")
                text = _scrape(exporter.url, gzip=False)
                _scrape(exporter.url, gzip=True)
                served = sum(1 for line in text.splitlines() if line.startswith(METRIC + "{"))
                balances = sum(1 for line in text.splitlines() if line.startswith("escrow_account_balance{"))
                rss = vm_hwm_mib(exporter.proc.pid)
            finally:
                exporter.stop()
        finally:
            chain.stop()
    if served != series:
        raise RuntimeError(f"rss bench: the exporter served {served} of {series} SQL series")
    return {"accounts": accounts, "series": series, "balances_served": balances, "peak_rss_mib": rss}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
