"""Uptime and SLOs: availability of the application's health endpoints and freshness of the
exporter's data, as recording rules and multi-window, multi-burn-rate alerts.

The method is the SRE workbook's ("Alerting on SLOs", alert 6), as sloth and pyrra generate it:
an SLI recorded as an error ratio over several windows, and an alert when the error budget of a
30-day window burns fast on a long *and* a short window together (the long window proves it is
significant, the short one that it is still happening, so the alert resolves minutes after a fix):

=========  ===========  ============  ======================  =====================
 burn rate  long window  short window  budget spent at firing  tier
=========  ===========  ============  ======================  =====================
 14.4       1h           5m            2 %                     page (fast)
 6          6h           30m           5 %                     page (fast)
 3          1d           2h            10 %                    ticket (slow)
 1          3d           6h            10 %                    ticket (slow)
=========  ===========  ============  ======================  =====================

The burn rates and windows are the method's constants for a 30-day budget; the SLO targets
(``app_availability_slo``, ``exporter_freshness_slo``) and every other threshold are in the site
config (``bundle/site.yml``). ``bundle.config`` adds these to its rules (``ALERTS``,
``RECORDINGS``); this module imports it lazily so either may be imported first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bundle.config import Alert, Recording

GROUP = "slo"
RULE_GROUP_FILES = {GROUP: "slo.yml"}
DASHBOARD = "escrow-slo"
#: Every window a rule or the dashboard reads; 30d is the budget's own window.
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d")
#: (burn rate, long window, short window) per alert speed: the workbook's table above.
FAST = ((14.4, "1h", "5m"), (6, "6h", "30m"))
SLOW = ((3, "1d", "2h"), (1, "3d", "6h"))


@dataclass(frozen=True)
class Slo:
    what: str  # for summaries: "the application's health endpoints"
    good: str  # record: 1 while the SLI is good, 0 while bad, per (job, instance)
    good_expr: str
    errors: str  # record prefix of the error ratio; the window is appended (..._avg5m)
    objective: str  # the site threshold holding the SLO target
    alert: str  # alert name prefix: <alert>Fast, <alert>Slow
    fast_tier: str  # the tier of a fast burn (a slow one is medium: a ticket)
    condition: str  # what a bad minute is, for descriptions and docs/alerts.md
    check_first: str
    #: ``for:`` of the fast burn. The availability burn crosses 14.4x after about a minute of hard
    #: outage, before EscrowAppProbeFailed (for: 2m) fires; it must wait longer than that so the
    #: cause is firing when the symptom reaches Alertmanager, which then inhibits it
    #: (alertmanager/alertmanager.yml). A flapping application that never fails 2 minutes in a row
    #: (no EscrowAppProbeFailed) still pages, this much later.
    fast_for: str = "0m"
    #: An alert that pages for the outage itself. Its fast burn is not evaluated while that
    #: alert fires, nor for FAST_AFTER_CAUSE after: the burn's windows (5m, 30m) outlive the
    #: outage, and once the cause resolves Alertmanager's inhibition ends with it, so the burn
    #: would page a second time for an outage that is over (found after a deploy's probe failure).
    cause_alert: str | None = None


#: The longest short window of the fast burn: how long its condition outlives an outage.
FAST_AFTER_CAUSE = "30m"

#: The SLO target as a series, one per SLO, labelled with the SLO's name and the series of its
#: good minutes (sloth's ``slo:objective:ratio``): ``escrow-exporter sla-report`` reads its targets
#: and SLIs from Prometheus with it, so a report needs no copy of the site config, and a target
#: changed mid-month is reported as it stood at the month's end.
OBJECTIVE = "escrow_slo:objective:ratio"


SLOS = (
    Slo(
        what="the application's health endpoints",
        good="instance:escrow_app_probe_success:min",
        # Several modules may probe one URL (status code, body keywords): it is available only
        # while every one of them succeeds.
        good_expr="min by (job, instance) (probe_success{[[probe_job]]})",
        errors="instance:escrow_app_probe_errors:ratio_avg",
        objective="app_availability_slo",
        alert="EscrowAppErrorBudgetBurn",
        fast_tier="critical",
        condition="failed blackbox probes (status, body keyword or timeout)",
        check_first='probe_success{job="{{ $labels.job }}", instance="{{ $labels.instance }}"} by module, '
        "probe_http_status_code and the application's logs",
        fast_for="3m",
        cause_alert="EscrowAppProbeFailed",
    ),
    Slo(
        what="the exporter's data",
        good="instance:escrow_exporter_fresh:min",
        # Fresh: every collector finished a cycle within exporter_freshness_seconds. A failed
        # scrape records nothing here (EscrowExporterDown pages for that); nor does a collector
        # that never succeeded (EscrowCollectorFailing).
        good_expr="min by (job, instance) (\n"
        "  time() - escrow_exporter_collector_last_success_timestamp_seconds{[[job]]}"
        " <= bool [[exporter_freshness_seconds]]\n"
        ")",
        errors="instance:escrow_exporter_stale:ratio_avg",
        objective="exporter_freshness_slo",
        alert="EscrowExporterFreshnessBudgetBurn",
        # Losing one source of visibility is P1 (docs/alerts.md, tier review).
        fast_tier="high",
        condition="minutes in which a collector had no successful cycle in the last [[exporter_freshness_seconds]]s",
        check_first="escrow_exporter_collector_up and time() - escrow_exporter_collector_last_success_timestamp_seconds "
        'by collector, up{job="{{ $labels.job }}"}',
    ),
)


def recordings() -> list[Recording]:
    from bundle.config import Recording

    out = []
    for slo in SLOS:
        name = slo.objective.removesuffix("_slo")
        out.append(
            Recording(OBJECTIVE, f"vector([[{slo.objective}]])", GROUP, {"slo": name, "sli": slo.good})
        )
        out.append(Recording(slo.good, slo.good_expr, GROUP))
        # avg_over_time of the recorded 0/1 series: the share of bad evaluations in the window.
        out += [Recording(f"{slo.errors}{w}", f"1 - avg_over_time({slo.good}[{w}])", GROUP) for w in WINDOWS]
    return out


def burn_expr(slo: Slo, speed: tuple[tuple[float, str, str], ...]) -> str:
    budget = f"(1 - [[{slo.objective}]])"
    expr = "\nor\n".join(
        f"(\n  {slo.errors}{long} > {rate:g} * {budget}\nand\n  {slo.errors}{short} > {rate:g} * {budget}\n)"
        for rate, long, short in speed
    )
    if speed is FAST and slo.cause_alert:
        return (
            f"(\n{expr}\n)\nunless on (job, instance)\n"
            f'max_over_time(ALERTS{{alertname="{slo.cause_alert}", alertstate="firing"}}[{FAST_AFTER_CAUSE}])'
        )
    return expr


def _windows(speed: tuple[tuple[float, str, str], ...]) -> str:
    return " or ".join(f"{rate:g}x on {long} and {short}" for rate, long, short in speed)


def alerts() -> list[Alert]:
    from bundle.config import Alert

    out = []
    for slo in SLOS:
        for suffix, speed, tier, spent, for_ in (
            (
                "Fast",
                FAST,
                slo.fast_tier,
                "2 % of the 30-day budget in an hour or 5 % in 6 hours",
                slo.fast_for,
            ),
            ("Slow", SLOW, "medium", "10 % of the 30-day budget in a day or in 3 days", "0m"),
        ):
            out.append(
                Alert(
                    f"{slo.alert}{suffix}",
                    GROUP,
                    burn_expr(slo, speed),
                    {tier: ""},
                    for_,
                    f"The error budget of {slo.what} is burning {'fast' if suffix == 'Fast' else 'slowly'}.",
                    f"{{{{ $labels.instance }}}} ({{{{ $labels.job }}}}) misses its SLO of [[{slo.objective}]] "
                    f"at a burn rate of {_windows(speed)} (a burn rate of 1 spends the 30-day error budget in "
                    f"exactly 30 days): {spent} is gone. Bad: {slo.condition}. Check first: {slo.check_first}.",
                    DASHBOARD,
                    f"error ratio above burn rate x (1 - [[{slo.objective}]]): {_windows(speed)}"
                    + (
                        f"; not while {slo.cause_alert} fires nor {FAST_AFTER_CAUSE} after (it paged for that outage)"
                        if speed is FAST and slo.cause_alert
                        else ""
                    ),
                )
            )
    out.append(
        Alert(
            "EscrowAppProbeSlow",
            GROUP,
            "max by (job, instance) (quantile_over_time(0.95, probe_duration_seconds{[[probe_job]]}[10m]))"
            " > [[threshold]]",
            {"high": "[[probe_latency_p95_high_seconds]]", "medium": "[[probe_latency_p95_medium_seconds]]"},
            "5m",
            "An application health endpoint answers slowly.",
            "The 95th percentile of the probe durations of {{ $labels.instance }} over 10 minutes is "
            '{{ $value | printf "%.2f" }}s (threshold [[threshold]]s), for 5 minutes. Users wait as long. '
            'Check first: probe_http_duration_seconds{instance="{{ $labels.instance }}"} by phase '
            "(resolve, connect, tls, processing, transfer) and the application's load.",
            DASHBOARD,
            "p95 of `probe_duration_seconds` over 10m above [[threshold]]s, for 5m",
        )
    )
    return out
