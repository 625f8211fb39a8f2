"""Alertmanager side of the bundle: the config is valid, each tier routes where the docs say,
secrets only come from files, and the templates render actionable text."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bundle import amconfig
from tests.support.util import ROOT

AM = ROOT / "alertmanager"

pytestmark = pytest.mark.skipif(not shutil.which("amtool"), reason="amtool not installed (make setup)")


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["amtool", *args], capture_output=True, text=True, timeout=60, cwd=ROOT)


def _routes(config: Path, *labels: str) -> list[str]:
    r = _amtool("config", "routes", "test", f"--config.file={config}", *labels)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().replace(",", " ").split()


def _rendered_with_discord(tmp_path: Path) -> Path:
    secret = tmp_path / "discord_webhook_url"
    secret.write_text("https://discord.com/api/webhooks/123/secret-token\n")
    out = tmp_path / "alertmanager.yml"
    shutil.copytree(AM / "templates", tmp_path / "templates")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "bundle.amconfig",
            "--out",
            str(out),
            "--discord-webhook-url-file",
            str(secret),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    return out


def test_committed_config_is_rendered_from_the_site_config() -> None:
    """compose mounts alertmanager/alertmanager.yml as is: it must carry the site's severity names."""
    assert (AM / "alertmanager.yml").read_text() == amconfig.render(), "run `make rules` and commit the result"


def test_a_renamed_site_routes_on_its_own_severity_names(tmp_path: Path) -> None:
    """The kube-prometheus names: rules emit `warning`, so Alertmanager must page on `warning`, and
    the tier's old name `high` no longer means anything (it falls to the default route)."""
    kube = {"critical": "critical", "high": "warning", "medium": "info", "low": "low"}
    out = tmp_path / "alertmanager.yml"
    out.write_text(amconfig.render(kube))
    shutil.copytree(AM / "templates", tmp_path / "templates")
    r = _amtool("check-config", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert _routes(out, "alertname=X", "severity=warning") == ["high"]
    assert _routes(out, "alertname=X", "severity=info") == ["slack-medium"]
    assert _routes(out, "alertname=X", "severity=low") == ["slack-low-digest"]
    assert _routes(out, "alertname=X", "severity=high") == ["slack-medium"]
    inhibit = yaml.safe_load(out.read_text())["inhibit_rules"][0]
    assert inhibit["target_matchers"] == ['severity=~"warning|info|low"']


def test_repository_config_is_valid() -> None:
    r = _amtool("check-config", "alertmanager/alertmanager.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 templates" in r.stdout


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["alertname=EscrowBalanceMismatch", "severity=critical"], ["critical"]),
        (["alertname=EscrowWithdrawalSpike", "severity=high"], ["high"]),
        (["alertname=EscrowOutboxBacklog", "severity=medium"], ["slack-medium"]),
        (["alertname=EscrowLogsTruncated", "severity=low"], ["slack-low-digest"]),
        (["alertname=Watchdog", "severity=low"], ["deadmans-switch"]),
        (["alertname=SomethingUntiered"], ["slack-medium"]),
    ],
)
def test_each_tier_routes_to_its_receiver(labels: list[str], receivers: list[str]) -> None:
    assert _routes(AM / "alertmanager.yml", *labels) == receivers


def test_receivers_deliver_to_the_services_of_their_tier() -> None:
    cfg = amconfig.load()
    by_name = {r["name"]: r for r in cfg["receivers"]}
    assert "high_urgency" in by_name["critical"]["pagerduty_configs"][0]["routing_key_file"]
    assert "low_urgency" in by_name["high"]["pagerduty_configs"][0]["routing_key_file"]
    assert {"pagerduty_configs", "slack_configs"} <= set(
        by_name["critical"]
    ) and "pagerduty_configs" in by_name["high"]
    assert set(by_name["slack-medium"]) == {"name", "slack_configs"}
    assert by_name["slack-low-digest"]["slack_configs"][0]["channel"] == "#escrow-digest"


def test_no_inline_secrets_and_matchers_syntax_only() -> None:
    text = (AM / "alertmanager.yml").read_text()
    cfg = yaml.safe_load(text)
    for r in cfg["receivers"]:
        for s in r.get("slack_configs", []):
            assert "api_url" not in s and s["api_url_file"].startswith("/etc/alertmanager/secrets/")
        for p in r.get("pagerduty_configs", []):
            assert "routing_key" not in p and "service_key" not in p and "routing_key_file" in p
    legacy = re.findall(r"^\s*-?\s*((?:source_|target_)?match(?:_re)?):", text, flags=re.M)
    assert legacy == [], f"legacy {legacy} in alertmanager.yml; use matchers"
    assert "slack_api_url:" not in text and "hooks.slack.com" not in text


