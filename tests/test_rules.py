"""Prometheus side of the bundle: config and rules pass promtool, every alert has unit tests that
fire and stay quiet, and every alert is documented with a runbook."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bundle.cases import CASES
from bundle.config import ALERTS, RULE_GROUP_FILES, SITE, TIERS, alert_by_name, fill
from bundle.render import all_files
from bundle.runbooks import strip_front_matter
from exporter.ingest.totals import CU_BUCKETS, bucket_label
from tests.support.util import ROOT

PROM = ROOT / "prometheus"
RUNBOOKS = ROOT / "docs" / "runbooks"
SECTIONS = ("Symptoms", "First checks", "Steps", "Tools", "Validation checklist")
PROCEDURES = (
    "treasury-key-rotation",
    "emergency-pause-resume",
    "rpc-outage",
    "fraud-escalation-chargebacks",
    "escrow-mismatch-investigation",
    "audit-log-gap",
    "backup-restore",
)

needs_promtool = pytest.mark.skipif(
    not shutil.which("promtool"), reason="promtool not installed (make setup)"
)


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ROOT)


def _rules() -> list[dict[str, Any]]:
    rules = []
    for path in sorted((PROM / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules.extend(group["rules"])
    return rules


def test_generated_files_match_bundle_config() -> None:
    drift = [
        rel
        for rel, text in all_files().items()
        if not (ROOT / rel).exists() or (ROOT / rel).read_text() != text
    ]
    assert drift == [], f"out of date, run: python scripts/gen_rules.py  ({drift})"


@needs_promtool
def test_promtool_check_config_and_rules() -> None:
    r = _run("promtool", "check", "config", "prometheus/prometheus.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{len(RULE_GROUP_FILES)} rule files found" in r.stdout


@needs_promtool
def test_promtool_unit_tests_pass() -> None:
    # One promtool per file, in parallel: the 8-day withdrawal-baseline file dominates.
    files = sorted((PROM / "tests").glob("*_test.yml"))
    procs = {
        f.name: subprocess.Popen(
            ["promtool", "test", "rules", f.name],
            cwd=f.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for f in files
    }
    failed = {}
    for name, p in procs.items():
        out, _ = p.communicate(timeout=600)  # a hang guard, not a speed check
        if p.returncode != 0:
            failed[name] = out[-3000:]
    assert failed == {}


def test_each_promtool_test_file_loads_every_rule_its_alerts_read() -> None:
    """Test files load only the rule files they need (promtool evaluates every loaded rule at
    every step). A missing one would make a quiet case pass for the wrong reason, so check the
    closure from the rendered YAML: every recorded series and every alert (``ALERTS{alertname}``)
    that a loaded rule names is defined in a loaded file."""
    producers: dict[str, str] = {}
    rules_of: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((PROM / "rules").glob("*.yml")):
        rules = [r for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]
        rules_of[path.name] = rules
        producers.update({r.get("record") or r["alert"]: path.name for r in rules})
    for test_file in sorted((PROM / "tests").glob("*_test.yml")):
        doc = yaml.safe_load(test_file.read_text())
        loaded = {Path(f).name for f in doc["rule_files"]}
        tested = {t["alertname"] for case in doc["tests"] for t in case.get("alert_rule_test", [])}
        assert tested <= {producers_name for producers_name, f in producers.items() if f in loaded}, test_file
        for name in loaded:
            for rule in rules_of[name]:
                for token in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", rule["expr"]):
                    assert producers.get(token, name) in loaded, (
                        f"{test_file.name}: {name} reads {token}, from {producers[token]}, not loaded"
                    )


@needs_promtool
def test_promtool_unit_tests_can_fail(tmp_path: Path) -> None:
    """A wrong expected value must make promtool fail (the suite is not vacuous)."""
    src = (PROM / "tests" / "rpc_test.yml").read_text().replace("../rules/", f"{PROM}/rules/")
    broken = src.replace("is 151 slots behind", "is 152 slots behind", 1)
    assert broken != src
    (tmp_path / "broken_test.yml").write_text(broken)
    r = _run("promtool", "test", "rules", str(tmp_path / "broken_test.yml"))
    assert r.returncode != 0 and "EscrowRpcEndpointLagging" in r.stdout + r.stderr


def test_every_alert_has_tier_and_annotations() -> None:
    alerts = [r for r in _rules() if "alert" in r]
    assert {a["alert"] for a in alerts} == {a.name for a in ALERTS}
    for a in alerts:
        name = a["alert"]
        assert a["labels"]["severity"] in TIERS, name
        ann = a["annotations"]
        assert set(ann) == {"summary", "description", "runbook_url", "dashboard_url"}, name
        assert "{{" not in ann["summary"], f"{name}: summary must be static"
        assert "{{" in ann["description"], f"{name}: description must be templated"
        assert ann["runbook_url"].endswith(f"/docs/runbooks/{name}.md"), name
        assert re.fullmatch(
            r"http://localhost:3000/d/escrow-(overview|treasury|business|chain-rpc|exporter|slo|database|infrastructure|weekly-review|app-overview)",
            ann["dashboard_url"],
        )


def test_recording_rules_follow_level_metric_operation() -> None:
    records = [r["record"] for r in _rules() if "record" in r]
    assert records
    for name in records:
        assert re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", name), name


def test_every_alert_has_a_firing_and_a_quiet_promtool_case() -> None:
    fires: set[tuple[str, str]] = set()
    quiet: set[str] = set()
    for path in (PROM / "tests").glob("*_test.yml"):
        for group in yaml.safe_load(path.read_text())["tests"]:
            for t in group["alert_rule_test"]:
                if not t["exp_alerts"]:
                    quiet.add(t["alertname"])
                for exp in t["exp_alerts"]:
                    assert set(exp["exp_annotations"]) == {
                        "summary",
                        "description",
                        "runbook_url",
                        "dashboard_url",
                    }
                    fires.add((t["alertname"], exp["exp_labels"]["severity"]))
    for alert in ALERTS:
        for tier in alert.tiers:
            assert (alert.name, tier) in fires, f"no promtool case where {alert.name} fires at {tier}"
        if alert.name != "Watchdog":  # always fires: there is no threshold to stay under
            assert alert.name in quiet, f"no promtool case where {alert.name} stays quiet"


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## +(.+)$", text, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


@pytest.mark.parametrize("name", [a.name for a in ALERTS] + list(PROCEDURES))
def test_runbook_has_required_sections(name: str) -> None:
    path = RUNBOOKS / f"{name}.md"
    assert path.exists(), f"missing runbook {path.relative_to(ROOT)}"
    sections = _sections(path.read_text())
    for s in SECTIONS:
        assert s in sections and sections[s].strip(), f"{path.name}: section '## {s}' missing or empty"
    assert "```promql" in sections["First checks"], f"{path.name}: First checks need PromQL"
    assert "- [ ]" in sections["Validation checklist"], f"{path.name}: checklist items '- [ ]'"


def test_alerts_doc_lists_every_alert_with_tier_condition_and_runbook() -> None:
    doc = (ROOT / "docs" / "alerts.md").read_text()
    rows = [line for line in doc.splitlines() if line.startswith("| `")]
    listed = {
        (m.group(1), m.group(2)) for r in rows if (m := re.match(r"\| `(\w+)` \| (\w+) \| .+ \| .+ \| \[", r))
    }
    for alert in ALERTS:
        for tier in alert.tiers:
            assert (alert.name, tier) in listed, f"docs/alerts.md lacks {alert.name} ({tier})"
            row = next(r for r in rows if r.startswith(f"| `{alert.name}` | {tier} |"))
            assert f"(runbooks/{alert.name}.md)" in row
            assert row.split("|")[3].strip(), f"{alert.name}: no condition"
    for proc in PROCEDURES:
        assert f"(runbooks/{proc}.md)" in doc


def test_thresholds_come_from_one_place() -> None:
    """Changing a threshold in bundle/config.py changes the rule, its description and the doc."""
    lag = alert_by_name("EscrowIngestLag")
    rendered = {r["labels"]["severity"]: r for r in _rules() if r.get("alert") == "EscrowIngestLag"}
    for tier, placeholder in lag.tiers.items():
        threshold = fill(placeholder)
        assert rendered[tier]["expr"].endswith(f"> {threshold}")
        assert f"(threshold {threshold}s)" in rendered[tier]["annotations"]["description"]


def test_compute_units_threshold_is_a_bucket_boundary() -> None:
    """histogram_quantile interpolates inside a bucket: with 100k -> 200k, instructions at 110k CU
    read as p99 ~199k and fired. The threshold must be a bucket edge of the exporter's histogram."""
    threshold = int(fill(alert_by_name("EscrowComputeUnitsNearLimit").tiers["medium"]))
    assert threshold in CU_BUCKETS
    assert float(bucket_label(110_000)) < threshold, "110k-CU calls share a bucket with the threshold"


