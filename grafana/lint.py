"""The applicable rules of grafana/dashboard-linter, in Python (its binary cannot be
installed here), plus this project's own dashboard rules.

``lint(dashboard)`` returns ``(rule, message)`` pairs; empty means clean.
``python -m grafana.lint`` lints the committed dashboards.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from grafana import promql
from grafana.queries import load_dashboards

ROOT = Path(__file__).resolve().parent.parent
METRICS_DOC = ROOT / "docs" / "metrics.md"

Dashboard = dict[str, Any]
Rule = Callable[[Dashboard], Iterator[str]]

#: Metrics the issues define (core, Anchor, SQL). Histograms are listed by base name.
#: Unioned with docs/metrics.md, which becomes the single source once it is complete.
ISSUE_METRICS = frozenset(
    """
    escrow_exporter_build_info escrow_exporter_collector_up escrow_exporter_collector_duration_seconds
    escrow_exporter_collector_last_success_timestamp_seconds escrow_exporter_collector_errors_total
    escrow_rpc_up escrow_rpc_active escrow_rpc_slot escrow_rpc_requests_total escrow_rpc_request_duration_seconds
    escrow_rpc_failovers_total escrow_account_balance escrow_account_exists
    escrow_account_balance_updated_timestamp_seconds escrow_account_info
    escrow_events_total escrow_event_amount_total escrow_transactions_total escrow_transaction_errors_total
    escrow_instructions_total escrow_compute_units escrow_transaction_fees_sol_total escrow_ingest_last_slot
    escrow_ingest_lag_seconds escrow_event_decode_errors_total escrow_logs_truncated_total
    escrow_program_accounts escrow_program_account_field_amount
    escrow_business_matches_total escrow_business_entry_volume_total escrow_business_fee_revenue_total
    escrow_business_prize_payouts_total escrow_business_withdrawals_total escrow_business_withdrawal_volume_total
    escrow_business_withdrawals_pending escrow_business_withdrawals_pending_amount escrow_business_users
    escrow_business_users_frozen escrow_ledger_escrow_balance
    escrow_business_reconciliation_last_success_timestamp_seconds escrow_business_audit_log_missing_entries
    escrow_business_audit_log_last_entry_timestamp_seconds escrow_business_outbox_depth
    escrow_business_payment_webhook_latency_seconds escrow_business_write_errors_total
    escrow_sql_up escrow_sql_query_up escrow_sql_query_duration_seconds escrow_sql_query_rows
    escrow_sql_query_errors_total
    """.split()
)
HISTOGRAMS = frozenset(
    {"escrow_rpc_request_duration_seconds", "escrow_compute_units", "http_request_duration_seconds"}
)
#: Series of the field's exporters and the bundle's recordings that the uptime, infrastructure
#: and database dashboards read (issue 17): blackbox_exporter, node_exporter, postgres_exporter
#: (with prometheus/postgres_exporter/queries.yaml), prometheus/rules/{slo,platform}.yml; and the
#: application's own HTTP metrics (a client library's, under the site's app_http_job).
FIELD_METRICS = frozenset(
    """
    probe_success probe_duration_seconds probe_http_duration_seconds probe_http_status_code
    node_cpu_seconds_total node_memory_MemTotal_bytes node_memory_MemAvailable_bytes
    node_filesystem_avail_bytes node_disk_read_bytes_total node_disk_written_bytes_total
    node_network_receive_bytes_total node_network_transmit_bytes_total node_load1
    pg_up pg_stat_activity_count pg_stat_activity_max_tx_duration pg_settings_max_connections
    pg_stat_database_xact_commit pg_stat_database_xact_rollback pg_stat_database_active_time
    pg_stat_database_blks_hit pg_stat_database_blks_read pg_database_size_bytes
    pg_slow_queries_active_over_1s pg_table_size_bytes pg_stat_user_tables_idx_scan
    pg_stat_user_tables_seq_scan pg_stat_user_tables_n_dead_tup
    http_requests_total http_request_duration_seconds job:http_requests:rate10m
    job:http_requests:rate1h_baseline
    instance:escrow_app_probe_errors:ratio_avg5m instance:escrow_app_probe_errors:ratio_avg30m
    instance:escrow_app_probe_errors:ratio_avg1h instance:escrow_app_probe_errors:ratio_avg6h
    instance:escrow_app_probe_errors:ratio_avg1d instance:escrow_app_probe_errors:ratio_avg3d
    instance:escrow_app_probe_errors:ratio_avg30d instance:escrow_exporter_stale:ratio_avg1h
    instance:escrow_exporter_stale:ratio_avg30d instance:node_cpu_utilisation:rate5m
    instance:node_memory_utilisation:ratio instance_mountpoint:node_filesystem_used:ratio
    instance:pg_connections_used:ratio instance_datname:pg_database_size_bytes:forecast
    """.split()
)
#: Series Prometheus itself creates: scrape health and alert state.
PROMETHEUS_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped", "ALERTS"})
#: Prometheus' and Alertmanager's own metrics (meta-monitoring): the alerting pipeline row of the
#: exporter dashboard, selected by the site's prometheus_job / alertmanager_job.
PIPELINE_SERIES = frozenset(
    """
    alertmanager_notifications_total alertmanager_notifications_failed_total
    alertmanager_config_last_reload_successful prometheus_config_last_reload_successful
    prometheus_rule_evaluation_failures_total prometheus_rule_evaluations_total
    prometheus_notifications_queue_length prometheus_notifications_queue_capacity
    prometheus_notifications_dropped_total prometheus_notifications_errors_total
    """.split()
)
#: Series that carry no job/instance labels of the exporter (target-job/instance rules).
NO_JOB_LABEL = frozenset({"ALERTS"}) | PIPELINE_SERIES
#: Recordings summed over a job's instances: they keep `job`, not `instance`.
NO_INSTANCE_LABEL = frozenset({"job:http_requests:rate10m", "job:http_requests:rate1h_baseline"})

#: Grafana unit ids this project may use (a subset of Grafana's catalogue).
VALID_UNITS = frozenset(
    "none short percent percentunit s ms µs ns dtdurations dtdurationms reqps rps ops wps rpm opm "
    "bytes decbytes bits locale bool bool_yes_no bool_on_off dateTimeAsIso dateTimeFromNow "
    "currencyUSD".split()
)
PANELS_WITH_UNITS = frozenset(
    {"timeseries", "stat", "gauge", "bargauge", "table", "piechart", "graph", "singlestat"}
)
TEMPLATED_DS = frozenset({"$datasource", "${datasource}"})


def documented_metrics(path: Path = METRICS_DOC) -> set[str]:
    """Metric names in the first column of the tables of docs/metrics.md."""
    if not path.exists():
        return set()
    return set(re.findall(r"^\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`", path.read_text(), re.M))


def known_metric(name: str, documented: set[str]) -> bool:
    known = ISSUE_METRICS | documented | PROMETHEUS_SERIES | FIELD_METRICS | PIPELINE_SERIES
    if name in known:
        return True
    for suffix in ("_bucket", "_count", "_sum"):
        if name.endswith(suffix) and name.removesuffix(suffix) in known | HISTOGRAMS:
            return True
    return False


def is_counter(name: str) -> bool:
    """Counters by suffix, plus the ``_sum``/``_count`` series of the known histograms."""
    if promql.is_counter(name):
        return True
    return any(name.endswith(s) and name.removesuffix(s) in HISTOGRAMS for s in ("_sum", "_count"))


def panels(d: Dashboard) -> Iterator[dict[str, Any]]:
    for p in d.get("panels", []):
        if p.get("type") != "row":
            yield p
        yield from (q for q in p.get("panels", []) if q.get("type") != "row")


def targets(d: Dashboard) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for p in panels(d):
        for t in p.get("targets", []):
            if t.get("expr"):
                yield p, t


def _ds_uid(ds: Any) -> str:
    return str(ds.get("uid", "")) if isinstance(ds, dict) else str(ds or "")


def _var(d: Dashboard, name: str) -> dict[str, Any] | None:
    for v in d.get("templating", {}).get("list", []):
        if v.get("name") == name:
            return dict(v)
    return None


# --- dashboard-linter rules ----------------------------------------------------------


def template_datasource_rule(d: Dashboard) -> Iterator[str]:
    dss = [v for v in d.get("templating", {}).get("list", []) if v.get("type") == "datasource"]
    if len(dss) != 1:
        yield f"expected exactly one datasource variable, found {len(dss)}"
        return
    v = dss[0]
    if v.get("name") != "datasource":
        yield f"datasource variable is named {v.get('name')!r}, should be 'datasource'"
    if v.get("label") != "Data Source":
        yield f"datasource variable is labelled {v.get('label')!r}, should be 'Data Source'"
    if v.get("query") != "prometheus":
        yield f"datasource variable queries {v.get('query')!r}, should be 'prometheus'"


def _label_variable_rule(name: str) -> Rule:
    def rule(d: Dashboard) -> Iterator[str]:
        v = _var(d, name)
        if v is None:
            yield f"no '{name}' variable"
            return
        if v.get("label") != name:
            yield f"'{name}' variable is labelled {v.get('label')!r}, should be {name!r}"
        if _ds_uid(v.get("datasource")) not in TEMPLATED_DS:
            yield f"'{name}' variable does not use the templated datasource"
        if v.get("type") != "query":
            yield f"'{name}' variable is not a Prometheus query"
        if not v.get("multi"):
            yield f"'{name}' variable is not multi-select"
        if v.get("allValue") != ".+":
            yield f"'{name}' variable allValue is {v.get('allValue')!r}, should be '.+'"

    return rule


def template_label_promql_rule(d: Dashboard) -> Iterator[str]:
    documented = documented_metrics()
    for v in d.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        text = q.get("query", "") if isinstance(q, dict) else str(q)
        m = re.fullmatch(r"label_values\((.*),\s*\w+\)", text)
        if not m:
            yield f"variable {v.get('name')!r}: query {text!r} is not label_values(selector, label)"
            continue
        yield from (f"variable {v.get('name')!r}: {p}" for p in _expr_problems(m.group(1), documented))


def panel_datasource_rule(d: Dashboard) -> Iterator[str]:
    for p in panels(d):
        if _ds_uid(p.get("datasource")) not in TEMPLATED_DS:
            yield f"panel {p.get('title')!r} does not use the templated datasource"
        for t in p.get("targets", []):
            if "datasource" in t and _ds_uid(t["datasource"]) not in TEMPLATED_DS:
                yield f"panel {p.get('title')!r} target {t.get('refId')} does not use the templated datasource"


def panel_title_description_rule(d: Dashboard) -> Iterator[str]:
    for p in panels(d):
        if not str(p.get("title", "")).strip():
            yield f"panel id {p.get('id')} has no title"
        if not str(p.get("description", "")).strip():
            yield f"panel {p.get('title')!r} has no description"


def panel_units_rule(d: Dashboard) -> Iterator[str]:
    for p in panels(d):
        if p.get("type") not in PANELS_WITH_UNITS:
            continue
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit")
        if unit not in VALID_UNITS:
            yield f"panel {p.get('title')!r} has no valid unit ({unit!r})"


def panel_no_targets_rule(d: Dashboard) -> Iterator[str]:
    for p in panels(d):
        if not [t for t in p.get("targets", []) if t.get("expr")]:
            yield f"panel {p.get('title')!r} has no targets"


def _expr_problems(expr: str, documented: set[str]) -> Iterator[str]:
    try:
        promql.check_balanced(expr)
    except promql.PromQLSyntaxError as e:
        yield f"does not parse: {e}"
        return
    for use in promql.metric_uses(expr):
        if not known_metric(use.name, documented):
            yield f"uses {use.name}, which neither docs/metrics.md nor the issues define"


def target_promql_rule(d: Dashboard) -> Iterator[str]:
    documented = documented_metrics()
    for p, t in targets(d):
        yield from (
            f"panel {p.get('title')!r} target {t.get('refId')}: {m}"
            for m in _expr_problems(t["expr"], documented)
        )


def target_rate_interval_rule(d: Dashboard) -> Iterator[str]:
    for p, t in targets(d):
        for func, rng in promql.range_functions(t["expr"]):
            if func in ("rate", "irate") and rng != "$__rate_interval":
                yield f"panel {p.get('title')!r} target {t.get('refId')}: {func}() over [{rng}], should be [$__rate_interval]"


def _target_label_rule(label: str) -> Rule:
    wanted = f'{label}=~"${label}"'

    def rule(d: Dashboard) -> Iterator[str]:
        for p, t in targets(d):
            for use in promql.metric_uses(t["expr"]):
                exempt = NO_JOB_LABEL | (NO_INSTANCE_LABEL if label == "instance" else frozenset())
                if use.name not in exempt and wanted not in use.matchers.replace(" ", ""):
                    yield f"panel {p.get('title')!r} target {t.get('refId')}: {use.name} lacks {wanted}"

    return rule


def target_counter_agg_rule(d: Dashboard) -> Iterator[str]:
    for p, t in targets(d):
        for name in promql.bare_counters(t["expr"], is_counter):
            yield f"panel {p.get('title')!r} target {t.get('refId')}: counter {name} used outside rate()/increase()"


# --- this project's rules ------------------------------------------------------------

#: Metrics (and recorded series) whose values are amounts of a mint, told apart only by `mint`:
#: adding them across mints adds SOL to USDC.
AMOUNT_METRICS = re.compile(
    r"\b(escrow_account_balance|escrow_event_amount_total|escrow_program_account_field_amount"
    r"|escrow_ledger_escrow_balance|escrow_business_withdrawals_pending_amount"
    r"|escrow_business_(?:entry_volume|fee_revenue|prize_payouts|withdrawal_volume)_total"
    r"|account_mint[a-z_]*:[a-zA-Z0-9_:]+)\b"
)
_AGGREGATION = re.compile(
    r"\b(sum|avg|min|max|topk|bottomk|quantile|stddev|stdvar)\s*(?:(by|without)\s*\(([^)]*)\)\s*)?\("
)
_TRAILING_GROUPING = re.compile(r"\s*(by|without)\s*\(([^)]*)\)")


def _closing(expr: str, open_at: int) -> int:
    depth = 0
    for i in range(open_at, len(expr)):
        depth += {"(": 1, ")": -1}.get(expr[i], 0)
        if depth == 0:
            return i
    return len(expr)


def amount_aggregations_dropping_mint(expr: str) -> list[str]:
    """The aggregations in ``expr`` over an amount metric that do not keep ``mint``."""
    out = []
    for m in _AGGREGATION.finditer(expr):
        end = _closing(expr, m.end() - 1)
        if not AMOUNT_METRICS.search(expr[m.end() : end]):
            continue
        mode, labels = m.group(2), m.group(3)
        trailing = _TRAILING_GROUPING.match(expr, end + 1)
        if mode is None and trailing:  # sum(x) by (...)
            mode, labels = trailing.group(1), trailing.group(2)
        kept = {label.strip() for label in (labels or "").split(",")}
        if (mode == "by" and "mint" not in kept) or mode is None or (mode == "without" and "mint" in kept):
            out.append(expr[m.start() : m.end()].strip())
    return out


def target_amount_mint_rule(d: Dashboard) -> Iterator[str]:
    for p, t in targets(d):
        for agg in amount_aggregations_dropping_mint(t["expr"]):
            yield f"panel {p.get('title')!r} target {t.get('refId')}: {agg}...) over amounts does not keep mint"


def project_dashboard_rule(d: Dashboard) -> Iterator[str]:
    if not re.fullmatch(r"escrow-[a-z0-9-]+", str(d.get("uid", ""))):
        yield f"uid {d.get('uid')!r} should look like escrow-<name>"
    if not isinstance(d.get("version"), int) or d["version"] < 1:
        yield "version must be a positive integer"
    if "escrow-exporter" not in d.get("tags", []):
        yield "missing the shared tag 'escrow-exporter' (dashboard links rely on it)"
    links = d.get("links", [])
    if not links:
        yield "no links to the other dashboards"
    for link in links:
        if not (link.get("keepTime") and link.get("includeVars")):
            yield f"link {link.get('title')!r} must keep the time range and the variables"
    if d.get("editable") is not False:
        yield "dashboards are provisioned from Jsonnet: editable must be false"
    ids = [p.get("id") for p in panels(d)]
    if len(ids) != len(set(ids)):
        yield "panel ids are not unique"
    for p in panels(d):
        g = p.get("gridPos", {})
        if g.get("x", 0) + g.get("w", 0) > 24:
            yield f"panel {p.get('title')!r} is wider than the grid"


RULES: dict[str, Rule] = {
    "template-datasource-rule": template_datasource_rule,
    "template-job-rule": _label_variable_rule("job"),
    "template-instance-rule": _label_variable_rule("instance"),
    "template-label-promql-rule": template_label_promql_rule,
    "panel-datasource-rule": panel_datasource_rule,
    "panel-title-description-rule": panel_title_description_rule,
    "panel-units-rule": panel_units_rule,
    "panel-no-targets-rule": panel_no_targets_rule,
    "target-promql-rule": target_promql_rule,
    "target-rate-interval-rule": target_rate_interval_rule,
    "target-job-rule": _target_label_rule("job"),
    "target-instance-rule": _target_label_rule("instance"),
    "target-counter-agg-rule": target_counter_agg_rule,
    "project-dashboard-rule": project_dashboard_rule,
    "target-amount-mint-rule": target_amount_mint_rule,
}


def lint(d: Dashboard) -> list[tuple[str, str]]:
    return [(name, msg) for name, rule in RULES.items() for msg in rule(d)]


def main() -> int:
    bad = 0
    for d in load_dashboards():
        for rule, msg in lint(d):
            print(f"{d.get('uid')}: {rule}: {msg}", file=sys.stderr)
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
