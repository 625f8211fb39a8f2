"""Render rule files, promtool test files and docs/alerts.md from ``bundle.config``.

Pure functions from the config to file contents (path relative to the repository -> text), so
``scripts/gen_rules.py`` writes them and a test compares them with the committed files.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from bundle import amconfig
from bundle.cases import CASES
from bundle.cases.common import Case, Fired
from bundle.config import (
    ALERTS,
    PRIORITY,
    RECORDINGS,
    RULE_GROUP_FILES,
    SITE,
    TIERS,
    Alert,
    alert_by_name,
    dashboard_url,
    fill,
    runbook_url,
    severity_label,
)
from bundle.runbooks import runbooks
from bundle.site import libsonnet as site_libsonnet

HEADER = "# Generated from bundle/site.yml and bundle/config.py by `make rules` -- edit those, then re-run.\n"


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (PromQL) as literal blocks; everything else as plain YAML."""


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=10_000, allow_unicode=True)


def alert_annotations(alert: Alert, threshold: str) -> dict[str, str]:
    return {
        "summary": alert.summary,
        "description": fill(alert.description, threshold),
        "runbook_url": runbook_url(alert.name),
        "dashboard_url": dashboard_url(alert.dashboard),
    }


def alert_rules(alert: Alert) -> list[dict[str, Any]]:
    rules = []
    for tier in sorted(alert.tiers, key=TIERS.index):
        threshold = alert.tiers[tier]
        rule: dict[str, Any] = {"alert": alert.name, "expr": fill(alert.expr, threshold)}
        if alert.for_ != "0m":
            rule["for"] = alert.for_
        if alert.keep_firing_for:
            rule["keep_firing_for"] = alert.keep_firing_for
        rule["labels"] = {"severity": severity_label(alert, tier), **alert.labels}
        rule["annotations"] = alert_annotations(alert, threshold)
        rules.append(rule)
    return rules


def rule_files() -> dict[str, str]:
    out = {}
    for group, filename in RULE_GROUP_FILES.items():
        rules: list[dict[str, Any]] = [
            {"record": r.record, "expr": fill(r.expr)} | ({"labels": dict(r.labels)} if r.labels else {})
            for r in RECORDINGS
            if r.group == group
        ]
        for a in ALERTS:
            if a.group == group:
                rules.extend(alert_rules(a))
        doc = {"groups": [{"name": f"escrow.{group}", "rules": rules}]}
        out[f"prometheus/rules/{filename}"] = HEADER + dump(doc)
    return out


def render_description(template: str, labels: dict[str, str], value: str) -> str:
    """What Prometheus renders for the two template forms our descriptions use."""

    def label(m: re.Match[str]) -> str:
        return labels.get(m.group(1), "")  # Prometheus renders a missing label as ""

    def choice(m: re.Match[str]) -> str:  # {{ if eq $labels.x "a" }}A{{ else if ... }}{{ else }}D{{ end }}
        branches = re.findall(r'(?:if|else if) eq \$labels\.([a-z_]+) "([^"]*)" \}\}(.*?)\{\{ ', m.group(0))
        for name, wanted, text in branches:
            if labels.get(name, "") == wanted:
                return str(text)
        return str(m.group(1))

    template = re.sub(r"\{\{ if eq .*?\{\{ else \}\}(.*?)\{\{ end \}\}", choice, template)
    text = re.sub(r"\{\{ \$labels\.([a-z_]+) \}\}", label, template)
    text = re.sub(r"\{\{ \$value[^}]*\}\}", value, text)
    if "{{" in text:
        raise ValueError(f"bundle/render.py: cannot pre-render template fragment in: {text}")
    return text


def _test_group(case: Case) -> dict[str, Any]:
    alert = alert_by_name(case.alert)
    exp = []
    for f in case.fires:
        threshold = alert.tiers[f.severity]
        ann = alert_annotations(alert, threshold)
        labels = {**f.labels, "severity": severity_label(alert, f.severity), **alert.labels}
        ann["description"] = render_description(ann["description"], labels, f.value)
        exp.append({"exp_labels": labels, "exp_annotations": ann})
    return {
        "name": f"{case.alert}: {case.title}",
        "interval": case.interval,
        "input_series": [{"series": s, "values": v} for s, v in case.series.items()],
        "alert_rule_test": [{"eval_time": case.at, "alertname": case.alert, "exp_alerts": exp}],
    }


