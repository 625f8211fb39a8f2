"""`make soak`'s no-page check: the soak's exporter (simulator traffic, example config) scraped by a
real Prometheus with the bundle's rules, routed by a real Alertmanager. A one-minute run with every
`for:` shortened to 10 s: only Watchdog and the test's own always-firing rule fire, and only that
rule pages, so the check both passes a healthy run and catches a page."""

from __future__ import annotations

import shutil

import pytest

from bench.soak import soak

# In `make drills`, beside the other long checks: a minute of traffic plus two servers' start-up
# would take 90 s of `make test`'s 15-minute budget for a check of the soak tool itself.
pytestmark = [
    pytest.mark.drill,
    pytest.mark.skipif(
        not (shutil.which("prometheus") and shutil.which("prometheus-alertmanager")),
        reason="prometheus/alertmanager not installed (make setup)",
    ),
]

# Fires from the start, pages (critical): what a false page would look like to the check.
CANARY = {
    "alert": "SoakCanaryPage",
    "expr": "vector(1)",
    "labels": {"severity": "critical"},
    "annotations": {"summary": "always firing", "description": "test canary"},
}


def test_healthy_soak_pages_nobody_but_watchdog() -> None:
    result = soak(1.0, sample_seconds=10.0, tps=5.0, alerts=True, for_override="10s", extra_rules=[CANARY])
    # The bundle's own rules: nothing but Watchdog fires on a healthy run.
    assert result["alerts_firing"] == ["SoakCanaryPage", "Watchdog"], result
    # The check itself: the canary is reported, it reached PagerDuty, and the soak fails on it.
    assert result["unexpected_alerts"] == ["SoakCanaryPage"]
    assert result["pagerduty_notifications"] >= 1
    assert result["paged"] == ["SoakCanaryPage"], result["paged"]
    assert result["passed"] is False and result["alerts_passed"] is False
