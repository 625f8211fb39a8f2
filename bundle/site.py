"""The site config (``bundle/site.yml``): what an operator edits to fit the bundle to a platform.

Like a monitoring mixin's ``_config``: selectors, links, severity names, per-mint and per-account
floors, event names and every threshold. ``bundle.config`` builds the rules from it; ``make rules``
(or ``python scripts/gen_rules.py --site FILE --out DIR``) renders them. Validation is strict: an
unknown key, a missing key or a wrong type is an error naming the file, line and key.
"""

from __future__ import annotations

import datetime
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PATH = Path(__file__).resolve().parent / "site.yml"
#: Set to render the bundle for another site file (the threshold-variation test does).
ENV_VAR = "ESCROW_BUNDLE_SITE"
TIER_NAMES = ("critical", "high", "medium", "low")


class SiteError(ValueError):
    """A site config problem, already formatted as ``file:line: key: problem``."""


@dataclass(frozen=True)
class Mint:
    symbol: str
    decimals: int
    floor: str | None  # None: wallets holding it are not floor-checked
    mismatch_tolerance: str | None  # None: thresholds.mismatch_tolerance (EscrowBalanceMismatch)


@dataclass(frozen=True)
class Wallet:
    floor: str | None
    planned_sweeps: bool


@dataclass(frozen=True)
class RunbookReview:
    """Who owns the runbooks and when they were last reviewed: their front matter."""

    owner: str  # default owner
    last_reviewed: datetime.date  # default date of the last review
    review_every_days: int
    owners: dict[str, str]  # runbook name (file stem) -> its owner
    reviewed: dict[str, datetime.date]  # runbook name -> its last review


@dataclass(frozen=True)
class EmailDigest:
    """The low tier's digest by e-mail, once a day (``email_digest``; absent: no e-mail)."""

    to: str
    sender: str  # the From address
    smarthost: str  # host:port of the SMTP server
    auth_username: str | None
    auth_password_file: str | None  # read by Alertmanager; the password is never in the config
    require_tls: bool


@dataclass(frozen=True)
class Site:
    exporter_job: str
    probe_job: str
    prometheus_job: str
    alertmanager_job: str
    node_job: str
    postgres_job: str
    app_http_job: str
    runbook_url: str  # contains {alert}
    grafana_url: str
    dashboards: dict[str, str]  # uid -> path under grafana_url
    severities: dict[str, str]  # tier -> severity label value
    watchdog_severity: str
    contacts: dict[str, str]  # tier -> who is paged / where it goes (runbook contact trees)
    withdrawal_event: str
    pause_event: str
    pause_errors: tuple[str, ...]
    money_instructions: tuple[str, ...]
    wallet_roles: tuple[str, ...]
    mints: dict[str, Mint]
    accounts: dict[str, Wallet]
    roles: dict[str, Wallet]
    thresholds: dict[str, str]
    runbooks: RunbookReview
    email_digest: EmailDigest | None = None


