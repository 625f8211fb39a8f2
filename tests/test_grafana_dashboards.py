"""Dashboards: pinned uids, committed JSON equal to a fresh build, versioning, links,
provisioning, and the query helper the end-to-end test uses."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grafana import build, queries
from tests.support.util import ROOT

#: uid per source file. Links and bookmarks rely on these: never change one.
PINNED_UIDS = {
    "overview.jsonnet": "escrow-overview",
    "treasury.jsonnet": "escrow-treasury",
    "business.jsonnet": "escrow-business",
    "chain_rpc.jsonnet": "escrow-chain-rpc",
    "exporter.jsonnet": "escrow-exporter",
    "weekly_review.jsonnet": "escrow-weekly-review",
    "slo.jsonnet": "escrow-slo",
    "infrastructure.jsonnet": "escrow-infrastructure",
    "database.jsonnet": "escrow-database",
    "app_overview.jsonnet": "escrow-app-overview",
}


def test_every_dashboard_annotates_exporter_deployments(dashboards: list[dict]) -> None:
    """Issue 17: deployments (each exporter process start, with its version) on every dashboard."""
    for d in dashboards:
        [ann] = [a for a in d["annotations"]["list"] if a["name"] == "Exporter deployments and restarts"]
        assert ann["enable"] and ann["useValueForTime"], d["uid"]
        assert "process_start_time_seconds" in ann["expr"] and "escrow_exporter_build_info" in ann["expr"]
        assert "{{version}}" in ann["titleFormat"]


def test_every_dashboard_annotates_application_deployments(dashboards: list[dict]) -> None:
    """Seed 004: the application's deployments too, from its own process start under app_http_job."""
    from bundle.config import SITE

    for d in dashboards:
        [ann] = [a for a in d["annotations"]["list"] if a["name"] == "Application deployments and restarts"]
        assert ann["enable"] and ann["useValueForTime"], d["uid"]
        assert "process_start_time_seconds" in ann["expr"] and f'job="{SITE.app_http_job}"' in ann["expr"]


@pytest.fixture(scope="module")
def dashboards() -> list[dict]:
    return queries.load_dashboards()


def test_uids_are_pinned() -> None:
    found = {src.name: build.compile_source(src)["uid"] for src in build.sources()}
    assert found == PINNED_UIDS


def test_committed_json_equals_a_fresh_build() -> None:
    assert build.drift() == [], "run `make dashboards` and commit the result"


def test_build_check_cli_reports_no_drift() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "grafana.build", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr


def test_changed_dashboard_without_version_bump_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, lock = build.build_all()
    lock["escrow-business"]["hash"] = "0" * 16  # as if the committed v1 had other content
    stale = tmp_path / "versions.lock.json"
    stale.write_text(build.lock_text(lock))
    monkeypatch.setattr(build, "LOCK", stale)
    with pytest.raises(
        build.BuildError,
        match=rf"business.jsonnet: dashboard escrow-business changed but its version is still {lock['escrow-business']['version']}",
    ):
        build.build_all()


def test_every_version_has_a_changelog_entry(dashboards: list[dict]) -> None:
    text = (ROOT / "grafana" / "CHANGELOG.md").read_text()
    for d in dashboards:
        assert f"{d['uid']} v{d['version']}" in text


def test_broken_jsonnet_is_reported_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonnet"
    bad.write_text("{\n  a: 1,\n  b: ,\n}\n")
    with pytest.raises(build.BuildError, match=r"bad.jsonnet:3"):
        build.compile_source(bad)


def test_links_reach_every_dashboard_keeping_time_and_variables(dashboards: list[dict]) -> None:
    for d in dashboards:
        (link,) = d["links"]
        assert link["type"] == "dashboards" and link["keepTime"] and link["includeVars"]
        # A tag link lists every dashboard carrying the tag: all five must carry it.
        assert all(set(link["tags"]) <= set(other["tags"]) for other in dashboards)


def test_shared_variables_have_the_same_definition_everywhere(dashboards: list[dict]) -> None:
    """includeVars passes values by name: a name must mean the same thing on every dashboard."""
    seen: dict[str, object] = {}
    for d in dashboards:
        for v in d["templating"]["list"]:
            key = v["name"]
            if key == "mint":  # ledger and chain share mint values (address or SOL)
                continue
            assert seen.setdefault(key, v["query"]) == v["query"], f"{d['uid']}: variable {key} differs"


def test_panel_queries_have_no_grafana_variables_left(dashboards: list[dict]) -> None:
    found = [q for d in dashboards for q in queries.iter_panel_queries(d)]
    assert len(found) >= 80
    for uid, title, expr in found:
        assert "$" not in expr and "[[" not in expr, (uid, title, expr)
    rate = [e for _, t, e in found if t == "Requests by endpoint and outcome"]
    assert rate == [
        'sum by (endpoint, outcome) (rate(escrow_rpc_requests_total{job=~".+",instance=~".+",endpoint=~".+"}[1m]))'
    ]


def test_substitute_handles_every_variable_syntax() -> None:
    got = queries.substitute(
        'x{a=~"$program",b=~"${mint}",c=~"[[job]]",d=~"${instance:regex}"}[$__rate_interval]'
    )
    assert got == 'x{a=~".+",b=~".+",c=~".+",d=~".+"}[1m]'
    assert queries.substitute("increase(x[$__range])", {"__range": "6h"}) == "increase(x[6h])"