# Promtool cases pinning the review's findings (each fails on the rule it replaced); dropping one
# would silently reopen the hole.
REGRESSION_CASES = {
    "EscrowBalanceStale": [
        "reads failing since 60m still fire at 150m",
        "exporter (re)started at 40m, reads failing from 50m (series younger than 30m) fires",
        "never read since the exporter started 20m ago fires",
        "a closed account (exists 0, balance dropped) is quiet",
        "an exporter restarted under a new instance leaves no stale balance behind",
    ],
    "EscrowBalanceMismatch": [
        "a drained-and-closed escrow with 250k on the books fires",
        "USDC: a drift of exactly its tolerance 0.01 is quiet",
        "a SOL drift over its own tolerance but under the default fires",
    ],
    "EscrowWalletBelowFloor": [
        "a treasury SOL wallet and a treasury token account drained and closed fire at 0"
    ],
    "EscrowIngestLag": [
        "every cycle failing from a caught-up state (lag stays 0) fires high and medium",
        "no successful cycle since the exporter started 22m ago fires high and medium",
    ],
    "EscrowProgramPaused": [
        "the first ProgramPaused with a new reason fires",
        "a pause counted before a 20-minute downtime is quiet after the restart",
    ],
    "EscrowComputeUnitsNearLimit": [
        "every call at 110k CU (55% of the budget) is quiet",
        "6% of calls at 110k CU, the rest at 60k, is quiet",
    ],
    "EscrowReconciliationOverdue": [
        "no successful run recorded while the query works for 8h fires high and medium",
        "the timestamp row disappearing (after 6h20m) keeps it firing",
    ],
    "EscrowAppProbeFailed": [
        "blackbox_exporter down (probe scrape fails, no probe_success) fires",
        "every probe target vanished fires",
        "a deployment without probe targets is quiet",
    ],
    "EscrowEventDecodeErrors": ["totals restored after a 20-minute downtime are quiet"],
    "EscrowLogsTruncated": ["totals restored after a 20-minute downtime are quiet"],
    "EscrowRpcFailoverFlapping": ["exactly 4 failovers in 30m (unaligned scrapes) is quiet"],
}
# Issue 13: pages an ordinary day used to send.
ISSUE_13_CASES = {
    "EscrowEventDecodeErrors": [
        "a 3-minute scrape failure (stale markers) is quiet",
        "Prometheus down for 10 minutes is quiet",
    ],
    "EscrowProgramPaused": [
        "a 3-minute scrape failure (stale markers) is quiet",
        "Prometheus down for 10 minutes is quiet",
    ],
    "EscrowWithdrawalSpike": [
        "a steady 300/h with no 7-day history is quiet",
        "the catch-up after a 3-hour ingestion stall is quiet",
        "a first deployment's backfill of 1,000 withdrawals is quiet",
        "without 7-day history, 300/h after 5 hours at 30/h fires",
        # Rates by block time: no settled-hour gating, so no blind hour after a restart.
        "the catch-up after a 3-hour stall the lag could not see is quiet",
        "a real spike 10 minutes after an exporter restart fires",
        "a real spike 10 minutes after a 3-hour stall's catch-up fires",
    ],
    "EscrowTransactionFailureRatio": [
        "2 minutes after a resume (the window still holds the pause's rejections) is quiet",
        "real failures beside ProgramPaused rejections still fire medium",
    ],
    "EscrowWalletBelowFloor": [
        "a treasury holding a token without a configured floor is quiet",
        "a treasury holding less of a token than its account floor fires",
        "a fee wallet emptied by a planned sweep is quiet",
    ],
    "EscrowLedgerWriteErrors": ["a retention purge of old write_errors rows is quiet"],
    "EscrowRpcErrorRatio": ["5 minutes after an outage's timeouts stopped is quiet"],
    "EscrowRpcLatencyHigh": ["5 minutes after an outage's slow timeouts stopped is quiet"],
}
for _alert, _titles in ISSUE_13_CASES.items():
    REGRESSION_CASES.setdefault(_alert, []).extend(_titles)