# Schema: key -> type name; a nested dict is a mapping with exactly these keys ("?" prefix: optional).
_NUM = "number"
_SCHEMA: dict[str, Any] = {
    "selectors": {
        "exporter_job": "str",
        "probe_job": "str",
        "prometheus_job": "str",
        "alertmanager_job": "str",
        "node_job": "str",
        "postgres_job": "str",
        "app_http_job": "str",
    },
    "links": {"runbook_url": "str", "grafana_url": "str", "dashboards": "map:str"},
    "severities": {"critical": "str", "high": "str", "medium": "str", "low": "str", "watchdog": "str"},
    "contacts": {"critical": "str", "high": "str", "medium": "str", "low": "str"},
    "events": {
        "withdrawal": "str",
        "pause": "str",
        "pause_errors": "list:str",
        "money_instructions": "list:str",
    },
    "wallet_roles": "list:str",
    "mints": "map:mint",
    "accounts": "map:wallet",
    "roles": "map:wallet",
    "thresholds": "map:number",
    "runbooks": {
        "owner": "str",
        "last_reviewed": "date",
        "review_every_days": "int",
        "?owners": "map:str",
        "?reviewed": "map:date",
    },
    "?email_digest": {
        "to": "str",
        "from": "str",
        "smarthost": "str",
        "?auth_username": "str",
        "?auth_password_file": "str",
        "?require_tls": "bool",
    },
}
_MINT = {"symbol": "str", "decimals": "int", "?floor": _NUM, "?mismatch_tolerance": _NUM}
_WALLET = {"?floor": _NUM, "?planned_sweeps": "bool"}
#: Every threshold the rules read; a site file must set each one (and no other).
THRESHOLDS = (
    "mismatch_tolerance",
    "balance_stale_seconds",
    "lookback_seconds",
    "withdrawal_spike_factor",
    "withdrawal_spike_floor",
    "spike_settled_lag_seconds",
    "tx_failure_min_rate",
    "tx_failure_ratio_high",
    "tx_failure_ratio_medium",
    "money_ix_failure_ratio_high",
    "money_ix_failure_ratio_critical",
    "money_ix_failure_min_count",
    "compute_units_limit",
    "compute_units_p99",
    "rpc_slot_lag",
    "failovers_per_30m",
    "ingest_lag_high_seconds",
    "ingest_lag_medium_seconds",
    "reconciliation_high_seconds",
    "reconciliation_medium_seconds",
    "webhook_latency_seconds",
    "outbox_depth",
    "exporter_memory_bytes",
    "exporter_fds_ratio",
    "rpc_latency_p95_seconds",
    "rpc_error_ratio",
    "audit_log_silence_seconds",
    "prometheus_notification_queue_ratio",
    "reconciliation_agreeing_runs",
    "reconciliation_blocked_ticket_seconds",
    "reconciliation_blocked_page_seconds",
    "capacity_forecast_seconds",
    "state_file_budget_bytes",
    "prometheus_tsdb_budget_bytes",
    "ledger_database_budget_bytes",
    # Uptime and SLOs, platform health (issue 17; bundle/slo.py, bundle/platform.py).
    "app_availability_slo",
    "exporter_freshness_slo",
    "exporter_freshness_seconds",
    "probe_latency_p95_medium_seconds",
    "probe_latency_p95_high_seconds",
    "cpu_medium_ratio",
    "cpu_high_ratio",
    "memory_medium_ratio",
    "memory_high_ratio",
    "disk_medium_ratio",
    "disk_high_ratio",
    "postgres_connections_medium_ratio",
    "postgres_connections_high_ratio",
    "postgres_slow_query_seconds",
    "http_error_medium_ratio",
    "http_error_high_ratio",
    "http_error_critical_ratio",
    "http_latency_p95_medium_seconds",
    "http_latency_p95_high_seconds",
    "http_min_requests",
    "http_request_spike_factor",
    "http_request_spike_floor",
    "network_spike_factor",
    "network_spike_floor_bytes",
    # Payments and business (bundle/payments.py)
    "failed_payment_ratio_medium",
    "failed_payment_ratio_high",
    "failed_payment_min_attempts",
    "chargebacks_per_hour_high",
    "chargebacks_per_hour_critical",
    "chargeback_payment_ratio",
    "backup_max_age_seconds",
)
#: Ratios whose medium (warning) tier must sit below the high (critical) one: site key prefix.
_TIER_PAIRS = ("probe_latency_p95", "cpu", "memory", "disk", "postgres_connections", "http_error")
#: SLO targets: a ratio of good events, above 0 and below 1 (1 would leave no error budget).
_SLOS = ("app_availability_slo", "exporter_freshness_slo")


def _err(path: Path, node: yaml.Node, key: str, problem: str) -> SiteError:
    return SiteError(f"{path}:{node.start_mark.line + 1}: {key}: {problem}")


def _child(mapping: yaml.Node, key: str) -> yaml.Node:
    """The value node of ``key`` in a mapping node (for the line an error names)."""
    return next(v for k, v in mapping.value if k.value == key)


def _number(text: str) -> str:
    """Numbers are kept as written (they go into PromQL verbatim), but must parse."""
    float(text)
    return text


