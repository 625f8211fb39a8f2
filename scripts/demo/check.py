"""`scripts/demo.sh --check`: is the running demo healthy? Waits (up to --timeout) until every
Prometheus target is up, every blackbox probe succeeds, Prometheus sees Alertmanager, the
exporter serves chain and ledger data and the Watchdog alert reached Alertmanager; prints what
it found and exits 0, or 1 naming what is missing."""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.parse
import urllib.request
from typing import Any


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    body = get(f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    return list(body["data"]["result"])


def problems(prometheus: str, alertmanager: str) -> list[str]:
    found = []
    targets = get(f"{prometheus}/api/v1/targets")["data"]["activeTargets"]
    for t in targets:
        if t["health"] != "up":
            found.append(
                f"target {t['labels'].get('job')} {t['scrapeUrl']} is {t['health']}: {t['lastError']}"
            )
    if not targets:
        found.append("Prometheus has no targets")
    for s in query(prometheus, "probe_success"):
        if s["value"][1] != "1":
            found.append(f"probe of {s['metric'].get('instance')} fails")
    if not get(f"{prometheus}/api/v1/alertmanagers")["data"]["activeAlertmanagers"]:
        found.append("Prometheus sees no Alertmanager")
    for metric in ("escrow_account_balance", "escrow_ledger_escrow_balance", "escrow_business_matches_total"):
        if not query(prometheus, metric):
            found.append(f"no {metric} series yet")
    alerts = get(f"{alertmanager}/api/v2/alerts")
    if not any(a["labels"].get("alertname") == "Watchdog" for a in alerts):
        found.append("the Watchdog alert has not reached Alertmanager yet")
    return found


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prometheus", required=True)
    p.add_argument("--alertmanager", required=True)
    p.add_argument("--timeout", type=float, default=90.0)
    args = p.parse_args(argv)
    deadline = time.monotonic() + args.timeout
    while True:
        try:
            found = problems(args.prometheus, args.alertmanager)
        except OSError as e:
            found = [f"cannot read the APIs: {e}"]
        if not found:
            print(
                "demo check: every target up, probes succeed, ledger and chain data flowing, alerts reach Alertmanager"
            )
            return 0
        if time.monotonic() > deadline:
            print("demo check failed:\n  " + "\n  ".join(found), file=sys.stderr)
            return 1
        time.sleep(2)


if __name__ == "__main__":
    sys.exit(main())
