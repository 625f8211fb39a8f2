"""Cases for the ``meta`` rule group: the monitoring pipeline itself (Watchdog, Prometheus'
rule evaluations, notifications and config reloads, Alertmanager's deliveries)."""

from __future__ import annotations

from bundle.cases.common import Case, Fired, held
from bundle.cases.series import PROM_J, PROM_JL
from bundle.config import PARAMS, SITE

NOTIFY_QUEUE = float(PARAMS["prometheus_notification_queue_ratio"])
_QUEUE_CAPACITY = 10000
_QUEUE_FULL = round((NOTIFY_QUEUE + 1) / 2 * _QUEUE_CAPACITY)  # between the threshold and a full queue
AM_J = f'job="{SITE.alertmanager_job}",instance="localhost:9093"'
AM_JL = {"job": SITE.alertmanager_job, "instance": "localhost:9093"}

META_CASES: list[Case] = [
    Case("Watchdog", "always fires", {}, "1m", [Fired("low", {}, "1")]),
    Case(
        "EscrowAlertmanagerNotificationsFailing",
        "PagerDuty deliveries failing every minute fires",
        {f'alertmanager_notifications_failed_total{{{AM_J},integration="pagerduty"}}': "0x5 1+1x40"},
        "25m",
        [Fired("high", {**AM_JL, "integration": "pagerduty"}, "10")],
    ),
    Case(
        "EscrowAlertmanagerNotificationsFailing",
        "one failed delivery (retried) is quiet",
        {f'alertmanager_notifications_failed_total{{{AM_J},integration="pagerduty"}}': "0x5 1x40"},
        "20m",
    ),
    Case(
        "EscrowPrometheusRuleFailures",
        "a rule group failing every minute fires",
        {f'prometheus_rule_evaluation_failures_total{{{PROM_J},rule_group="escrow.treasury"}}': "0x5 1+1x40"},
        "20m",
        [Fired("high", {**PROM_JL, "rule_group": "escrow.treasury"}, "10")],
    ),
    Case(
        "EscrowPrometheusRuleFailures",
        "no failed evaluation is quiet",
        {f'prometheus_rule_evaluation_failures_total{{{PROM_J},rule_group="escrow.treasury"}}': "0x40"},
        "20m",
    ),
    Case(
        "EscrowPrometheusNotificationsDropped",
        "notifications dropped every minute fires",
        {
            f"prometheus_notifications_dropped_total{{{PROM_J}}}": "0x5 1+1x40",
            f"prometheus_notifications_queue_length{{{PROM_J}}}": "0x40",
            f"prometheus_notifications_queue_capacity{{{PROM_J}}}": "10000x40",
        },
        "20m",
        [Fired("high", PROM_JL, "10.00")],
    ),
    Case(
        "EscrowPrometheusNotificationsDropped",
        "a queue filled past the threshold (nothing dropped yet) fires",
        {
            f"prometheus_notifications_dropped_total{{{PROM_J}}}": "0x40",
            f"prometheus_notifications_queue_length{{{PROM_J}}}": f"{_QUEUE_FULL}x40",
            f"prometheus_notifications_queue_capacity{{{PROM_J}}}": f"{_QUEUE_CAPACITY}x40",
        },
        "20m",
        [Fired("high", PROM_JL, f"{_QUEUE_FULL / _QUEUE_CAPACITY:.2f}")],
    ),
    Case(
        "EscrowPrometheusNotificationsDropped",
        "a queue filled to the threshold (nothing dropped) is quiet",
        {
            f"prometheus_notifications_dropped_total{{{PROM_J}}}": "0x40",
            f"prometheus_notifications_queue_length{{{PROM_J}}}": f"{round(NOTIFY_QUEUE * _QUEUE_CAPACITY)}x40",
            f"prometheus_notifications_queue_capacity{{{PROM_J}}}": f"{_QUEUE_CAPACITY}x40",
        },
        "20m",
    ),
    Case(
        "EscrowPrometheusNotificationsDropped",
        "a Prometheus restart (a 3-minute gap, counters back to 0) is quiet",
        {
            f"prometheus_notifications_dropped_total{{{PROM_J}}}": "500x15 _x3 0x22",
            f"prometheus_notifications_queue_length{{{PROM_J}}}": "0x15 _x3 0x22",
            f"prometheus_notifications_queue_capacity{{{PROM_J}}}": f"{_QUEUE_CAPACITY}x15 _x3 {_QUEUE_CAPACITY}x22",
        },
        "25m",
    ),
    *held(
        "EscrowMonitoringConfigReloadFailed",
        f"prometheus_config_last_reload_successful{{{PROM_J}}}",
        10,
        "medium",
        PROM_JL,
    ),
]