def test_review_regression_cases_are_generated() -> None:
    generated = {
        group["name"]
        for path in (PROM / "tests").glob("*_test.yml")
        for group in yaml.safe_load(path.read_text())["tests"]
    }
    for alert, titles in REGRESSION_CASES.items():
        for title in titles:
            assert f"{alert}: {title}" in generated, f"promtool case missing: {alert}: {title}"


def test_compute_units_cases_use_the_exporters_buckets() -> None:
    les = {
        re.search(r'le="([^"]+)"', series).group(1)  # type: ignore[union-attr]
        for case in CASES
        if case.alert == "EscrowComputeUnitsNearLimit"
        for series in case.series
    }
    assert les == {str(b) for b in CU_BUCKETS} | {"+Inf"}


def test_runbooks_carry_the_contact_tree_of_their_tiers() -> None:
    """Issue 13: who answers comes from the site config, per tier, in every alert's runbook."""
    for alert in ALERTS:
        sections = _sections((RUNBOOKS / f"{alert.name}.md").read_text())
        tree = sections.get("Contact tree", "")
        for tier in alert.tiers:
            assert SITE.contacts[tier] in tree, f"{alert.name}: no {tier} contact in its contact tree"


def _front_matter(path: Path) -> dict[str, Any]:
    text = path.read_text()
    assert text.startswith("---\n"), f"{path.name}: no front matter"
    return dict(yaml.safe_load(text.split("---\n", 2)[1]))


