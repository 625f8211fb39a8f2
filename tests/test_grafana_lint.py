"""grafana/dashboard-linter's applicable rules (grafana.lint) on every committed dashboard,
proof that each rule catches what it is for, and every panel query parsed by a real Prometheus."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from grafana import lint, promql, queries
from tests.support.util import free_port, wait_http

DASHBOARDS = queries.load_dashboards()


@pytest.mark.parametrize("rule", sorted(lint.RULES))
@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=[d["uid"] for d in DASHBOARDS])
def test_dashboard_passes_rule(dashboard: dict[str, Any], rule: str) -> None:
    assert list(lint.RULES[rule](dashboard)) == []


def _first_panel(d: dict[str, Any], type_: str = "timeseries") -> dict[str, Any]:
    return next(p for p in d["panels"] if p["type"] == type_)


def _set_expr(expr: str) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        _first_panel(d)["targets"][0]["expr"] = expr

    return mutate


SEL = '{job=~"$job",instance=~"$instance"}'
BREAKAGES: dict[str, tuple[str, Callable[[dict[str, Any]], None]]] = {
    "no unit": ("panel-units-rule", lambda d: _first_panel(d)["fieldConfig"]["defaults"].pop("unit")),
    "made-up unit": (
        "panel-units-rule",
        lambda d: _first_panel(d)["fieldConfig"]["defaults"].update(unit="furlongs"),
    ),
    "no description": ("panel-title-description-rule", lambda d: _first_panel(d).update(description="")),
    "no targets": ("panel-no-targets-rule", lambda d: _first_panel(d).update(targets=[])),
    "fixed datasource": (
        "panel-datasource-rule",
        lambda d: _first_panel(d).update(datasource={"uid": "abc"}),
    ),
    "renamed datasource var": (
        "template-datasource-rule",
        lambda d: d["templating"]["list"][0].update(name="ds"),
    ),
    "job var single-select": ("template-job-rule", lambda d: d["templating"]["list"][1].update(multi=False)),
    "instance var allValue": (
        "template-instance-rule",
        lambda d: d["templating"]["list"][2].update(allValue="*"),
    ),
    "bare counter": ("target-counter-agg-rule", _set_expr("sum(escrow_rpc_requests_total" + SEL + ")")),
    "counter in sum_over_time": (
        "target-counter-agg-rule",
        _set_expr("sum_over_time(escrow_events_total" + SEL + "[5m])"),
    ),
    "fixed rate window": ("target-rate-interval-rule", _set_expr("rate(escrow_events_total" + SEL + "[5m])")),
    "no job matcher": ("target-job-rule", _set_expr('escrow_rpc_up{instance=~"$instance"}')),
    "no instance matcher": ("target-instance-rule", _set_expr('escrow_rpc_up{job=~"$job"}')),
    "unknown metric": ("target-promql-rule", _set_expr("escrow_made_up_metric" + SEL)),
    "unbalanced": (
        "target-promql-rule",
        _set_expr("sum(rate(escrow_events_total" + SEL + "[$__rate_interval])"),
    ),
    "sum over mints": (
        "target-amount-mint-rule",
        _set_expr("sum by (program) (increase(escrow_event_amount_total" + SEL + "[$__rate_interval]))"),
    ),
    "max over mints": ("target-amount-mint-rule", _set_expr("max(escrow_account_balance" + SEL + ")")),
    "sum without mint": (
        "target-amount-mint-rule",
        _set_expr("sum(escrow_ledger_escrow_balance" + SEL + ") without (mint, account)"),
    ),
    "link loses time": ("project-dashboard-rule", lambda d: d["links"][0].update(keepTime=False)),
    "editable": ("project-dashboard-rule", lambda d: d.update(editable=True)),
}


@pytest.mark.parametrize("case", sorted(BREAKAGES))
def test_rule_catches_breakage(case: str) -> None:
    rule, mutate = BREAKAGES[case]
    d = copy.deepcopy(DASHBOARDS[0])
    mutate(d)
    assert [r for r, _ in lint.lint(d) if r == rule], f"{rule} missed: {case}"


def test_amount_aggregations_that_keep_mint_pass() -> None:
    ok = [
        "sum by (mint) (escrow_account_balance)",
        "sum(escrow_account_balance) by (account, mint)",
        "max by (mint) (abs(sum by (account, mint) (escrow_account_balance) - sum by (account, mint) (escrow_ledger_escrow_balance)))",
        "sum without (account) (escrow_ledger_escrow_balance)",
        "sum by (program) (rate(escrow_events_total[5m]))",
    ]
    assert [e for e in ok if lint.amount_aggregations_dropping_mint(e)] == []


def test_histogram_sum_is_a_counter_but_a_field_sum_gauge_is_not() -> None:
    assert lint.is_counter("escrow_rpc_request_duration_seconds_sum")
    assert not lint.is_counter("escrow_program_account_field_sum")
    assert promql.bare_counters("escrow_compute_units_count", lint.is_counter) == [
        "escrow_compute_units_count"
    ]


def test_label_lists_and_strings_are_not_metric_names() -> None:
    uses = promql.metric_uses(
        'sum by (le, mint) (rate(x_bucket{a="(b|c)"}[1m])) * on (account) group_left () y'
    )
    assert [(u.name, u.enclosing_func, u.has_range) for u in uses] == [
        ("x_bucket", "rate", True),
        ("y", "", False),
    ]


# --- a real Prometheus parses every query --------------------------------------------


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus binary not installed (make setup installs the Debian package)")
    d: Path = tmp_path_factory.mktemp("prom")
    (d / "prometheus.yml").write_text("global: {scrape_interval: 15s}\n")
    port = free_port()
    proc = subprocess.Popen(
        [binary, f"--config.file={d / 'prometheus.yml'}", f"--storage.tsdb.path={d / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/-/ready", timeout=30)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _parse_error(base: str, expr: str) -> str | None:
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            json.load(r)
            return None
    except urllib.error.HTTPError as e:
        return str(json.load(e).get("error"))


def test_every_panel_and_variable_query_parses_in_prometheus(prometheus: str) -> None:
    exprs = [(uid, title, e) for d in DASHBOARDS for uid, title, e in queries.iter_panel_queries(d)]
    exprs += [(uid, f"variable {n}", s) for d in DASHBOARDS for uid, n, s in queries.iter_variable_queries(d)]
    errors = [(uid, title, err) for uid, title, e in exprs if (err := _parse_error(prometheus, e))]
    assert errors == []


def test_prometheus_rejects_a_broken_query(prometheus: str) -> None:
    assert _parse_error(prometheus, "sum(rate(x[1m])") is not None


def test_an_offset_duration_is_not_a_metric() -> None:
    """``x offset 1m`` (the weekly review's firing starts) names one metric, not a metric ``m``."""
    from grafana import promql

    uses = promql.metric_uses('count_over_time((ALERTS{a="1"} unless ALERTS{a="1"} offset 1m)[$__range:1m])')
    assert [u.name for u in uses] == ["ALERTS", "ALERTS"]
