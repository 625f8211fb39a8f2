"""Proves the e2e fixtures: a real Prometheus with the repository's rules scrapes a static metrics
page, a real Alertmanager with the repository's routes and templates notifies the loopback
receivers; each tier lands where alertmanager.yml says, inhibited symptoms do not, and clearing
the fault sends the resolutions."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.prom_stack import PromStack
from tests.support.receivers import Message, Receivers

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
escrow_business_outbox_depth{queue="payouts"} 5000
"""
HEALTHY = FAULTY.replace("} 0\n", "} 1\n").replace("} 5000\n", "} 0\n")
# The exporter serves escrow_logs_truncated_total from 0; the low alert fires once it grows.
FAULTY_BEFORE_TRUNCATION = FAULTY.replace(
    'escrow_logs_truncated_total{program="paid_match"} 2',
    'escrow_logs_truncated_total{program="paid_match"} 0',
)
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
    p = MetricsPage(FAULTY_BEFORE_TRUNCATION)
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
        page.body = FAULTY  # scraped at 0 by now: two transactions with truncated logs
        assert pd.body["routing_key"] == PD_HIGH
        payload = pd.body["payload"]
        assert payload["severity"] == "critical"
        assert payload["summary"].startswith(
            f"[CRITICAL] EscrowRpcOutage on {page.target}: Every Solana RPC endpoint is down"
        )
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
        # medium: Slack only (the failing "sql" collector is the database outage's symptom, muted);
        # low: the digest channel.
        rx.wait_for(lambda: rx.find("slack", "EscrowOutboxBacklog", path="/slack/slack_alerts_webhook_url"))
        digest = rx.wait_for(
            lambda: rx.find("slack", "EscrowLogsTruncated", path="/slack/slack_digest_webhook_url")
        )
        assert digest.body["attachments"][0]["title"].startswith("Escrow low-priority digest")
        # Watchdog: the dead-man's switch, with its bearer token from the credentials file.
        ping = rx.wait_for(lambda: rx.find("deadman", "Watchdog"), what="dead-man's-switch ping")
        assert ping.headers.get("Authorization") == "Bearer test-deadman-token"
        assert not _pd(rx, "trigger", "EscrowOutboxBacklog"), "medium must not page"

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


def _post_alerts(stack: PromStack, alerts: list[dict[str, Any]]) -> None:
    """Post alerts to Alertmanager the way Prometheus does (v2 API)."""
    req = urllib.request.Request(
        f"{stack.alertmanager_url}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200


def _alert(name: str, severity: str, **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, "severity": severity, **labels},
        "annotations": {
            "summary": f"summary of {name}",
            "description": f"{name} on {labels}",
            "runbook_url": f"https://example.com/docs/runbooks/{name}.md",
            "dashboard_url": "http://localhost:3000/d/escrow-overview",
        },
    }


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class _DigestEvery5s(PromStack):
    """Alertmanager only (no rules, no targets): the repository's routes, receivers and templates,
    with the low digest's group_interval at 5 s instead of 1 h, so "between two digests" is a
    window the test can post into."""

    def alertmanager_config(self) -> dict[str, Any]:
        cfg = super().alertmanager_config()
        low = next(r for r in cfg["route"]["routes"] if r["receiver"] == "slack-low-digest")
        low["group_wait"], low["group_interval"] = "1s", "5s"
        return cfg


DIGEST = "/slack/slack_digest_webhook_url"


def test_low_digest_reports_an_alert_that_fired_and_resolved_between_digests(tmp_path: Path) -> None:
    with Receivers() as rx, _DigestEvery5s(tmp_path, rx, {}, repo_rules=False, discord=False) as stack:
        lagging = _alert(
            "EscrowRpcEndpointLagging", "low", job="escrow-exporter", instance="e:1", endpoint="b"
        )
        _post_alerts(stack, [lagging])
        first = rx.wait_for(
            lambda: rx.find("slack", "EscrowRpcEndpointLagging", path=DIGEST), what="first digest"
        )
        assert "EscrowLogsTruncated" not in first.text
        # Fired and resolved after that digest, before the next one (one post: no race with a tick).
        now = time.time()
        truncated = _alert(
            "EscrowLogsTruncated", "low", job="escrow-exporter", instance="e:1", program="paid_match"
        )
        _post_alerts(stack, [lagging, {**truncated, "startsAt": _iso(now - 120), "endsAt": _iso(now - 1)}])
        digest = rx.wait_for(
            lambda: rx.find("slack", "EscrowLogsTruncated", path=DIGEST),
            timeout=20,
            what="digest with the resolved alert",
        )
        att = digest.body["attachments"][0]
        assert att["title"] == "Escrow low-priority digest: 1 firing, 1 resolved"
        text = att["text"]
        assert "*Resolved since the last digest:*" in text, text
        assert "• [resolved] *EscrowLogsTruncated* (paid_match): summary of EscrowLogsTruncated" in text, text
        assert "• *EscrowRpcEndpointLagging*" in text, text
        assert rx.errors == [], rx.errors