def _check(path: Path, node: yaml.Node, schema: Any, key: str) -> Any:
    """The plain Python value of ``node`` after checking it against ``schema``."""
    if isinstance(schema, dict):
        if not isinstance(node, yaml.MappingNode):
            raise _err(path, node, key, "expected a mapping")
        out: dict[str, Any] = {}
        allowed = {k.lstrip("?"): k for k in schema}
        for k_node, v_node in node.value:
            name = k_node.value
            full = f"{key}.{name}" if key else name
            if name not in allowed:
                raise _err(path, k_node, full, f"unknown key (expected one of: {', '.join(sorted(allowed))})")
            if name in out:
                raise _err(path, k_node, full, "given twice")
            out[name] = _check(path, v_node, schema[allowed[name]], full)
        for k in schema:
            if not k.startswith("?") and k not in out:
                raise _err(path, node, f"{key}.{k}" if key else k, "missing")
        return out
    if schema.startswith("map:"):
        inner = {"mint": _MINT, "wallet": _WALLET}.get(schema[4:], schema[4:])
        if not isinstance(node, yaml.MappingNode):
            raise _err(path, node, key, "expected a mapping")
        result: dict[str, Any] = {}
        for k_node, v_node in node.value:
            if k_node.value in result:
                raise _err(path, k_node, f"{key}.{k_node.value}", "given twice")
            result[k_node.value] = _check(path, v_node, inner, f"{key}.{k_node.value}")
        return result
    if schema.startswith("list:"):
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            raise _err(path, node, key, "expected a non-empty list")
        return [_check(path, n, schema[5:], f"{key}[{i}]") for i, n in enumerate(node.value)]
    if not isinstance(node, yaml.ScalarNode):
        raise _err(path, node, key, f"expected a {schema}")
    text = node.value
    try:
        if schema == _NUM:
            return _number(text)
        if schema == "int":
            return int(text)
        if schema == "date":
            return datetime.date.fromisoformat(text)
        if schema == "bool":
            if text not in ("true", "false"):
                raise ValueError
            return text == "true"
    except ValueError:
        raise _err(path, node, key, f"expected a {schema}, got {text!r}") from None
    if not text.strip():
        raise _err(path, node, key, "must not be empty")
    return text


