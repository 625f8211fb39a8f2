"""The site config (bundle/site.yml): strict validation with file:line: key errors, and a site
with other thresholds, names and links regenerates into a bundle whose promtool tests still pass."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bundle import site
from tests.support.util import ROOT

SITE_YML = ROOT / "bundle" / "site.yml"

needs_tools = pytest.mark.skipif(
    not (shutil.which("promtool") and shutil.which("amtool")),
    reason="promtool/amtool not installed (make setup)",
)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.yml"
    path.write_text(text)
    return path


def test_repository_site_config_loads() -> None:
    s = site.load(SITE_YML)
    assert set(s.thresholds) == set(site.THRESHOLDS)
    assert s.severities == {"critical": "critical", "high": "high", "medium": "medium", "low": "low"}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "  rpc_slot_lag: 150",
            "  rpc_slot_lag: 150\n  rpc_slot_lagg: 150",
            ": thresholds.rpc_slot_lagg: unknown",
        ),
        ("  probe_job: escrow-app-health", "  probe_jobs: x", ": selectors.probe_jobs: unknown key"),
        (
            "  fee: {planned_sweeps: true}",
            "  fee: {planned_sweep: true}",
            ": roles.fee.planned_sweep: unknown key",
        ),
        (
            "  outbox_depth: 1000",
            "  outbox_depth: lots",
            ": thresholds.outbox_depth: expected a number, got 'lots'",
        ),
        ("  outbox_depth: 1000\n", "", ": thresholds.outbox_depth: missing"),
        ("  high: high ", "  high: critical ", ": severities: the four tiers need distinct names"),
        ("{alert}.md", ".md", ": links.runbook_url: must contain {alert}"),
        (
            "  reconciliation_agreeing_runs: 2",
            "  reconciliation_agreeing_runs: 1.5",
            ": thresholds.reconciliation_agreeing_runs: must be a whole number >= 1",
        ),
        (
            "  reconciliation_blocked_page_seconds: 900",
            "  reconciliation_blocked_page_seconds: 300",
            ": thresholds.reconciliation_blocked_page_seconds: must be above",
        ),
        (
            "  prometheus_notification_queue_ratio: 0.9",
            "  prometheus_notification_queue_ratio: 90",
            ": thresholds.prometheus_notification_queue_ratio: must be a ratio between 0 and 1",
        ),
        (
            "  last_reviewed: 2026-12-04",
            "  last_reviewed: 2026-13-04",
            ": runbooks.last_reviewed: expected a date",
        ),
        (
            "  review_every_days: 90",
            "  review_every_days: 0",
            ": runbooks.review_every_days: must be a whole",
        ),
        (
            "  app_availability_slo: 0.999",
            "  app_availability_slo: 99.9",
            ": thresholds.app_availability_slo: must be a ratio between 0 and 1",
        ),
        (
            "  cpu_high_ratio: 0.9",
            "  cpu_high_ratio: 0.7",
            ": thresholds.cpu_high_ratio: must be above cpu_medium_ratio",
        ),
        (
            "  http_error_critical_ratio: 0.5 ",
            "  http_error_critical_ratio: 0.04 ",
            ": thresholds.http_error_critical_ratio: must be above http_error_high_ratio",
        ),
        (
            "decimals: 9, floor: 1, mismatch_tolerance: 0.001",
            "decimals: 9, floor: 1, mismatch_tolerance: small",
            ": mints.SOL.mismatch_tolerance: expected a number",
        ),
        (
            "{symbol: USDC, decimals: 6, floor: 100, mismatch_tolerance: 0.01}",
            "{symbol: USDC, decimals: 6, floor: 100, mismatch_tolerance: 0.0000001}",
            ": mints.EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v.mismatch_tolerance: 0.0000001 is below one "
            "base unit of a 6-decimal mint (1e-06)",
        ),
        (
            "{symbol: USDC, decimals: 6,",
            '{symbol: "US{{DC", decimals: 6,',
            ": mints.EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v.symbol: letters, digits",
        ),
    ],
)
def test_bad_site_config_names_file_line_and_key(tmp_path: Path, old: str, new: str, expected: str) -> None:
    text = SITE_YML.read_text()
    assert old in text
    path = _write(tmp_path, text.replace(old, new, 1))
    with pytest.raises(site.SiteError) as e:
        site.load(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}:") and expected in msg, msg
    assert msg.split(":")[1].isdigit(), f"no line number: {msg}"


def test_gen_rules_reports_a_bad_site_without_traceback(tmp_path: Path) -> None:
    path = _write(tmp_path, SITE_YML.read_text().replace("  rpc_slot_lag: 150", "  rpc_slot_lag: [150]"))
    r = subprocess.run(
        [sys.executable, "scripts/gen_rules.py", "--site", str(path), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 2
    assert f"{path}:" in r.stderr and "thresholds.rpc_slot_lag: expected a number" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_runbook_the_site_names_must_exist(tmp_path: Path) -> None:
    text = SITE_YML.read_text()
    assert "    treasury-key-rotation:" in text
    path = _write(tmp_path, text.replace("    treasury-key-rotation:", "    treasury-key-rotaton:", 1))
    r = subprocess.run(
        [sys.executable, "scripts/gen_rules.py", "--site", str(path), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 2
    assert (
        "runbooks.owners.treasury-key-rotaton: no runbook docs/runbooks/treasury-key-rotaton.md" in r.stderr
    )
    assert "Traceback" not in r.stderr


def test_make_rules_warns_about_the_example_links_it_ships() -> None:
    """The demo runs on the example links, so they are a warning, not an error; each names its line."""
    r = subprocess.run(
        [sys.executable, "scripts/gen_rules.py", "--check"], capture_output=True, text=True, cwd=ROOT
    )
    assert r.returncode in (0, 1), r.stderr  # 1 is drift (test_rules reports it); a warning never fails
    lines = SITE_YML.read_text().splitlines()
    runbook = next(i for i, x in enumerate(lines, 1) if x.startswith("  runbook_url:"))
    grafana = next(i for i, x in enumerate(lines, 1) if x.startswith("  grafana_url:"))
    warnings = [x for x in r.stderr.splitlines() if x.startswith("warning:")]
    assert len(warnings) == 2, r.stderr
    assert warnings[0].startswith(f"warning: bundle/site.yml:{runbook}: links.runbook_url is still the example")
    assert warnings[1].startswith(f"warning: bundle/site.yml:{grafana}: links.grafana_url is still the example")
    assert all("docs/alerts.md" in w for w in warnings)


def test_no_example_link_warning_once_a_site_sets_its_own(tmp_path: Path) -> None:
    assert site.example_links(_other_site(tmp_path)) == []
    # One of them left as shipped: only that one is reported.
    path = _other_site(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["links"]["grafana_url"] = "http://localhost:3000/"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    (warning,) = site.example_links(path)
    assert f"{path}:" in warning and "links.grafana_url is still the example" in warning


# Every threshold is varied: the promtool cases derive their boundary values from the site's
# thresholds (bundle/cases/), so none is held fixed. A threshold added later must be varied here.
OTHER_SITE: dict[str, Any] = {
    "thresholds": {
        "balance_stale_seconds": 420,
        "lookback_seconds": 14400,
        "spike_settled_lag_seconds": 200,
        "tx_failure_min_rate": 0.04,
        "tx_failure_ratio_high": 0.6,
        "tx_failure_ratio_medium": 0.3,
        "money_ix_failure_ratio_high": 0.3,
        "money_ix_failure_ratio_critical": 0.7,
        "money_ix_failure_min_count": 8,
        "rpc_slot_lag": 90,
        "failovers_per_30m": 6,
        "ingest_lag_high_seconds": 900,
        "ingest_lag_medium_seconds": 180,
        "webhook_latency_seconds": 300,
        "outbox_depth": 250,
        "exporter_memory_bytes": 536870912,
        "exporter_fds_ratio": 0.7,
        "rpc_latency_p95_seconds": 1.0,  # another bucket edge
        "rpc_error_ratio": 0.2,
        "audit_log_silence_seconds": 7200,
        "prometheus_notification_queue_ratio": 0.75,
        "mismatch_tolerance": 0.05,
        "reconciliation_agreeing_runs": 3,
        "reconciliation_blocked_ticket_seconds": 600,
        "reconciliation_blocked_page_seconds": 1800,
        "withdrawal_spike_factor": 4,
        "withdrawal_spike_floor": 30,
        "compute_units_limit": 1400000,  # the per-transaction maximum
        "compute_units_p99": 800000,  # another bucket edge of escrow_compute_units
        "reconciliation_medium_seconds": 10800,
        "reconciliation_high_seconds": 28800,
        "capacity_forecast_seconds": 1209600,
        "state_file_budget_bytes": 536870912,
        "prometheus_tsdb_budget_bytes": 107374182400,
        "ledger_database_budget_bytes": 21474836480,
        "app_availability_slo": 0.995,
        "exporter_freshness_slo": 0.999,
        "exporter_freshness_seconds": 600,  # whole minutes (the cases need them)
        "probe_latency_p95_medium_seconds": 0.3,
        "probe_latency_p95_high_seconds": 1.5,
        "cpu_medium_ratio": 0.6,
        "cpu_high_ratio": 0.85,
        "memory_medium_ratio": 0.75,
        "memory_high_ratio": 0.9,
        "disk_medium_ratio": 0.7,
        "disk_high_ratio": 0.85,
        "postgres_connections_medium_ratio": 0.7,
        "postgres_connections_high_ratio": 0.9,
        "postgres_slow_query_seconds": 120,
        "http_error_medium_ratio": 0.02,
        "http_error_high_ratio": 0.1,
        "http_error_critical_ratio": 0.6,
        "http_latency_p95_medium_seconds": 0.25,  # another bucket edge
        "http_latency_p95_high_seconds": 1,
        "http_min_requests": 50,
        "http_request_spike_factor": 4,
        "http_request_spike_floor": 8,
        "network_spike_factor": 5,
        "network_spike_floor_bytes": 5242880,
        "failed_payment_ratio_medium": 0.05,
        "failed_payment_ratio_high": 0.2,
        "failed_payment_min_attempts": 50,
        "chargebacks_per_hour_high": 5,
        "chargebacks_per_hour_critical": 30,
        "chargeback_payment_ratio": 0.01,
        "backup_max_age_seconds": 90000,
    },
    "selectors": {
        "exporter_job": "escrow-prod",
        "probe_job": "app-probes",
        "prometheus_job": "prom-self",
        "alertmanager_job": "am-self",
        "node_job": "hosts",
        "postgres_job": "pg",
        "app_http_job": "platform-api",
    },
    "links": {
        "runbook_url": "https://wiki.example.org/escrow/{alert}",
        "grafana_url": "https://grafana.example.org/",
    },
    "runbooks": {"owner": "SRE guild (#sre)", "last_reviewed": "2026-01-15", "review_every_days": 30},
    # Another program's names for the events and instructions the rules watch.
    "events": {
        "withdrawal": "PayoutSent",
        "pause": "Halted",
        "pause_errors": ["Halted", "MarketFrozen"],
        "money_instructions": ["payout", "settle_market"],
    },
    "wallet_roles": ["treasury", "fee", "ops"],
    # kube-prometheus names.
    "severities": {
        "critical": "critical",
        "high": "warning",
        "medium": "info",
        "low": "low",
        "watchdog": "none",
    },
}


def _other_site(tmp_path: Path) -> Path:
    data = yaml.safe_load(SITE_YML.read_text())
    for section, values in OTHER_SITE.items():
        if isinstance(values, dict):
            data[section].update(values)
        else:
            data[section] = values
    data["mints"]["SOL"]["floor"] = 5
    data["mints"]["EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"]["floor"] = 250
    data["accounts"]["treasury_hv"]["floor"] = 3
    data["mints"]["SOL"]["mismatch_tolerance"] = 0.002
    data["mints"]["EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"]["symbol"] = "USDC.e"
    data["mints"]["EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"]["mismatch_tolerance"] = 0.02
    return _write(tmp_path, yaml.safe_dump(data, sort_keys=False))


def test_every_threshold_is_varied() -> None:
    assert set(OTHER_SITE["thresholds"]) == set(site.THRESHOLDS)
    defaults = site.load(SITE_YML).thresholds
    for name, value in OTHER_SITE["thresholds"].items():
        assert float(defaults[name]) != float(value), name


@needs_tools
# In `make drills`: it runs every promtool file of a second bundle (about 85 s on 2 cores), which
# would take make test past its 15-minute budget; test_promtool_unit_tests_pass runs this bundle's.
@pytest.mark.drill
def test_another_site_regenerates_into_a_bundle_whose_tests_pass(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = subprocess.run(
        [sys.executable, "scripts/gen_rules.py", "--site", str(_other_site(tmp_path)), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    rules = "".join(p.read_text() for p in sorted((out / "prometheus" / "rules").glob("*.yml")))
    assert 'job="escrow-prod"' in rules and 'job="escrow-exporter"' not in rules
    assert "endpoint:escrow_rpc_slot_lag:slots > 90" in rules
    assert "    ingest_lag_high_seconds: 900,\n" in (out / "grafana" / "lib" / "site.libsonnet").read_text()
    assert 'escrow_reconciliation_mismatch_streak{job="escrow-prod"}) >= 3' in rules
    assert 'onchain_minus_ledger{mint="SOL"} > 0.002 + 1e-7' in rules
    assert '"tolerance", "0.05"' in rules  # the default, for mints without their own
    assert "https://wiki.example.org/escrow/EscrowRpcOutage" in rules
    assert "https://grafana.example.org/d/escrow-chain-rpc" in rules
    assert "localhost:3000" not in rules and "github.com/example" not in rules
    assert "instance:escrow_app_probe_errors:ratio_avg1h > 14.4 * (1 - 0.995)" in rules
    assert 'node_memory_MemTotal_bytes{job="hosts"}' in rules and 'pg_up{job="pg"}' in rules
    assert "instance:node_cpu_utilisation:rate5m > 0.85" in rules
    assert "severity: warning" in rules and "severity: none" in rules and "severity: high" not in rules
    assert 'event="PayoutSent"' in rules and "WithdrawalProcessed" not in rules
    assert 'instruction=~"payout|settle_market"' in rules and "settle_match" not in rules
    assert 'role=~"treasury|fee|ops"' in rules
    assert '"EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v" }}USDC.e{{' in rules
    # Runbook front matter: owner, review dates and contact tree from the site config.
    runbook = (out / "docs" / "runbooks" / "EscrowRpcOutage.md").read_text()
    meta = yaml.safe_load(runbook.split("---\n", 2)[1])
    assert meta["owner"] == "SRE guild (#sre)"
    assert (str(meta["last_reviewed"]), str(meta["next_review"])) == ("2026-01-15", "2026-02-14")
    assert any(c.startswith("P0 (`severity=critical`): PagerDuty") for c in meta["contacts"])
    assert (
        "severity=warning"
        in yaml.safe_load(
            (out / "docs" / "runbooks" / "EscrowWalletBelowFloor.md").read_text().split("---\n", 2)[1]
        )["contacts"][0]
    )
    tests = sorted((out / "prometheus" / "tests").glob("*_test.yml"))
    procs = {
        t.name: subprocess.Popen(
            ["promtool", "test", "rules", t.name],
            cwd=t.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for t in tests
    }
    failed = {}
    for name, p in procs.items():
        output, _ = p.communicate(timeout=600)  # a hang guard, not a speed check
        if p.returncode != 0:
            failed[name] = output.decode()[-3000:]
    assert failed == {}
    am = out / "alertmanager" / "alertmanager.yml"
    check = subprocess.run(["amtool", "check-config", str(am)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    route = subprocess.run(
        ["amtool", "config", "routes", "test", f"--config.file={am}", "alertname=X", "severity=warning"],
        capture_output=True,
        text=True,
    )
    assert route.stdout.strip() == "high", route.stdout + route.stderr
    # The tier's old name no longer pages: the renamed file is what make rules commits for compose.
    old_name = subprocess.run(
        ["amtool", "config", "routes", "test", f"--config.file={am}", "alertname=X", "severity=high"],
        capture_output=True,
        text=True,
    )
    assert old_name.stdout.strip() == "slack-medium", old_name.stdout + old_name.stderr