def test_paging_tiers_page_once_per_account_and_exporter(tmp_path: Path) -> None:
    with Receivers() as rx, PromStack(tmp_path, rx, {}, repo_rules=False, discord=False) as stack:
        _post_alerts(
            stack,
            [
                _alert("EscrowWalletBelowFloor", "high", account="treasury_sol", mint="SOL", role="treasury"),
                _alert("EscrowWalletBelowFloor", "high", account="fee_usdc", mint="EPjF", role="fee"),
                _alert("EscrowRpcOutage", "critical", job="escrow-exporter", instance="shard-a:10190"),
                _alert("EscrowRpcOutage", "critical", job="escrow-exporter", instance="shard-b:10190"),
            ],
        )

        def triggers(name: str) -> list[Message] | None:
            found = [m for m in rx.of("pagerduty") if m.body["event_action"] == "trigger" and name in m.text]
            return found if len(found) >= 2 else None

        for name, scopes in (
            ("EscrowWalletBelowFloor", ("treasury_sol", "fee_usdc")),
            ("EscrowRpcOutage", ("shard-a:10190", "shard-b:10190")),
        ):
            pages = rx.wait_for(lambda n=name: triggers(n), what=f"two PagerDuty incidents for {name}")
            assert len(pages) == 2, [p.text for p in pages]
            assert len({p.body["dedup_key"] for p in pages}) == 2, "merged into one PagerDuty incident"
            for scope in scopes:  # each incident is about one account / exporter only
                assert len([p for p in pages if scope in p.text]) == 1, [p.text for p in pages]
        assert rx.errors == [], rx.errors


def test_rpc_outage_mutes_a_stale_balance_only_on_its_own_exporter(tmp_path: Path) -> None:
    with Receivers() as rx, PromStack(tmp_path, rx, {}, repo_rules=False, discord=False) as stack:
        shard_a = {"job": "escrow-exporter", "instance": "shard-a:10190"}
        shard_b = {"job": "escrow-exporter", "instance": "shard-b:10190"}
        _post_alerts(
            stack,
            [
                _alert("EscrowRpcOutage", "critical", **shard_a),
                _alert("EscrowBalanceStale", "high", account="escrow_usdc", **shard_a),
                _alert("EscrowBalanceStale", "high", account="treasury_sol", **shard_b),
            ],
        )

        def stale() -> dict[str, dict[str, Any]] | None:
            found = {
                a["labels"]["instance"]: a
                for a in stack.am_alerts()
                if a["labels"]["alertname"] == "EscrowBalanceStale"
            }
            return found if len(found) == 2 and found["shard-a:10190"]["status"]["inhibitedBy"] else None

        held = rx.wait_for(stale, what="both stale balances in Alertmanager, shard A's inhibited")
        assert held["shard-b:10190"]["status"]["state"] == "active", held["shard-b:10190"]
        page = rx.wait_for(
            lambda: next((m for m in rx.of("pagerduty") if "EscrowBalanceStale" in m.text), None),
            what="PagerDuty page for shard B's stale balance",
        )
        assert "treasury_sol" in page.text and "escrow_usdc" not in page.text, page.text
        time.sleep(3)  # several 1 s group rounds: shard A's muted symptom would have been sent
        assert not [m for m in rx.messages if "escrow_usdc" in m.text], "a muted symptom was notified"
        assert rx.errors == [], rx.errors


def _resolve_by_key(rx: Receivers, trigger: Message) -> Message | None:
    for m in rx.of("pagerduty"):
        if m.body["event_action"] == "resolve" and m.body.get("dedup_key") == trigger.body["dedup_key"]:
            return m
    return None


