"""Proves the e2e fixtures: a real Prometheus with the repository's rules scrapes a static metrics
page, a real Alertmanager with the repository's routes and templates notifies the loopback
receivers; each tier lands where alertmanager.yml says, inhibited symptoms do not, and clearing
the fault sends the resolutions."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.prom_stack import PromStack
from tests.receivers import Message, Receivers

pytestmark = pytest.mark.skipif(
    not (shutil.which("prometheus") and shutil.which("prometheus-alertmanager")),
    reason="prometheus and prometheus-alertmanager binaries are not installed (make setup)",
)

FAULTY = """\
escrow_rpc_up{endpoint="a"} 0
escrow_rpc_up{endpoint="b"} 0
escrow_sql_up{database="business"} 0
escrow_exporter_collector_up{collector="sql"} 0
escrow_logs_truncated_total{program="paid_match"} 2
"""
HEALTHY = FAULTY.replace("} 0\n", "} 1\n")
PD_HIGH, PD_LOW = "pd-high-urgency-key-0000000000000", "pd-low-urgency-key-00000000000000"


class MetricsPage:
    """A tiny /metrics endpoint whose body the test swaps."""

    def __init__(self, body: str) -> None:
        self.body = body
        page = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                data = page.body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.target = f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def page() -> Iterator[MetricsPage]:
    p = MetricsPage(FAULTY)
    yield p
    p.close()


def _pd(rx: Receivers, action: str, alertname: str) -> Message | None:
    for m in rx.of("pagerduty"):
        if m.body["event_action"] == action and alertname in m.text:
            return m
    return None


def test_tiers_reach_their_receivers_and_resolve(tmp_path: Path, page: MetricsPage) -> None:
    keys = {"pagerduty_high_urgency_key": PD_HIGH, "pagerduty_low_urgency_key": PD_LOW}
    with (
        Receivers(routing_keys={PD_HIGH, PD_LOW}) as rx,
        PromStack(
            tmp_path, rx, {"escrow-exporter": [page.target]}, for_override="1s", pagerduty_keys=keys
        ) as stack,
    ):
        # critical: PagerDuty high-urgency service + Slack #escrow-critical (+ optional Discord).
        pd = rx.wait_for(
            lambda: _pd(rx, "trigger", "EscrowRpcOutage"), what="PagerDuty trigger for the outage"
        )
        assert pd.body["routing_key"] == PD_HIGH
        payload = pd.body["payload"]
        assert payload["severity"] == "critical"
        assert payload["summary"].startswith("[CRITICAL] EscrowRpcOutage: Every Solana RPC endpoint is down")
        assert payload["source"] == page.target
        assert any(link["href"].endswith("docs/runbooks/EscrowRpcOutage.md") for link in pd.body["links"])
        slack = rx.wait_for(
            lambda: rx.find("slack", "EscrowRpcOutage", path="/slack/slack_critical_webhook_url"),
            what="Slack #escrow-critical message",
        )
        text = slack.body["attachments"][0]["text"]
        assert "*Tier:* critical (P0)" in text
        assert f"All RPC endpoints of exporter {page.target} have been down" in text
        assert "docs/runbooks/EscrowRpcOutage.md|Runbook>" in text
        assert "/d/escrow-chain-rpc|Dashboard>" in text
        assert f"{stack.alertmanager_url}/#/silences/new?filter=%7B" in text
        discord = rx.wait_for(lambda: rx.find("discord", "EscrowRpcOutage"), what="Discord message")
        assert "Runbook: https://" in discord.body["embeds"][0]["description"]

        # high: PagerDuty low-urgency service (severity error) + Slack #escrow-alerts.
        pd_high = rx.wait_for(lambda: _pd(rx, "trigger", "EscrowSqlDatabaseDown"), what="PagerDuty high")
        assert pd_high.body["routing_key"] == PD_LOW
        assert pd_high.body["payload"]["severity"] == "error"
        rx.wait_for(lambda: rx.find("slack", "EscrowSqlDatabaseDown", path="/slack/slack_alerts_webhook_url"))
        # medium: Slack only; low: the digest channel.
        rx.wait_for(
            lambda: rx.find("slack", "EscrowCollectorFailing", path="/slack/slack_alerts_webhook_url")
        )
        digest = rx.wait_for(
            lambda: rx.find("slack", "EscrowLogsTruncated", path="/slack/slack_digest_webhook_url")
        )
        assert digest.body["attachments"][0]["title"].startswith("Escrow low-priority digest")
        # Watchdog: the dead-man's switch, with its bearer token from the credentials file.
        ping = rx.wait_for(lambda: rx.find("deadman", "Watchdog"), what="dead-man's-switch ping")
        assert ping.headers.get("Authorization") == "Bearer test-deadman-token"
        assert not _pd(rx, "trigger", "EscrowCollectorFailing"), "medium must not page"

        # The outage's symptom (each endpoint down) is held by Alertmanager but inhibited.
        def endpoint_down() -> list[dict[str, Any]]:
            return [a for a in stack.am_alerts() if a["labels"]["alertname"] == "EscrowRpcEndpointDown"]

        held = rx.wait_for(lambda: len(endpoint_down()) == 2 and endpoint_down(), what="EndpointDown in AM")
        assert all(a["status"]["inhibitedBy"] for a in held)

        page.body = HEALTHY
        resolved = rx.wait_for(lambda: _pd(rx, "resolve", "EscrowRpcOutage") or _resolve_by_key(rx, pd))
        assert resolved.body["dedup_key"] == pd.body["dedup_key"]
        rx.wait_for(
            lambda: rx.find(
                "slack", "[RESOLVED] CRITICAL EscrowRpcOutage", path="/slack/slack_critical_webhook_url"
            ),
            what="Slack resolution",
        )
        assert not rx.find("slack", "EscrowRpcEndpointDown"), "an inhibited symptom was notified"
        assert rx.errors == [], rx.errors


def _resolve_by_key(rx: Receivers, trigger: Message) -> Message | None:
    for m in rx.of("pagerduty"):
        if m.body["event_action"] == "resolve" and m.body.get("dedup_key") == trigger.body["dedup_key"]:
            return m
    return None
