"""Payments drills (issue 17, ``make drills``): simulator with its demo ledger -> exporter (the
query pack) -> Prometheus (the repository's rules, ``for:`` time-compressed) -> Alertmanager (the
repository's routes) -> PagerDuty receivers, all real processes on loopback.

A wave of chargebacks (the ``chargeback`` action: a provider reporting disputed card payments)
pages the high tier (PagerDuty low urgency) past ``chargebacks_per_hour_high`` and only the
critical tier (high urgency) past ``chargebacks_per_hour_critical``; a burst of declined payment
attempts at one provider pages ``EscrowFailedPaymentsHigh`` at the high tier.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import pytest

from bundle.config import PARAMS
from bundle.runbooks import strip_front_matter
from tests.support.notifications import pd_event, wait
from tests.support.receivers import Message
from tests.support.stack import PD_HIGH_URGENCY, PD_LOW_URGENCY, E2EStack
from tests.support.util import ROOT

pytestmark = [
    pytest.mark.drill,
    pytest.mark.skipif(
        not (shutil.which("prometheus") and shutil.which("prometheus-alertmanager")),
        reason="prometheus and prometheus-alertmanager binaries are not installed (make setup)",
    ),
]

CB_HIGH = int(PARAMS["chargebacks_per_hour_high"])
CB_CRITICAL = int(PARAMS["chargebacks_per_hour_critical"])
MIN_ATTEMPTS = int(PARAMS["failed_payment_min_attempts"])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EStack]:
    with E2EStack.start(tmp_path_factory.mktemp("payments"), tps=5) as s:
        yield s


def assert_pagerduty_actionable(
    m: Message, alertname: str, tier: str, routing_key: str, severity: str
) -> None:
    """Paged the right service, at the right severity, with a runbook that exists (these alerts'
    runbook titles name both tiers, so test_e2e_alerting's one-tier title check does not apply)."""
    assert m.body["routing_key"] == routing_key, "paged the wrong PagerDuty service"
    payload = m.body["payload"]
    assert payload["severity"] == severity
    assert payload["summary"].startswith(f"[{tier.upper()}] {alertname}"), payload["summary"]
    hrefs = {link["text"]: link["href"] for link in m.body["links"]}
    assert hrefs["Runbook"].endswith(f"/docs/runbooks/{alertname}.md"), hrefs
    runbook = (ROOT / "docs" / "runbooks" / f"{alertname}.md").read_text()
    title = strip_front_matter(runbook).splitlines()[0]
    assert title.startswith(f"# {alertname} (") and tier in title, title


def deposits(stack: E2EStack) -> int:
    return int(stack.chain.state()["events"]["PlayerJoined"]["count"])


def pages(stack: E2EStack, alertname: str, routing_key: str) -> list[Message]:
    return [
        m
        for m in stack.rx.of("pagerduty")
        if m.body["event_action"] == "trigger"
        and m.body["routing_key"] == routing_key
        and alertname in m.body["payload"]["summary"]
    ]


def series_of_every_provider(stack: E2EStack, selector: str) -> bool | None:
    """Prometheus holds ``selector`` for all three providers (at 0 before the fault), so
    increase() sees the fault's jump rather than a series appearing at its new value."""
    return len(stack.prom.query(selector)) >= 3 or None


def test_a_chargeback_wave_pages_high_then_critical(stack: E2EStack) -> None:
    # Enough successful payments to dispute: one per deposit the ledger booked.
    wait(stack, lambda: deposits(stack) >= CB_CRITICAL + 10 or None, f"{CB_CRITICAL + 10} deposits")
    selector = 'escrow_business_disputes_total{kind="chargeback"}'
    wait(stack, lambda: series_of_every_provider(stack, selector), selector)
    wave = CB_HIGH + 2
    assert stack.chain.action("chargeback", count=wave)["queued"]
    trigger = wait(stack, lambda: pd_event(stack, "trigger", "EscrowChargebackSpike"), "a chargeback page")
    assert_pagerduty_actionable(trigger, "EscrowChargebackSpike", "high", PD_LOW_URGENCY, "error")
    details = trigger.body["payload"]["custom_details"]["firing"]
    # increase() extrapolates a little past the samples it has: at least the wave, never fewer.
    counted = re.search(r"(\d+) chargebacks were opened in the last hour", details)
    assert counted and wave <= int(counted.group(1)) <= CB_CRITICAL, details
    # Over the high threshold, under the critical one: the high-urgency service is not paged.
    assert pages(stack, "EscrowChargebackSpike", PD_HIGH_URGENCY) == []

    # The wave grows past the critical threshold: now the high-urgency service is paged.
    assert stack.chain.action("chargeback", count=CB_CRITICAL)["queued"]
    critical = wait(
        stack,
        lambda: (pages(stack, "EscrowChargebackSpike", PD_HIGH_URGENCY) or [None])[0],
        "a critical chargeback page",
    )
    assert_pagerduty_actionable(critical, "EscrowChargebackSpike", "critical", PD_HIGH_URGENCY, "critical")
    counted = re.search(r"(\d+) chargebacks", critical.body["payload"]["custom_details"]["firing"])
    assert counted and int(counted.group(1)) > CB_CRITICAL


def test_declined_payments_at_one_provider_page_high(stack: E2EStack) -> None:
    # A burst of declines at stripe: by itself past the minimum of attempts an hour, and taking
    # stripe's failed share far past the high threshold; the other providers stay healthy.
    selector = 'escrow_business_payment_attempts_total{outcome="failed"}'
    wait(stack, lambda: series_of_every_provider(stack, selector), selector)
    assert stack.chain.action("payment_failures", count=MIN_ATTEMPTS, provider="stripe")["queued"]
    trigger = wait(
        stack,
        lambda: (pages(stack, "EscrowFailedPaymentsHigh", PD_LOW_URGENCY) or [None])[0],
        "a failed-payments page",
    )
    assert_pagerduty_actionable(trigger, "EscrowFailedPaymentsHigh", "high", PD_LOW_URGENCY, "error")
    assert "payment attempts through stripe failed" in trigger.body["payload"]["custom_details"]["firing"]
    # Other providers are fine: only stripe is named.
    assert all(
        "through stripe" in m.body["payload"]["custom_details"]["firing"]
        for m in stack.rx.of("pagerduty")
        if "EscrowFailedPaymentsHigh" in m.body["payload"]["summary"]
    )
