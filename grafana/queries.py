"""Every query of the committed dashboards, ready to send to a real Prometheus.

``iter_panel_queries(dashboard)`` yields ``(dashboard_uid, panel_title, expr)`` with
Grafana's variables replaced by values Prometheus accepts, so a test can run each
query through ``/api/v1/query`` and require that it parses and returns data —
unless ``ALLOWED_EMPTY`` names the panel with the reason it is empty when all is well.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DASHBOARDS = Path(__file__).resolve().parent / "dashboards"

#: Values for Grafana's built-in variables. Any other variable (``$job``, ``$program``,
#: ``$mint``...) is only ever used in a regex matcher, whose "All" value is ``.+``.
BUILTIN_VALUES = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
    "__range_s": "3600",
    "__interval_ms": "60000",
    "datasource": "prometheus",
}
ALL_VALUE = ".+"

#: Panels that legitimately return no series on a healthy system, by
#: ``"<dashboard uid>/<panel title>"``, each with the reason.
ALLOWED_EMPTY: dict[str, str] = {
    "escrow-overview/Firing alerts": "lists firing alerts other than Watchdog: empty when nothing is wrong",
    "escrow-chain-rpc/Decode errors and truncated logs": "error counters appear only with the first decode error or truncated log",
    "escrow-chain-rpc/Request error ratio": "the numerator only has series once an endpoint returned an error, timeout or 429",
    "escrow-exporter/Collector errors": "error counters appear only with a collector's first failed cycle",
    "escrow-exporter/SQL query errors": "error counters appear only with a query's first failure",
    "escrow-business/Recorded write errors per hour": "the demo database may hold no recorded write error",
    # Firing starts are read on a 1-minute subquery grid against the minute before: a start in
    # Prometheus's first minute (Watchdog's, on a demo just started) has no minute before it.
    "escrow-weekly-review/Firing starts in range": "counts alerts that started firing after Prometheus's first minute: none on a just-started healthy demo",
    "escrow-weekly-review/Alerts fired per name": "firing starts after Prometheus's first minute: none on a just-started healthy demo",
    "escrow-weekly-review/Time to resolve": "divides by firing starts after Prometheus's first minute: none on a just-started healthy demo",
    "escrow-weekly-review/Flapping alerts": "lists alerts that started firing more than twice in a day: empty when none flaps",
    "escrow-weekly-review/Pages out of hours, per alert": "a paging alert firing outside working hours: none on a healthy system",
}

#: Series a query may come back empty for, wherever it is drawn, and why.
ALLOWED_EMPTY_SERIES: dict[str, str] = {
    # bundle.config CAPACITY_MIN_HISTORY: no forecast from a series younger than 3 hours.
    "instance_datname:pg_database_size_bytes:forecast": "forecast only after 3 hours of history",
    # bundle/platform.py _spike_recordings: the same hour of other days, or the 6 hours before.
    "job:http_requests:rate1h_baseline": "a baseline only after 7 hours of history",
}

_VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)(?::\w+)?\]\]|\$(\w+)")


def substitute(expr: str, values: dict[str, str] | None = None) -> str:
    """Replace ``$var``, ``${var}``, ``${var:fmt}`` and ``[[var]]`` as Grafana would."""
    table = {**BUILTIN_VALUES, **(values or {})}

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        return table.get(name, ALL_VALUE)

    return _VAR.sub(repl, expr)


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        # Collapsed rows keep their panels inside.
        yield from panel.get("panels", [])


def iter_panel_queries(
    dashboard: dict[str, Any], values: dict[str, str] | None = None
) -> Iterator[tuple[str, str, str]]:
    """``(dashboard_uid, panel_title, expr)`` for every Prometheus target, variables substituted."""
    uid = str(dashboard.get("uid", ""))
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            expr = target.get("expr")
            if expr and not target.get("hide"):
                yield uid, str(panel.get("title", "")), substitute(expr, values)


def iter_variable_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """``(dashboard_uid, variable_name, selector)`` for every ``label_values(selector, label)``
    variable: the selector must return series or the variable has no values."""
    uid = str(dashboard.get("uid", ""))
    for var in dashboard.get("templating", {}).get("list", []):
        query = var.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", text)
        if var.get("type") == "query" and m:
            yield uid, str(var["name"]), substitute(m.group(1))


def allowed_empty(uid: str, panel_title: str, expr: str = "") -> str | None:
    """The reason this panel's query may return no data, or None when it must return data."""
    reason = ALLOWED_EMPTY.get(f"{uid}/{panel_title}")
    return reason or next((why for name, why in ALLOWED_EMPTY_SERIES.items() if name in expr), None)


def load_dashboards(directory: Path = DASHBOARDS) -> list[dict[str, Any]]:
    """The committed (compiled) dashboards."""
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]


def iter_all_queries(directory: Path = DASHBOARDS) -> Iterator[tuple[str, str, str]]:
    for dash in load_dashboards(directory):
        yield from iter_panel_queries(dash)