def drill_file() -> str:
    """prometheus/tests/drill_test.yml: every alert at every checkpoint of bundle.drill."""
    from bundle import drill

    tests = []
    for cp in drill.CHECKPOINTS:
        expected = {"Watchdog": [Fired("low", {}, "1")], **cp.fires}
        for alert in ALERTS:
            exp = []
            for f in expected.get(alert.name, []):
                ann = alert_annotations(alert, alert.tiers[f.severity])
                labels = {**f.labels, "severity": severity_label(alert, f.severity), **alert.labels}
                ann["description"] = render_description(ann["description"], labels, f.value)
                exp.append({"exp_labels": labels, "exp_annotations": ann})
            tests.append({"eval_time": f"{cp.at}m", "alertname": alert.name, "exp_alerts": exp})
    doc = {
        "rule_files": [f"../rules/{f}" for f in RULE_GROUP_FILES.values()],
        "evaluation_interval": "1m",
        "tests": [
            {
                "name": "a day in the life: " + "; ".join(f"{cp.at}m {cp.step}" for cp in drill.CHECKPOINTS),
                "interval": "1m",
                "input_series": [{"series": k, "values": v} for k, v in drill.series().items()],
                "alert_rule_test": tests,
            }
        ],
    }
    return HEADER + dump(doc)


_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def rule_groups_for(alert_names: set[str]) -> list[str]:
    """The rule groups these alerts need: their own, and by closure every group that records a
    series, or holds an alert (``ALERTS{alertname=...}``), that one of their expressions names.
    promtool evaluates every loaded rule at every step, so a test file that loads only these runs
    in about half the time of one that loads them all; ``tests/test_rules.py`` checks the closure
    from the rendered files."""
    producers = {r.record: r.group for r in RECORDINGS} | {a.name: a.group for a in ALERTS}
    exprs: dict[str, list[str]] = {}
    for r in RECORDINGS:
        exprs.setdefault(r.group, []).append(r.expr)
    for a in ALERTS:
        exprs.setdefault(a.group, []).append(a.expr)
    needed = {alert_by_name(n).group for n in alert_names}
    todo = list(needed)
    while todo:
        for expr in exprs.get(todo.pop(), []):
            for name in _NAME.findall(expr):
                group = producers.get(name)
                if group is not None and group not in needed:
                    needed.add(group)
                    todo.append(group)
    return [g for g in RULE_GROUP_FILES if g in needed]


def test_files() -> dict[str, str]:
    by_file: dict[tuple[str, str], list[Case]] = {}
    for case in CASES:
        group = alert_by_name(case.alert).group
        by_file.setdefault((group, case.evaluation_interval), []).append(case)
    out = {}
    for (group, every), cases in by_file.items():
        suffix = "" if every == "1m" else f"_eval{every}"
        groups = rule_groups_for({c.alert for c in cases})
        doc = {
            "rule_files": [f"../rules/{RULE_GROUP_FILES[g]}" for g in groups],
            "evaluation_interval": every,
            "tests": [_test_group(c) for c in cases],
        }
        out[f"prometheus/tests/{group}{suffix}_test.yml"] = HEADER + dump(doc)
    out["prometheus/tests/drill_test.yml"] = drill_file()
    return out


