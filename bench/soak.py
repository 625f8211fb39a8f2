"""Soak: the exporter on the example config for a long run; RSS and open fds must stay flat.

Starts the simulator (with its demo ledger) and ``escrow-exporter run`` on ``examples/config.yml``
(pointed at the simulator's port, files under a temporary directory), scrapes ``/metrics`` the
way Prometheus does, and samples the exporter's RSS (``/proc/PID/status`` VmRSS) and open file
descriptors (``/proc/PID/fd``) every ``--sample-seconds``. After a warm-up (a fifth of the run,
at most 5 minutes) the median of the first window of samples is compared with the median of
the last window; growth of 5% or more in either fails the soak (exit 1).

    python -m bench.soak                 # 30 minutes (make soak)
    python -m bench.soak --minutes 2     # a short one (make bench runs this)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.devchain_proc import Devchain
from tests.exporter_proc import ExporterProcess
from tests.util import ROOT

MAX_GROWTH = 0.05
SCRAPE_SECONDS = 5.0
WINDOW = 6  # samples per comparison window (one minute at the default 10 s)
EXAMPLE_URL = "http://${DEVCHAIN_LISTEN:-127.0.0.1:8899}"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def prepare(tmp: Path, chain_url: str) -> Path:
    """examples/config.yml at tmp/examples/, so its ``../var`` and ``../idls`` land in tmp."""
    cfg_dir = tmp / "examples"
    cfg_dir.mkdir()
    (tmp / "var").mkdir(exist_ok=True)
    for shared in ("idls", "schema"):  # read-only inputs a config may reference relatively
        if (ROOT / shared).is_dir():
            (tmp / shared).symlink_to(ROOT / shared)
    text = (ROOT / "examples" / "config.yml").read_text()
    if EXAMPLE_URL not in text:
        raise RuntimeError(f"examples/config.yml no longer points at {EXAMPLE_URL}; update bench/soak.py")
    cfg = cfg_dir / "config.yml"
    cfg.write_text(text.replace(EXAMPLE_URL, chain_url))
    return cfg


def growth(samples: list[int], warmup: int) -> float:
    """Relative growth of the last window's median over the first window after warm-up."""
    steady = samples[warmup:]
    window = max(1, min(WINDOW, len(steady) // 3))
    first = statistics.median(steady[:window])
    last = statistics.median(steady[-window:])
    return (last - first) / first if first else 0.0


def soak(minutes: float, sample_seconds: float, tps: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    chain = Devchain(tmp, seed=3, tps=tps, extra=("--ledger-db", str(tmp / "var" / "ledger.sqlite")))
    exporter: ExporterProcess | None = None
    try:
        cfg = prepare(tmp, chain.url)
        exporter = ExporterProcess(cfg)
        exporter.wait_up("/-/ready", timeout=60)
        pid = exporter.proc.pid
        rss: list[int] = []
        fds: list[int] = []
        scrapes = scrape_errors = 0
        end = time.monotonic() + minutes * 60
        next_sample = next_scrape = time.monotonic()
        while time.monotonic() < end:
            if exporter.proc.poll() is not None:
                raise RuntimeError(
                    f"exporter exited with {exporter.proc.returncode}:\n{exporter.log()[-3000:]}"
                )
            now = time.monotonic()
            if now >= next_scrape:
                try:
                    with urllib.request.urlopen(exporter.url + "/metrics", timeout=10) as r:
                        r.read()
                    scrapes += 1
                except OSError:
                    scrape_errors += 1
                next_scrape += SCRAPE_SECONDS
            if now >= next_sample:
                rss.append(rss_kib(pid))
                fds.append(open_fds(pid))
                next_sample += sample_seconds
            time.sleep(max(0.0, min(next_sample, next_scrape) - time.monotonic()))
        warmup = min(len(rss) // 5, int(300 / sample_seconds))
        rss_growth, fd_growth = round(growth(rss, warmup), 4), round(growth(fds, warmup), 4)
        return {
            "minutes": minutes,
            "sample_seconds": sample_seconds,
            "samples": len(rss),
            "warmup_samples": warmup,
            "scrapes": scrapes,
            "scrape_errors": scrape_errors,
            "rss_kib": rss,
            "open_fds": fds,
            "rss_growth": rss_growth,
            "fd_growth": fd_growth,
            "max_growth": MAX_GROWTH,
            "passed": rss_growth < MAX_GROWTH and fd_growth < MAX_GROWTH and scrape_errors == 0,
        }
    finally:
        if exporter is not None:
            exporter.stop()
        chain.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description="RSS and open-fd soak of the exporter on the example config")
    p.add_argument("--minutes", type=float, default=30.0, help="run length (default 30)")
    p.add_argument("--sample-seconds", type=float, default=10.0, help="sampling period (default 10)")
    p.add_argument("--tps", type=float, default=5.0, help="simulator transactions per second (default 5)")
    args = p.parse_args()
    result = soak(args.minutes, args.sample_seconds, args.tps)
    summary = {k: v for k, v in result.items() if k not in ("rss_kib", "open_fds")}
    print(json.dumps(summary, indent=2))
    if not result["passed"]:
        print(
            f"soak FAILED: RSS growth {result['rss_growth']:.1%}, fd growth {result['fd_growth']:.1%} "
            f"(limit {MAX_GROWTH:.0%}), {result['scrape_errors']} failed scrapes",
            file=sys.stderr,
        )
        return 1
    print(f"soak passed: RSS growth {result['rss_growth']:.1%}, fd growth {result['fd_growth']:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
