"""Soak: the exporter on the example config for a long run; RSS and open fds must stay flat.

Starts the simulator (with its demo ledger) and ``escrow-exporter run`` on ``examples/config.yml``
(pointed at the simulator's port, files under a temporary directory), scrapes ``/metrics`` the
way Prometheus does, and samples the exporter's RSS (``/proc/PID/status`` VmRSS) and open file
descriptors (``/proc/PID/fd``) every ``--sample-seconds``. After a warm-up (a fifth of the run,
at most 5 minutes) the median of the first window of samples is compared with the median of
the last window; growth of 5% or more in either fails the soak (exit 1).

No page on a healthy run (``--alerts``, on by default from the command line): a real Prometheus
scrapes the exporter with the bundle's rules (``prometheus/rules``) and routes to a real
Alertmanager with the bundle's config (``tests/support/prom_stack.py``, receivers on loopback). At the end
only Watchdog may be firing and no PagerDuty notification may have been sent, else the soak fails.

    python -m bench.soak --minutes 60    # make soak: an hour, alerts checked
    python -m bench.soak --minutes 2     # a short one (make bench runs the RSS part only)
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

from prometheus_client.parser import text_string_to_metric_families

from bundle.site import load as load_site
from tests.support.devchain_proc import Devchain
from tests.support.exporter_proc import ExporterProcess
from tests.support.prom_stack import PromStack
from tests.support.receivers import Receivers
from tests.support.util import ROOT

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
    first, last = _windows(samples, warmup)
    return (last - first) / first if first else 0.0


def _windows(samples: list[int], warmup: int) -> tuple[float, float]:
    """Medians of the first and the last window after warm-up."""
    steady = samples[warmup:]
    window = max(1, min(WINDOW, len(steady) // 3))
    return statistics.median(steady[:window]), statistics.median(steady[-window:])


#: Open descriptors move by one or two with a scrape's connection or a query in flight at the
#: moment of sampling: at ~15 fds that alone is 7-13%, so a leak is growth beyond this many too.
FD_SLACK = 2


def fds_steady(samples: list[int], warmup: int) -> bool:
    first, last = _windows(samples, warmup)
    return growth(samples, warmup) < MAX_GROWTH or last - first <= FD_SLACK


def bounded(scrape: str) -> dict[str, str]:
    """How full each fixed-size structure was at the end ("entries/capacity" per program and
    structure): growth while one still fills is not a leak, growth after all are full would be."""
    held: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(scrape):
        if family.name in ("escrow_exporter_bounded_entries", "escrow_exporter_bounded_capacity"):
            for sample in family.samples:
                key = f"{sample.labels['program']}/{sample.labels['structure']}"
                held.setdefault(key, {})[family.name.rsplit("_", 1)[1]] = sample.value
    return {k: f"{v.get('entries', 0):.0f}/{v.get('capacity', 0):.0f}" for k, v in sorted(held.items())}


def paged_alert(body: str) -> str:
    """The alert a PagerDuty event is about: its summary reads ``[TIER] AlertName labels: ...``."""
    summary = str(json.loads(body).get("payload", {}).get("summary", ""))
    return summary.split("] ", 1)[-1].split(" ", 1)[0].rstrip(":") or summary


def alert_verdict(stack: PromStack, receivers: Receivers) -> dict[str, Any]:
    """What pages at the end of a healthy run: only Watchdog may fire (and must: it proves the rules
    are evaluated and reach Alertmanager), and nothing may have gone to PagerDuty."""
    firing = sorted({name for name, _ in stack.firing()})
    unexpected = [name for name in firing if name != "Watchdog"]
    pages = receivers.of("pagerduty")
    return {
        "alerts_firing": firing,
        "unexpected_alerts": unexpected,
        "pagerduty_notifications": len(pages),
        "paged": sorted({paged_alert(m.text) for m in pages}),
        "alerts_passed": "Watchdog" in firing and not unexpected and not pages,
    }


def soak(
    minutes: float,
    sample_seconds: float,
    tps: float,
    *,
    alerts: bool = False,
    for_override: str | None = None,
    extra_rules: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """``alerts``: check that nothing pages (see the module doc). ``for_override`` shortens every
    ``for:`` (a short run can then see alerts that need minutes); ``extra_rules`` are added to the
    bundle's (the test adds one that always fires, to show the check catches it)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    chain = Devchain(tmp, seed=3, tps=tps, extra=("--ledger-db", str(tmp / "var" / "ledger.sqlite")))
    exporter: ExporterProcess | None = None
    receivers: Receivers | None = None
    stack: PromStack | None = None
    try:
        cfg = prepare(tmp, chain.url)
        exporter = ExporterProcess(cfg)
        exporter.wait_up("/-/ready", timeout=60)
        if alerts:
            receivers = Receivers().start()
            target = exporter.url.split("://", 1)[1]
            stack = PromStack(
                tmp / "prometheus",
                receivers,
                targets={load_site().exporter_job: [target]},
                for_override=for_override,
                extra_rules=extra_rules,
            ).start()
        pid = exporter.proc.pid
        rss: list[int] = []
        fds: list[int] = []
        scrapes = scrape_errors = 0
        last_scrape = ""
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
                        last_scrape = r.read().decode()
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
        verdict = alert_verdict(stack, receivers) if stack and receivers else {}
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
            "bounded": bounded(last_scrape),
            **verdict,
            "passed": rss_growth < MAX_GROWTH
            and fds_steady(fds, warmup)
            and scrape_errors == 0
            and verdict.get("alerts_passed", True),
        }
    finally:
        if stack is not None:
            stack.stop()
        if receivers is not None:
            receivers.stop()
        if exporter is not None:
            exporter.stop()
        chain.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description="RSS and open-fd soak of the exporter on the example config")
    p.add_argument("--minutes", type=float, default=60.0, help="run length (default 60)")
    p.add_argument("--sample-seconds", type=float, default=10.0, help="sampling period (default 10)")
    p.add_argument("--tps", type=float, default=5.0, help="simulator transactions per second (default 5)")
    p.add_argument(
        "--no-alerts",
        action="store_true",
        help="skip the no-page check (Prometheus + Alertmanager with the bundle's rules)",
    )
    p.add_argument("--for-override", help="shorten every alert's for: to this (e.g. 10s) for short runs")
    args = p.parse_args()
    result = soak(
        args.minutes, args.sample_seconds, args.tps, alerts=not args.no_alerts, for_override=args.for_override
    )
    summary = {k: v for k, v in result.items() if k not in ("rss_kib", "open_fds")}
    print(json.dumps(summary, indent=2))
    if not result["passed"]:
        print(
            f"soak FAILED: RSS growth {result['rss_growth']:.1%}, fd growth {result['fd_growth']:.1%} "
            f"(limit {MAX_GROWTH:.0%}), {result['scrape_errors']} failed scrapes, "
            f"alerts firing besides Watchdog: {result.get('unexpected_alerts', 'not checked')}, "
            f"PagerDuty notifications: {result.get('pagerduty_notifications', 'not checked')}",
            file=sys.stderr,
        )
        return 1
    print(f"soak passed: RSS growth {result['rss_growth']:.1%}, fd growth {result['fd_growth']:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