def test_allow_list_names_existing_panels_with_reasons(dashboards: list[dict]) -> None:
    panels = {f"{uid}/{title}" for d in dashboards for uid, title, _ in queries.iter_panel_queries(d)}
    for key, reason in queries.ALLOWED_EMPTY.items():
        assert key in panels, f"allow-list entry {key} names no panel"
        assert len(reason) > 20
    assert queries.allowed_empty("escrow-overview", "Firing alerts")
    assert queries.allowed_empty("escrow-overview", "Escrow mismatch (on-chain minus ledger)") is None


def test_variable_queries_are_selectors(dashboards: list[dict]) -> None:
    by_name = {(uid, name): sel for d in dashboards for uid, name, sel in queries.iter_variable_queries(d)}
    assert by_name[("escrow-chain-rpc", "endpoint")] == 'escrow_rpc_up{job=~".+",instance=~".+"}'
    assert len(by_name) >= 15


def test_provisioning_datasource_has_a_fixed_uid() -> None:
    doc = yaml.safe_load((ROOT / "grafana/provisioning/datasources/prometheus.yml").read_text())
    (ds,) = doc["datasources"]
    assert ds["uid"] == "prometheus" and ds["type"] == "prometheus" and not ds["editable"]


def test_provisioning_provider_is_a_read_only_folder() -> None:
    doc = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/escrow.yml").read_text())
    (p,) = doc["providers"]
    assert p["folder"] and p["allowUiUpdates"] is False and p["type"] == "file"


def test_dashboards_are_not_editable_in_the_ui(dashboards: list[dict]) -> None:
    assert all(d["editable"] is False for d in dashboards)
    json.dumps(copy.deepcopy(dashboards))  # plain JSON, nothing jsonnet-only left


# Panel title -> the site thresholds its colour steps must be (after the base colour), per dashboard.
SITE_COLOUR_STEPS = {
    "treasury.jsonnet": {
        "Reconciled slot age": [
            "reconciliation_blocked_ticket_seconds",
            "reconciliation_blocked_page_seconds",
        ],
    },
    "overview.jsonnet": {
        "Ingest lag": ["ingest_lag_medium_seconds", "ingest_lag_high_seconds"],
        "Transaction failure ratio": ["tx_failure_ratio_medium", "tx_failure_ratio_high"],
    },
    "business.jsonnet": {
        "Since last reconciliation": ["reconciliation_medium_seconds", "reconciliation_high_seconds"],
        "Since last audit-log entry": ["audit_log_silence_seconds"],
    },
}


def _compile_with_site_lib(src: Path, lib: str) -> dict:
    """Compile a dashboard as `make rules` would after rendering ``lib`` as grafana/lib/site.libsonnet."""
    import _jsonnet

    def imports(base: str, rel: str) -> tuple[str, bytes]:
        path = (Path(base) / rel).resolve()
        if path.name == "site.libsonnet":
            return str(path), lib.encode()
        return str(path), path.read_bytes()

    return json.loads(_jsonnet.evaluate_file(str(src), import_callback=imports))


def _colour_steps(dashboard: dict, title: str) -> list[float]:
    panel = next(p for p in dashboard["panels"] if p.get("title") == title)
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [s["value"] for s in steps[1:]]


def test_generated_site_lib_matches_the_site_config() -> None:
    from bundle import site

    committed = (ROOT / "grafana" / "lib" / "site.libsonnet").read_text()
    assert committed == site.libsonnet(site.load(ROOT / "bundle" / "site.yml")), "run `make rules`"


@pytest.mark.parametrize("source", sorted(SITE_COLOUR_STEPS))
def test_threshold_colours_follow_the_site_config(tmp_path: Path, source: str) -> None:
    """The committed dashboards colour at the site's thresholds, and another site's thresholds
    (every one changed) move the colours with them."""
    from bundle import site

    default = site.load(ROOT / "bundle" / "site.yml")
    committed = json.loads((ROOT / "grafana" / "dashboards" / source).with_suffix(".json").read_text())
    data = yaml.safe_load((ROOT / "bundle" / "site.yml").read_text())
    data["thresholds"] = {k: float(v) * 2 for k, v in data["thresholds"].items()}
    data["thresholds"]["reconciliation_agreeing_runs"] = 3
    # SLO targets and warning/critical ratio pairs stay ratios below 1, in order.
    for k, v in data["thresholds"].items():
        if k.endswith("_slo") or k.endswith(("_medium_ratio", "_high_ratio", "_queue_ratio")):
            data["thresholds"][k] = (1 + float(v) / 2) / 2
    other_yml = tmp_path / "site.yml"
    other_yml.write_text(yaml.safe_dump(data))
    other = site.load(other_yml)
    rebuilt = _compile_with_site_lib(ROOT / "grafana" / "dashboards" / source, site.libsonnet(other))
    for title, names in SITE_COLOUR_STEPS[source].items():
        assert _colour_steps(committed, title) == [float(default.thresholds[n]) for n in names], title
        assert _colour_steps(rebuilt, title) == [float(other.thresholds[n]) for n in names], title


def test_meta_monitoring_alerts_link_to_panels_of_what_they_read(dashboards: list[dict]) -> None:
    """An alert about the alerting pipeline opens a dashboard that plots the series it fires on."""
    from bundle.config import ALERTS

    by_uid = {d["uid"]: d for d in dashboards}
    meta = [a for a in ALERTS if a.group == "meta" and a.name != "Watchdog"]
    assert len(meta) == 4
    for alert in meta:
        exprs = " ".join(e for _, _, e in queries.iter_panel_queries(by_uid[alert.dashboard]))
        read = set(re.findall(r"\b((?:alertmanager|prometheus)_[a-z_]+)\{", alert.expr))
        assert read and all(name in exprs for name in read), (alert.name, read)