ALERTS_DOC_INTRO = """\
# Alerts

Every alert the bundle ships, generated from `bundle/site.yml` (the site config: what an operator
edits) and `bundle/config.py` (the rules' logic); run `make rules` after an edit. Rules:
`prometheus/rules/*.yml`; unit tests: `prometheus/tests/*.yml`; routing: `alertmanager/alertmanager.yml`
(rendered from `bundle/alertmanager.yml` with the site's severity names).

## The site config (`bundle/site.yml`)

Like a monitoring mixin's `_config`, one YAML file holds everything site-specific; it is
validated strictly (an unknown, missing or mistyped key is reported as `file:line: key: problem`).

| section | what it sets |
|---|---|
| `selectors` | the `job` of the exporter, the blackbox probes, Prometheus and Alertmanager scraping themselves |
| `links` | `runbook_url` (a pattern with `{alert}`), `grafana_url` and each dashboard's path: every alert's `runbook_url` / `dashboard_url` annotation |
| `severities` | the `severity` label of each tier and of Watchdog (kube-prometheus names: `critical`, `warning`, `info`, Watchdog `none`); Alertmanager's matchers and templates follow |
| `contacts` | who answers each tier: the "Contact tree" section of every runbook |
| `runbooks` | who owns the runbooks and when each was last reviewed (`owner`, `last_reviewed`, `review_every_days`, per-runbook `owners` and `reviewed`): the front matter of every runbook and of docs/incident-response.md |
| `events` | the event names meaning "withdrawal" and "pause", and the errors of transactions rejected while paused |
| `wallet_roles` | the account roles whose wallets are floor-checked |
| `mints` | per mint: symbol (names the mint in alert descriptions; an unlisted mint is named by its address), decimals (`mismatch_tolerance` may not be below one base unit), `floor` (a mint without a floor is not floor-checked) and `mismatch_tolerance` (optional; else `thresholds.mismatch_tolerance`) |
| `accounts`, `roles` | per account or role: its own `floor`, `planned_sweeps: true` (emptied on purpose, never floor-checked) |
| `thresholds` | every threshold the rules use, in the metric's unit |

Links. The repository ships example links, which the demo uses: `links.runbook_url`
(`https://github.com/example/...`) and `links.grafana_url` (`http://localhost:3000`) in
`bundle/site.yml`, under `links:`. Every alert's `runbook_url` and `dashboard_url` annotation, and
so every Slack message and PagerDuty incident, is built from them: set `runbook_url` to where your
`docs/runbooks/*.md` are served (`{alert}` becomes the alert name) and `grafana_url` to your
Grafana's address, then run `make rules`. Until then `make rules` prints a warning naming the
file, line and key of each example still in place (a warning, not an error).

Alertmanager. `make rules` also writes `alertmanager/alertmanager.yml`, the file docker-compose
mounts, from its source `bundle/alertmanager.yml` (routes, inhibitions, receivers; edit that one)
with every `severity` matcher renamed to the names under `severities`: a site using
kube-prometheus' names pages on `warning`, not on `high`. Tests fail when the committed file
differs from what the site config renders.

Two tolerances, two alerts. `mismatch_tolerance` (per mint, in whole units) is what the time-based
`EscrowBalanceMismatch` tolerates: it compares a balance and a ledger read at different moments, so
its tolerance is a judgement per token (0.01 USDC is a cent; 0.01 SOL is worth far more, hence SOL's
own `0.001`), and it alone lives in this file. The exact reconciliation (`EscrowReconciliationMismatch`)
compares chain, events and ledger at one slot in raw units; its tolerance is the exporter config's
`reconciliation.tolerance` (per mint, raw units; default 0: any drift), because the exporter counts the mismatch streak the
alert reads and must apply the same tolerance. `reconciliation_agreeing_runs` and
`reconciliation_blocked_{ticket,page}_seconds` (thresholds) set how many consecutive reconciliations
must agree and how long reconciliation may be blocked before it tickets or pages.

`python scripts/gen_rules.py --site FILE --out DIR` renders the whole bundle for another site file
(rules, promtool tests whose boundary values derive from its thresholds, Alertmanager config and
templates, PrometheusRule); `tests/test_site.py` does this with other thresholds, names and links
and runs promtool and amtool on the result.

A day in the life (`bundle/drill.py`, rendered to `prometheus/tests/drill_test.yml`, run by
`make test`): four compressed hours of a healthy platform going through a first deployment's
backfill, an exporter restart, a 3-minute scrape failure, a 10-minute Prometheus outage, a planned
pause and resume, a planned fee sweep, a database restart and an RPC failover; at checkpoints
after each step every alert is evaluated, and only Watchdog and what the step must cause fire
(`EscrowExporterDown` during the scrape failure, `EscrowProgramPaused` during the pause, which
the runbook silences beforehand).

Gaps longer than the lookback. "Seen before" (the new-series clause of `EscrowProgramPaused`,
`EscrowEventDecodeErrors` and `EscrowLedgerWriteErrors`) and "last good read" look back
`thresholds.lookback_seconds` ([[lookback_seconds]] s here), so scrape failures and Prometheus
outages shorter than that page nothing. A series absent for longer (Prometheus down, or the
exporter unscraped, for longer than that) looks new when it returns: those three alerts can fire once for
a pause, decode error or write error counted before the gap. After such an outage, check their
counters' history before acting, or raise `lookback_seconds` (every evaluation then reads more
samples).

A healthy hour (`make soak`, `bench/soak.py`): the exporter on the example config under the
simulator's traffic for 60 minutes, scraped by a real Prometheus with these rules and routed by a
real Alertmanager with this config; at the end only Watchdog may fire and nothing may have reached
PagerDuty (`--minutes N` sets the length, `--for-override 10s` shortens every `for:` for a short
run; `tests/test_soak_alerts.py` runs one minute that way, with an always-firing canary rule to
show the check catches a page).

## Tiers (from the platform's severity policy)

| tier | meaning | where it goes | answer | group_wait / group_interval / repeat |
|---|---|---|---|---|
| `critical` (P0) | money at risk, payments or the application down, data loss | PagerDuty high-urgency service + Slack `#escrow-critical` | immediately (page at once, within 15 min) | 10s / 1m / 1h |
| `high` (P1) | needs a human soon | PagerDuty low-urgency service + Slack `#escrow-alerts` | within 30 min; escalates after 1 h | 30s / 5m / 4h |
| `medium` (P2) | needs attention today | Slack `#escrow-alerts` | within 4 h | 1m / 10m / 12h |
| `low` (P3) | review in the next working day | Slack `#escrow-digest`, one batched digest listing firing and resolved alerts | daily review | 10m / 1h / 24h |
| `Watchdog` | always firing | dead-man's-switch webhook every minute | | 0s / 1m / 1m |

How PagerDuty carries the policy (configure the two services so): the **high-urgency service**
(P0) notifies with high urgency at once and its escalation policy escalates an unacknowledged
incident to the secondary after 15 minutes. The **low-urgency service** (P1) uses an escalation
policy whose first level is the primary on-call with a 30-minute escalation timeout (not
acknowledged in 30 minutes: the secondary is paged), and an *acknowledgement timeout* of 60
minutes: an incident acknowledged but not resolved within an hour re-triggers and walks the
escalation policy again, so an unresolved P1 escalates after 1 hour. Alertmanager re-sends a
firing P1 every 4 hours (`repeat_interval`) under the same dedup key, which never opens a second
incident. Who is on each level: `contacts` in the site config (and every runbook's contact tree).

Tier review (issue 13): money-path signals are P0: `EscrowBalanceMismatch`, `EscrowAuditLogGap`
(a lost write or tampering), `EscrowWithdrawalSpike` and `EscrowWithdrawalAmountSpike` (a drain in
progress), `EscrowLedgerWriteErrors` (money the books do not know about), `EscrowPaymentWebhooksStopped`
(payments not processed), `EscrowAppProbeFailed` (the application down) and `EscrowRpcOutage`
(every balance and event blind). Losing one source of visibility (exporter, database connection,
a stale balance, the alerting pipeline itself) is P1; degraded but working is P2.

Uptime, SLOs and platform health (issue 17; `bundle/slo.py`, `bundle/platform.py`). The
application's health endpoints are probed by blackbox_exporter with status and body-keyword
modules (`prometheus/blackbox.yml`: `"status":"ok"`, `"database":{"status":"up"}`); a URL is
available while every module probing it succeeds. Two SLOs over 30 days, targets in the site
config: availability (`app_availability_slo`, 99.9 %) and the exporter's freshness (every collector
finished a cycle within `exporter_freshness_seconds`; `exporter_freshness_slo`, 99.95 %). Their
error ratios are recorded per window (`instance:escrow_app_probe_errors:ratio_avg<window>`,
`instance:escrow_exporter_stale:ratio_avg<window>`) and alerted the SRE workbook's way (multiple
windows, multiple burn rates, as sloth and pyrra generate): `...BudgetBurnFast` when the budget
burns 14.4x on 1h and 5m or 6x on 6h and 30m (availability: P0, freshness: P1), `...BudgetBurnSlow`
(P2, a ticket) at 3x on 1d and 2h or 1x on 3d and 6h. A 99.9 % SLO pages after about a minute of
hard outage, together with `EscrowAppProbeFailed`. Each target is also recorded as a series
(`escrow_slo:objective:ratio{slo, sli}`), from which `escrow-exporter sla-report` writes the
monthly SLA report (docs/sla-reports.md). The platform's threshold table (seeds 003/004)
is warning (P2) / critical (P1) pairs on node_exporter and postgres_exporter: CPU 70/90 %, memory
80/95 %, disk 80/90 %, p95 probe latency 0.5/2 s; database connections 80/95 % of max_connections
(critical at 95 %: the platform's "pool exhausted" is P0), the database down (P0), a transaction
active beyond `postgres_slow_query_seconds` (P2). The table's error rate (1/5 %, and 50 %: seed
004's P0 "production completely down") and request p95 (500/2000 ms) read the application's own
metrics under `app_http_job` (`http_requests_total{code}`,
`http_request_duration_seconds`: `EscrowAppHttpErrors`, `EscrowAppHttpLatencyHigh`, quiet below
`http_min_requests` requests in 5 minutes), and its request rate (`EscrowAppRequestRateSpike`, P2:
`http_request_spike_factor` times the same hour's 7-day average, above `http_request_spike_floor`
requests per second), plotted on "Escrow / Application overview". On the demo and compose stacks
the simulator serves these metrics (`devchain/app_http.py`).

Discord is an optional extra channel for `critical` and `high`, added by
`python -m bundle.amconfig --out OUT --discord-webhook-url-file FILE` (see `alertmanager/README.md`).

Grouping: `critical` and `high` group by `alertname`, `program`, `account`, `mint`, `instance` and
`database`, so each affected account or exporter is its own PagerDuty incident (two wallets below
their floor are two pages) and its title names them (`[HIGH] EscrowWalletBelowFloor account=treasury_sol
mint=SOL: ...`); `medium` groups by `alertname` and `program`; the `low` digest is one message for all
low alerts, sent at most hourly, listing the firing ones and those resolved since the previous
digest (a low alert that fired and cleared in between is still reported).

Inhibitions: a `critical` alert mutes `high`/`medium`/`low` alerts with the same `alertname`,
`program`, `account`, `mint` and `instance` (and `high` mutes `medium`/`low`, `medium` mutes `low`);
`EscrowRpcOutage` mutes its symptoms on the same exporter (same `job` and `instance`:
`EscrowRpcEndpointDown`, `EscrowRpcEndpointLagging`, `EscrowRpcFailoverFlapping`,
`EscrowRpcLatencyHigh`, `EscrowRpcErrorRatio`,
`EscrowBalanceStale`, `EscrowIngestLag`, and `EscrowCollectorFailing` for the non-SQL collectors;
an outage on one shard mutes nothing on another); `EscrowSqlDatabaseDown` mutes `EscrowSqlQueryFailing`
and `EscrowCollectorFailing` of the SQL collectors (`sql`, `sql:<query>`) on the same exporter;
`EscrowRpcEndpointDown` mutes `EscrowRpcEndpointLagging`, `EscrowRpcErrorRatio` and
`EscrowRpcLatencyHigh` of the same endpoint (a lagging endpoint is reported down too);
`EscrowProgramPaused` mutes `EscrowTransactionFailureRatio` and `EscrowMoneyInstructionFailures` for the same program (every
transaction fails with `ProgramPaused` while paused); `EscrowAppProbeFailed` mutes
`EscrowAppErrorBudgetBurnFast`, `EscrowAppErrorBudgetBurnSlow` and `EscrowAppProbeSlow` of the same
probe (same `job` and `instance`): one outage, one page. The fast burn crosses 14.4x after about a
minute of hard outage, so it waits 3m (`for:`), longer than `EscrowAppProbeFailed`'s 2m, and the
cause is firing when it reaches Alertmanager. Its windows outlive the outage (up to 5 minutes, or
30 minutes after an outage of more than about 2 minutes: the 6h/30m pair), so the rule itself does
not fire while `EscrowAppProbeFailed` fires nor for 30 minutes after (`unless` on the
`ALERTS` series): once the cause resolves, the inhibition ends, and the burn would otherwise page
again for an outage that is over. A flapping application that never fails 2 minutes in a row
still pages through the burn. Nothing mutes `EscrowAppProbeFailed`: the application can fail independently
of the exporter.

A planned pause or maintenance: create a silence first (`amtool silence add alertname=EscrowProgramPaused
program=paid_match --duration=2h --comment="planned: <ticket>"`).

## Alert list

`keep_firing_for` holds an alert this long after its condition clears: set on the outages whose
symptoms Alertmanager mutes (`EscrowRpcOutage`, `EscrowRpcEndpointDown`, `EscrowSqlDatabaseDown`),
because the symptoms clear a cycle after the cause and would otherwise notify in between.

| alert | tier | condition | for | keep_firing_for | runbook |
|---|---|---|---|---|---|
"""