def test_inhibitions_cover_tiers_and_rpc_outage_symptoms() -> None:
    rules = amconfig.load()["inhibit_rules"]
    tiers = [r for r in rules if r["source_matchers"][0].startswith("severity=")]
    assert [r["source_matchers"] for r in tiers] == [
        ['severity="critical"'],
        ['severity="high"'],
        ['severity="medium"'],
    ]
    # A higher tier mutes a lower one only in the scope the paging tiers group by.
    assert all(r["equal"] == amconfig.PAGING_GROUP_BY for r in tiers)
    outage = [r for r in rules if r["source_matchers"] == ['alertname="EscrowRpcOutage"']]
    outage_targets = " ".join(m for r in outage for m in r["target_matchers"])
    for symptom in (
        "EscrowRpcEndpointDown",
        "EscrowIngestLag",
        "EscrowBalanceStale",
        "EscrowCollectorFailing",
    ):
        assert symptom in outage_targets
    # An outage mutes its symptoms on its own exporter only, never on another shard.
    assert all(r.get("equal") == ["job", "instance"] for r in outage), outage


def test_paging_tiers_group_per_account_and_exporter() -> None:
    """One PagerDuty incident (dedup_key = group) per account and exporter, in both paging tiers
    and in the optional Discord copy."""
    routes = {r["receiver"]: r for r in amconfig.load()["route"]["routes"]}
    assert routes["critical"]["group_by"] == amconfig.PAGING_GROUP_BY
    assert routes["high"]["group_by"] == amconfig.PAGING_GROUP_BY
    assert set(amconfig.PAGING_GROUP_BY) >= {"alertname", "program", "account", "mint", "instance"}
    discord = amconfig.add_discord(amconfig.load(), "https://discord.invalid/x")
    assert next(r for r in discord["route"]["routes"] if r["receiver"] == "discord")["group_by"] == (
        amconfig.PAGING_GROUP_BY
    )


def test_low_digest_is_hourly_and_reports_resolutions() -> None:
    cfg = amconfig.load()
    low = next(r for r in cfg["route"]["routes"] if r["receiver"] == "slack-low-digest")
    assert low["group_interval"] == "1h"
    receiver = next(r for r in cfg["receivers"] if r["name"] == "slack-low-digest")
    assert receiver["slack_configs"][0]["send_resolved"] is True
    tmpl = (AM / "templates" / "escrow.tmpl").read_text()
    digest = tmpl[tmpl.index('define "escrow.slack.digest_text"') :]
    assert ".Alerts.Resolved" in digest[: digest.index("{{- end }}")]


def test_discord_extra_renders_valid_config_with_secret_kept_out_of_repo(tmp_path: Path) -> None:
    out = _rendered_with_discord(tmp_path)
    assert os.stat(out).st_mode & 0o077 == 0, "rendered config holds a secret: must be 0600"
    r = _amtool("check-config", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert _routes(out, "alertname=EscrowBalanceMismatch", "severity=critical") == ["discord", "critical"]
    assert _routes(out, "alertname=EscrowOutboxBacklog", "severity=medium") == ["slack-medium"]
    assert "secret-token" not in (AM / "alertmanager.yml").read_text()


def test_render_cli_names_the_unreadable_secret_file(tmp_path: Path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "bundle.amconfig",
            "--out",
            str(tmp_path / "a.yml"),
            "--discord-webhook-url-file",
            str(tmp_path / "nope"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode != 0
    assert str(tmp_path / "nope") in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{{ template "escrow.priority" "critical" }}', "P0"),
        ('{{ template "escrow.priority" "low" }}', "P3"),
        ('{{ template "escrow.slack.text" . }}', "|Silence>"),
        (
            '{{ template "escrow.silence_url" . }}',
            "/#/silences/new?filter=%7Bcommonlabelkey1%3D%22commonlabelvalue1%22",
        ),
        ('{{ template "escrow.pagerduty.severity" . }}', "info"),
        ('{{ template "escrow.discord.message" . }}', "Silence: https://example.com/#/silences/new"),
    ],
)
def test_templates_render_with_amtool(template: str, expected: str) -> None:
    r = _amtool(
        "template", "render", "--template.glob=alertmanager/templates/*.tmpl", f"--template.text={template}"
    )
    assert r.returncode == 0, r.stderr
    assert expected in r.stdout


def test_app_probe_failure_mutes_its_slo_burn_and_fires_first() -> None:
    """Issue 17: a failed probe and the availability SLO's fast burn paged about one outage. The
    inhibition only works if the cause is already firing when the symptom reaches Alertmanager."""
    from bundle.config import alert_by_name
    from bundle.slo_cases import minutes

    rules = [
        r
        for r in amconfig.load()["inhibit_rules"]
        if r["source_matchers"] == ['alertname="EscrowAppProbeFailed"']
    ]
    assert len(rules) == 1 and rules[0]["equal"] == ["job", "instance"], rules
    (target,) = rules[0]["target_matchers"]
    muted = re.fullmatch(r'alertname=~"(.*)"', target)
    assert muted and set(muted.group(1).split("|")) == {
        "EscrowAppErrorBudgetBurnFast",
        "EscrowAppErrorBudgetBurnSlow",
        "EscrowAppProbeSlow",
    }
    assert minutes(alert_by_name("EscrowAppErrorBudgetBurnFast").for_) > minutes(
        alert_by_name("EscrowAppProbeFailed").for_
    )