def load(path: Path | None = None) -> Site:
    path = path or Path(os.environ.get(ENV_VAR) or DEFAULT_PATH)
    try:
        root = yaml.compose(path.read_text())
    except OSError as e:
        raise SiteError(f"{path}: cannot read: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise SiteError(f"{path}: not valid YAML: {e}") from None
    if root is None:
        raise SiteError(f"{path}:1: the site config is empty")
    data = _check(path, root, _SCHEMA, "")
    thresholds = data["thresholds"]
    t_node = _child(root, "thresholds")
    for name in THRESHOLDS:
        if name not in thresholds:
            raise _err(path, t_node, f"thresholds.{name}", "missing")
    for k_node, _ in t_node.value:
        if k_node.value not in THRESHOLDS:
            raise _err(path, k_node, f"thresholds.{k_node.value}", "unknown threshold")
    runs = thresholds["reconciliation_agreeing_runs"]
    if float(runs) < 1 or float(runs) != int(float(runs)):
        node = _child(t_node, "reconciliation_agreeing_runs")
        raise _err(path, node, "thresholds.reconciliation_agreeing_runs", "must be a whole number >= 1")
    if float(thresholds["reconciliation_blocked_ticket_seconds"]) >= float(
        thresholds["reconciliation_blocked_page_seconds"]
    ):
        node = _child(t_node, "reconciliation_blocked_page_seconds")
        raise _err(
            path,
            node,
            "thresholds.reconciliation_blocked_page_seconds",
            "must be above reconciliation_blocked_ticket_seconds (it tickets first, then pages)",
        )
    if data["runbooks"]["review_every_days"] < 1:
        node = _child(root, "runbooks")
        raise _err(path, node, "runbooks.review_every_days", "must be a whole number of days >= 1")
    queue = thresholds["prometheus_notification_queue_ratio"]
    if not 0 < float(queue) < 1:  # the queue drops alerts at 1: the alert must come before that
        node = _child(t_node, "prometheus_notification_queue_ratio")
        raise _err(
            path, node, "thresholds.prometheus_notification_queue_ratio", "must be a ratio between 0 and 1"
        )
    for slo in _SLOS:
        if not 0 < float(thresholds[slo]) < 1:
            node = _child(t_node, slo)
            raise _err(path, node, f"thresholds.{slo}", "must be a ratio between 0 and 1 (0.999 is 99.9 %)")
    for prefix in _TIER_PAIRS:
        medium, high = (
            next(n for n in THRESHOLDS if n.startswith(prefix + "_" + t)) for t in ("medium", "high")
        )
        if float(thresholds[medium]) >= float(thresholds[high]):
            node = _child(t_node, high)
            raise _err(
                path, node, f"thresholds.{high}", f"must be above {medium} (warning first, then critical)"
            )
    if not float(thresholds["http_error_high_ratio"]) < float(thresholds["http_error_critical_ratio"]) <= 1:
        node = _child(t_node, "http_error_critical_ratio")
        raise _err(
            path,
            node,
            "thresholds.http_error_critical_ratio",
            "must be above http_error_high_ratio and at most 1",
        )
    sev = data["severities"]
    tiers = [sev[t] for t in TIER_NAMES]
    if len(set(tiers)) != len(tiers):
        node = _child(root, "severities")
        raise _err(
            path, node, "severities", "the four tiers need distinct names (Alertmanager routes on them)"
        )
    if "{alert}" not in data["links"]["runbook_url"]:
        node = _child(root, "links")
        raise _err(path, node, "links.runbook_url", "must contain {alert}")
    for key in ("pause_errors", "money_instructions"):
        for name in data["events"][key]:
            if not re.fullmatch(r"[A-Za-z0-9_]+", name):
                raise SiteError(f"{path}: events.{key}: {name!r} is not a name of the program's IDL")

    m_node = _child(root, "mints")
    for k_node, v_node in m_node.value:
        mint, v = k_node.value, data["mints"][k_node.value]
        fields = {k.value: n for k, n in v_node.value}
        if not re.fullmatch(r"[A-Za-z0-9._-]+", v["symbol"]):  # alert texts name the mint by it
            raise _err(
                path, fields["symbol"], f"mints.{mint}.symbol", "letters, digits, '.', '_' or '-' only"
            )
        if not 0 <= v["decimals"] <= 18:
            raise _err(path, fields["decimals"], f"mints.{mint}.decimals", "must be between 0 and 18")
        tolerance = v.get("mismatch_tolerance")
        if tolerance is not None and float(tolerance) < 10 ** -v["decimals"]:
            raise _err(
                path,
                fields["mismatch_tolerance"],
                f"mints.{mint}.mismatch_tolerance",
                f"{tolerance} is below one base unit of a {v['decimals']}-decimal mint "
                f"({10 ** -v['decimals']:g}): every rounding would page",
            )

    email = data.get("email_digest")
    if email is not None:
        e_node = _child(root, "email_digest")
        for key in ("to", "from"):
            if not re.fullmatch(r"[^@\s,]+@[^@\s,]+", email[key]):
                raise _err(
                    path,
                    _child(e_node, key),
                    f"email_digest.{key}",
                    f"expected one e-mail address, got {email[key]!r}",
                )
        if not re.fullmatch(r"[^:\s]+:\d+", email["smarthost"]):
            raise _err(
                path,
                _child(e_node, "smarthost"),
                "email_digest.smarthost",
                f"expected host:port, got {email['smarthost']!r}",
            )
        if ("auth_username" in email) != ("auth_password_file" in email):
            raise _err(path, e_node, "email_digest", "auth_username and auth_password_file go together")

    def wallet(v: dict[str, Any]) -> Wallet:
        return Wallet(v.get("floor"), bool(v.get("planned_sweeps", False)))

    return Site(
        exporter_job=data["selectors"]["exporter_job"],
        probe_job=data["selectors"]["probe_job"],
        prometheus_job=data["selectors"]["prometheus_job"],
        alertmanager_job=data["selectors"]["alertmanager_job"],
        node_job=data["selectors"]["node_job"],
        postgres_job=data["selectors"]["postgres_job"],
        app_http_job=data["selectors"]["app_http_job"],
        runbook_url=data["links"]["runbook_url"],
        grafana_url=data["links"]["grafana_url"].rstrip("/"),
        dashboards=data["links"]["dashboards"],
        severities={t: sev[t] for t in TIER_NAMES},
        watchdog_severity=sev["watchdog"],
        contacts=data["contacts"],
        withdrawal_event=data["events"]["withdrawal"],
        pause_event=data["events"]["pause"],
        pause_errors=tuple(data["events"]["pause_errors"]),
        money_instructions=tuple(data["events"]["money_instructions"]),
        wallet_roles=tuple(data["wallet_roles"]),
        mints={
            m: Mint(v["symbol"], v["decimals"], v.get("floor"), v.get("mismatch_tolerance"))
            for m, v in data["mints"].items()
        },
        accounts={a: wallet(v) for a, v in data["accounts"].items()},
        roles={r: wallet(v) for r, v in data["roles"].items()},
        thresholds=thresholds,
        runbooks=RunbookReview(
            owner=data["runbooks"]["owner"],
            last_reviewed=data["runbooks"]["last_reviewed"],
            review_every_days=data["runbooks"]["review_every_days"],
            owners=data["runbooks"].get("owners", {}),
            reviewed=data["runbooks"].get("reviewed", {}),
        ),
        email_digest=None
        if email is None
        else EmailDigest(
            to=email["to"],
            sender=email["from"],
            smarthost=email["smarthost"],
            auth_username=email.get("auth_username"),
            auth_password_file=email.get("auth_password_file"),
            require_tls=email.get("require_tls", True),
        ),
    )


#: The example links the repository ships (the demo uses them), each with what to set instead: a
#: site still carrying one sends responders to runbooks that do not exist and to a Grafana on their
#: own machine.
EXAMPLE_LINKS = {
    "runbook_url": ("https://github.com/example/", "where your runbooks are served"),
    "grafana_url": ("http://localhost:3000", "your Grafana's address"),
}


def example_links(path: Path | None = None) -> list[str]:
    """A one-line warning, ``file:line: links.key``, per link still set to the shipped example."""
    path = path or Path(os.environ.get(ENV_VAR) or DEFAULT_PATH)
    repo = DEFAULT_PATH.parent.parent
    shown = path.relative_to(repo) if path.is_relative_to(repo) else path
    root = yaml.compose(path.read_text())
    assert root is not None, f"{path}: validated by load() before"
    links = _child(root, "links")
    warnings = []
    for key, value in links.value:
        example, instead = EXAMPLE_LINKS.get(key.value, (None, ""))
        if example and str(value.value).startswith(example):
            warnings.append(
                f"warning: {shown}:{value.start_mark.line + 1}: links.{key.value} is still the example "
                f"{value.value}: set {instead} (docs/alerts.md, Links)"
            )
    return warnings


def libsonnet(site: Site) -> str:
    """``grafana/lib/site.libsonnet``: the site's thresholds for the dashboards' colour steps, so a
    panel turns orange/red at the value its alert uses. Numbers as written in the site file."""

    def number(text: str) -> str:
        value = float(text)
        return str(int(value)) if value.is_integer() else repr(value)

    lines = [
        "// Generated from bundle/site.yml by `make rules` -- edit that file, then re-run `make rules`.",
        "// The alert thresholds, in the metric's unit: the dashboards' colour steps read them.",
        "{",
        "  thresholds: {",
        *(f"    {name}: {number(site.thresholds[name])}," for name in THRESHOLDS),
        "  },",
        "  // Prometheus and Alertmanager scraping themselves: the exporter dashboard's alerting pipeline row.",
        f"  selectors: {{ prometheus_job: '{site.prometheus_job}', alertmanager_job: '{site.alertmanager_job}' }},",
        "  // The severity labels that page (P0, P1): the weekly review counts pages out of hours.",
        f"  page_severities: '{site.severities['critical']}|{site.severities['high']}',",
        "  // The job of the application's own /metrics (the Application overview dashboard).",
        f"  app_http_job: '{site.app_http_job}',",
        "}",
    ]
    return "\n".join(lines) + "\n"