def alerts_doc() -> str:
    rows = []
    for a in ALERTS:
        for tier in sorted(a.tiers, key=TIERS.index):
            cond = fill(a.condition, a.tiers[tier]).replace("|", "\\|")
            rows.append(
                f"| `{a.name}` | {tier} | {cond} | {a.for_} | {a.keep_firing_for or '-'} "
                f"| [runbooks/{a.name}.md](runbooks/{a.name}.md) |"
            )
    procedures = """
## Procedures

* [Treasury key rotation](runbooks/treasury-key-rotation.md)
* [Emergency pause and resume](runbooks/emergency-pause-resume.md)
* [Solana RPC outage: switch providers, queued mode, replay](runbooks/rpc-outage.md)
* [Fraud escalation and chargebacks](runbooks/fraud-escalation-chargebacks.md)
* [Escrow mismatch investigation](runbooks/escrow-mismatch-investigation.md)
* [Audit-log gap](runbooks/audit-log-gap.md)
* [Backup and restore: exporter state file and business database](runbooks/backup-restore.md)
"""
    return fill(ALERTS_DOC_INTRO) + "\n".join(rows) + "\n" + procedures


def site_template() -> str:
    """The Alertmanager templates that name the site's severities."""
    sev = SITE.severities

    def chain(mapping: list[tuple[str, str]], default: str, subject: str) -> str:
        parts = [
            f'{"if" if i == 0 else "else if"} eq {subject} "{name}" }}}}{value}{{{{ '
            for i, (name, value) in enumerate(mapping)
        ]
        return "{{ " + "".join(parts) + f"else }}}}{default}{{{{ end }}}}"

    tiers = list(TIERS)
    priority = chain([(sev[t], PRIORITY[t]) for t in tiers], "untiered", ".")
    color = chain(
        [(sev["critical"], "danger"), (sev["high"], "warning")], "#439FE0", ".CommonLabels.severity"
    )
    # PagerDuty Events v2 accepts only critical, error, warning, info.
    pd = [(sev["critical"], "critical"), (sev["high"], "error"), (sev["medium"], "warning")]
    return (
        "{{/* Generated from bundle/site.yml by `make rules`: the templates that name the site's\n"
        "     severities. The rest is in escrow.tmpl. */}}\n\n"
        f'{{{{ define "escrow.priority" }}}}{priority}{{{{ end }}}}\n\n'
        f'{{{{ define "escrow.slack.color" }}}}{{{{ if eq .Status "resolved" }}}}good{{{{ else }}}}'
        f"{color}{{{{ end }}}}{{{{ end }}}}\n\n"
        f'{{{{ define "escrow.pagerduty.severity" }}}}{chain(pd, "info", ".CommonLabels.severity")}{{{{ end }}}}\n'
    )


def all_files() -> dict[str, str]:
    return {
        **rule_files(),
        **runbooks(),
        **test_files(),
        "docs/alerts.md": alerts_doc(),
        "alertmanager/templates/site.tmpl": site_template(),
        amconfig.OUTPUT: amconfig.render(),
        "grafana/lib/site.libsonnet": site_libsonnet(SITE),
    }