def test_runbooks_front_matter_names_owner_review_and_contacts() -> None:
    """Issue 17: every runbook (and the incident process) says who owns it, when it was last
    reviewed, when it is due, and who answers, all from the site config."""
    review = SITE.runbooks
    docs = [p for p in sorted(RUNBOOKS.glob("*.md")) if p.name != "README.md"]
    docs.append(ROOT / "docs" / "incident-response.md")
    by_name = {a.name: a for a in ALERTS}
    for path in docs:
        meta = _front_matter(path)
        assert meta["owner"] == review.owners.get(path.stem, review.owner), path.name
        last = review.reviewed.get(path.stem, review.last_reviewed)
        assert meta["last_reviewed"] == last, path.name
        assert (meta["next_review"] - last).days == review.review_every_days, path.name
        alert = by_name.get(path.stem)
        tiers = list(alert.tiers) if alert else list(TIERS)
        for tier in tiers:
            assert any(SITE.contacts[tier] in c for c in meta["contacts"]), f"{path.name}: no {tier} contact"
        if alert is not None:
            assert meta["alert"] == alert.name and set(meta["tiers"]) == set(alert.tiers)
    assert _front_matter(RUNBOOKS / "treasury-key-rotation.md")["owner"] != review.owner


def test_incident_response_covers_the_process() -> None:
    text = (ROOT / "docs" / "incident-response.md").read_text()
    sections = _sections(text)
    for name in (
        "Roles",
        "Acknowledge",
        "Declare: the incident channel",
        "Communications",
        "Post-mortem template",
        "The weekly review",
        "Who answers",
    ):
        assert sections.get(name, "").strip(), f"docs/incident-response.md: section '## {name}' missing"
    for role in ("Incident commander", "Communications lead", "Scribe"):
        assert role in sections["Roles"], role
    assert "Investigating" in sections["Communications"] and "Resolved" in sections["Communications"]
    for tier in TIERS:
        assert SITE.contacts[tier] in sections["Who answers"], tier


def test_money_path_signals_page_at_p0() -> None:
    """The platform's policy: payments broken, data loss and money at risk are P0 (critical)."""
    for name in (
        "EscrowBalanceMismatch",
        "EscrowAuditLogGap",
        "EscrowWithdrawalSpike",
        "EscrowWithdrawalAmountSpike",
        "EscrowLedgerWriteErrors",
        "EscrowPaymentWebhooksStopped",
        "EscrowAppProbeFailed",
    ):
        assert "critical" in alert_by_name(name).tiers, name


def test_day_in_the_life_drill_checks_every_alert_after_every_step() -> None:
    """bundle/drill.py rendered for promtool (run by test_promtool_unit_tests_pass)."""
    from bundle import drill

    doc = yaml.safe_load((PROM / "tests" / "drill_test.yml").read_text())
    (group,) = doc["tests"]
    checked = {(t["eval_time"], t["alertname"]) for t in group["alert_rule_test"]}
    assert checked == {(f"{cp.at}m", a.name) for cp in drill.CHECKPOINTS for a in ALERTS}
    for step in (
        "backfill",
        "exporter restart",
        "scrape failure",
        "Prometheus outage",
        "resume",
        "fee sweep",
    ):
        assert step in group["name"], step


def test_runbook_titles_name_the_alerts_tiers() -> None:
    for alert in ALERTS:
        if alert.name == "Watchdog":
            continue  # "(always firing)"
        first = strip_front_matter((RUNBOOKS / f"{alert.name}.md").read_text()).splitlines()[0]
        assert first.startswith(f"# {alert.name} ("), first
        for tier in alert.tiers:
            assert tier in first, f"{alert.name}: runbook title {first!r} lacks its tier {tier}"