def test_outages_mute_their_symptoms(tmp_path: Path) -> None:
    """Issue 13: a database outage left 13 EscrowCollectorFailing alerts beside EscrowSqlDatabaseDown,
    and EscrowRpcEndpointLagging always fired with EscrowRpcEndpointDown for the same endpoint.
    Issue 17: the application's probe failing paged twice, with its availability SLO's fast burn."""
    with Receivers() as rx, PromStack(tmp_path, rx, {}, repo_rules=False, discord=False) as stack:
        ex = {"job": "escrow-exporter", "instance": "shard-a:10190"}
        app = {"job": "escrow-app-health", "instance": "http://app:8080/health"}
        other_app = {"job": "escrow-app-health", "instance": "http://app:8080/ready"}
        _post_alerts(
            stack,
            [
                _alert("EscrowSqlDatabaseDown", "high", database="business", **ex),
                _alert("EscrowCollectorFailing", "medium", collector="sql", **ex),
                _alert("EscrowCollectorFailing", "medium", collector="sql:matches", **ex),
                _alert("EscrowCollectorFailing", "medium", collector="balances", **ex),
                _alert("EscrowRpcEndpointDown", "medium", endpoint="b", **ex),
                _alert("EscrowRpcEndpointLagging", "low", endpoint="b", **ex),
                _alert("EscrowRpcEndpointLagging", "low", endpoint="c", **ex),
                _alert("EscrowAppProbeFailed", "critical", **app),
                _alert("EscrowAppErrorBudgetBurnFast", "critical", **app),
                _alert("EscrowAppErrorBudgetBurnSlow", "medium", **app),
                _alert("EscrowAppProbeSlow", "high", **app),
                _alert("EscrowAppErrorBudgetBurnFast", "critical", **other_app),
            ],
        )

        def key(a: dict[str, Any]) -> str:
            labels = a["labels"]
            probe = labels["instance"].rpartition("/")[2] if labels.get("job") == app["job"] else ""
            scope = labels.get("collector") or labels.get("endpoint") or probe
            return f"{labels['alertname']}/{scope}"

        def states() -> dict[str, bool] | None:
            found = {key(a): bool(a["status"]["inhibitedBy"]) for a in stack.am_alerts()}
            ready = found.get("EscrowCollectorFailing/sql") and found.get(
                "EscrowAppErrorBudgetBurnFast/health"
            )
            return found if len(found) == 12 and ready else None

        held = rx.wait_for(states, what="the SQL collectors' failures inhibited")
        assert held == {
            "EscrowSqlDatabaseDown/": False,
            "EscrowCollectorFailing/sql": True,
            "EscrowCollectorFailing/sql:matches": True,
            "EscrowCollectorFailing/balances": False,  # not a database symptom
            "EscrowRpcEndpointDown/b": False,
            "EscrowRpcEndpointLagging/b": True,
            "EscrowRpcEndpointLagging/c": False,  # another endpoint
            "EscrowAppProbeFailed/health": False,
            "EscrowAppErrorBudgetBurnFast/health": True,
            "EscrowAppErrorBudgetBurnSlow/health": True,
            "EscrowAppProbeSlow/health": True,
            "EscrowAppErrorBudgetBurnFast/ready": False,  # another probe target
        }

        # One page for the application's outage: the probe failure, never its budget burn; the
        # other target's burn (nothing muting it) pages in the same rounds.
        def app_pages() -> list[str] | None:
            found = [m.text for m in rx.of("pagerduty") if "EscrowApp" in m.text]
            ready = any("EscrowAppProbeFailed" in t for t in found) and any("/ready" in t for t in found)
            return found if ready else None

        pages = rx.wait_for(app_pages, what="PagerDuty pages: the failed probe and the other target's burn")
        assert not [t for t in pages if "EscrowAppErrorBudgetBurnFast" in t and "/health" in t], pages


def test_paging_titles_name_the_account_and_exporter(tmp_path: Path) -> None:
    """Distinct PagerDuty incidents of one alert have distinct titles (issue 13)."""
    with Receivers() as rx, PromStack(tmp_path, rx, {}, repo_rules=False, discord=False) as stack:
        _post_alerts(
            stack,
            [
                _alert("EscrowSqlDatabaseDown", "high", database="business", instance="shard-a:10190"),
                _alert("EscrowSqlDatabaseDown", "high", database="business", instance="shard-b:10190"),
                _alert("EscrowWalletBelowFloor", "high", account="treasury_sol", mint="SOL", role="treasury"),
            ],
        )

        def summaries() -> set[str] | None:
            found = {
                m.body["payload"]["summary"]
                for m in rx.of("pagerduty")
                if m.body["event_action"] == "trigger"
            }
            return found if len(found) >= 3 else None

        assert rx.wait_for(summaries, what="three PagerDuty triggers") == {
            "[HIGH] EscrowSqlDatabaseDown database=business on shard-a:10190: summary of EscrowSqlDatabaseDown",
            "[HIGH] EscrowSqlDatabaseDown database=business on shard-b:10190: summary of EscrowSqlDatabaseDown",
            "[HIGH] EscrowWalletBelowFloor account=treasury_sol mint=SOL: summary of EscrowWalletBelowFloor",
        }
