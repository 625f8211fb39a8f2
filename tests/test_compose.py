"""docker-compose.yml, the Dockerfile and the compose exporter config, checked without a
Docker engine: `docker-compose config` validates and interpolates, then we read the result."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.exporter_proc import wait_until
from tests.support.util import ROOT, cli, free_port, stop_process, wait_http

SECRETS = {
    "GRAFANA_ADMIN_PASSWORD": "test-admin-pw",
    "POSTGRES_PASSWORD": "test-pg-pw",
    "EXPORTER_DB_PASSWORD": "test-exporter-pw",
}
EXPECTED_SERVICES = {
    "exporter", "simulator", "postgres", "prometheus", "alertmanager", "grafana", "blackbox",
    "node-exporter", "postgres-exporter", "backup", "ledger-backup", "sla-report",
}  # fmt: skip


def _compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose not installed (make setup installs the Debian package)")
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS and k != "BIND_ADDRESS"}
    return subprocess.run(
        [binary, "-f", str(ROOT / "docker-compose.yml"), *args],
        cwd=ROOT, capture_output=True, text=True, env={**clean, **env}, timeout=60,
    )  # fmt: skip


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    r = _compose("config", env=SECRETS)
    assert r.returncode == 0, r.stderr
    return dict(yaml.safe_load(r.stdout))


def test_compose_config_is_valid() -> None:
    r = _compose("config", "-q", env=SECRETS)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_required_secret_missing_is_named(missing: str) -> None:
    r = _compose("config", "-q", env={k: v for k, v in SECRETS.items() if k != missing})
    assert r.returncode != 0 and missing in r.stderr


def test_all_services_present(config: dict[str, Any]) -> None:
    assert set(config["services"]) == EXPECTED_SERVICES


def test_images_are_pinned_to_exact_versions(config: dict[str, Any]) -> None:
    for name, svc in config["services"].items():
        if "build" in svc:
            assert svc["build"]["dockerfile"] == "Dockerfile", name
            continue
        image = svc["image"]
        # PostgreSQL releases are major.minor; the others major.minor.patch. Never "latest" or "16".
        assert re.search(r":v?\d+\.\d+(\.\d+)?(-[a-z0-9.]+)?$", image), (
            f"{name}: {image} is not an exact version"
        )


def test_every_service_has_a_healthcheck(config: dict[str, Any]) -> None:
    for name, svc in config["services"].items():
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_dependencies_wait_for_health(config: dict[str, Any]) -> None:
    deps = {name: svc.get("depends_on", {}) for name, svc in config["services"].items()}
    assert {"simulator", "postgres"} <= set(deps["exporter"])
    assert "prometheus" in deps["grafana"] and "exporter" in deps["prometheus"]
    for name, d in deps.items():
        for target, cond in d.items():
            assert cond == {"condition": "service_healthy"}, f"{name} -> {target}"


def test_ports_bind_to_loopback_by_default(config: dict[str, Any]) -> None:
    for name, svc in config["services"].items():
        for port in svc.get("ports", []):
            text = port if isinstance(port, str) else f"{port.get('host_ip')}:{port.get('published')}"
            assert text.startswith("127.0.0.1:"), f"{name}: {port}"


def test_bind_address_can_be_overridden() -> None:
    r = _compose("config", env={**SECRETS, "BIND_ADDRESS": "0.0.0.0"})
    assert r.returncode == 0 and "0.0.0.0:3000:3000" in r.stdout


def test_grafana_password_from_environment_and_no_anonymous_admin(config: dict[str, Any]) -> None:
    env = config["services"]["grafana"]["environment"]
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == SECRETS["GRAFANA_ADMIN_PASSWORD"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert "GF_AUTH_ANONYMOUS_ORG_ROLE" not in env
    raw = (ROOT / "docker-compose.yml").read_text()
    assert SECRETS["GRAFANA_ADMIN_PASSWORD"] not in raw


def _mounts(svc: dict[str, Any]) -> dict[str, str]:
    """container path -> host path (relative to the repository) for bind mounts."""
    out = {}
    for v in svc.get("volumes", []):
        src, dst = (v.split(":")[0], v.split(":")[1]) if isinstance(v, str) else (v["source"], v["target"])
        if src.startswith("/"):
            out[dst] = os.path.relpath(src, ROOT)
    return out


def test_same_config_files_as_the_native_stack(config: dict[str, Any]) -> None:
    s = config["services"]
    assert _mounts(s["prometheus"])["/etc/prometheus"] == "prometheus"
    assert _mounts(s["alertmanager"])["/etc/alertmanager"] == "alertmanager"
    assert _mounts(s["grafana"])["/etc/grafana/provisioning"] == "grafana/provisioning"
    assert _mounts(s["grafana"])["/etc/grafana/dashboards/escrow"] == "grafana/dashboards"
    assert _mounts(s["postgres"])["/docker-entrypoint-initdb.d"] == "schema/postgres"
    assert _mounts(s["exporter"])["/etc/escrow-exporter/config.yml"] == "examples/compose-config.yml"
    # Provisioning reads these; the home dashboard must be one of ours.
    env = s["grafana"]["environment"]
    assert env["ESCROW_DASHBOARDS_DIR"] == "/etc/grafana/dashboards/escrow"
    assert (
        ROOT / "grafana/dashboards" / Path(env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]).name
    ).exists()
    for host in _mounts(s["exporter"]).values():
        assert (ROOT / host).exists(), host


def test_simulator_runs_from_the_exporter_image(config: dict[str, Any]) -> None:
    sim, exp = config["services"]["simulator"], config["services"]["exporter"]
    assert sim["image"] == exp["image"]
    assert sim["command"] == ["devchain", "--listen", "0.0.0.0:8899"]


def test_dockerfile_is_slim_non_root_with_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    assert re.search(r"^RUN pip install \.", text, re.M)
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r"^EXPOSE 10190$", text, re.M)
    assert re.search(r"^HEALTHCHECK .*\n?.*/-/healthy", text, re.M)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "var"} <= set(ignored)


def test_compose_exporter_config_passes_check_config(tmp_path: Path) -> None:
    # Laid out as in the container: the config beside the mounted idls/.
    (tmp_path / "config.yml").write_text((ROOT / "examples/compose-config.yml").read_text())
    shutil.copytree(ROOT / "idls", tmp_path / "idls")
    r = cli("check-config", "--config", str(tmp_path / "config.yml"), env={"EXPORTER_DB_PASSWORD": "x"})
    assert r.returncode == 0, r.stdout + r.stderr


def test_compose_config_carries_the_query_pack_unchanged() -> None:
    pack = yaml.safe_load((ROOT / "schema/queries.yml").read_text())
    mine = yaml.safe_load((ROOT / "examples/compose-config.yml").read_text())
    # To refresh: replace the `queries:` block under `sql:` with schema/queries.yml's, indented by 2.
    assert mine["sql"]["queries"] == pack["queries"], (
        "examples/compose-config.yml: sql.queries differs from schema/queries.yml"
    )
    assert [d["driver"] for d in mine["sql"]["databases"]] == ["postgres"]
    # The SELECT-only role of schema/postgres/900_exporter_role.sh, never the owner, and no opt-out.
    assert mine["sql"]["databases"][0]["dsn"].startswith(
        "postgresql://escrow_exporter:${EXPORTER_DB_PASSWORD}@"
    )
    assert "allow_privileged_role" not in mine["sql"]["databases"][0]


def _compose_prometheus_dir(config: dict[str, Any], into: Path) -> Path:
    """/etc/prometheus as the compose Prometheus container sees it: each host path mounted at its
    target, later (deeper) mounts hiding what is under them, as bind mounts do."""
    mounts = _mounts(config["services"]["prometheus"])
    for target in sorted(m for m in mounts if m.startswith("/etc/prometheus")):
        dst = into / target.removeprefix("/")
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(ROOT / mounts[target], dst)
    return into / "etc/prometheus"


def test_compose_prometheus_scrapes_and_alerts_by_service_name(
    config: dict[str, Any], tmp_path: Path
) -> None:
    """A real Prometheus on the compose layout of /etc/prometheus discovers every job at the
    compose service names, and sends alerts to the alertmanager service (nothing at localhost,
    which inside the container is Prometheus itself)."""
    etc = _compose_prometheus_dir(config, tmp_path)
    prom_cfg = yaml.safe_load((etc / "prometheus.yml").read_text())
    port = free_port()
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={etc / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "wb"),  # noqa: SIM115
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/-/ready", timeout=30)

        def api(path: str) -> Any:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/{path}", timeout=5) as r:
                return json.loads(r.read())["data"]

        def discovered() -> dict[str, set[str]] | None:
            by_job: dict[str, set[str]] = {}
            for t in api("targets")["activeTargets"]:
                by_job.setdefault(t["labels"]["job"], set()).add(t["scrapeUrl"])
            return by_job if set(by_job) == {j["job_name"] for j in prom_cfg["scrape_configs"]} else None

        targets = wait_until(discovered, timeout=30, what="every compose scrape job discovered")
        assert targets["escrow-exporter"] == {"http://exporter:10190/metrics"}
        assert targets["escrow-app"] == {"http://simulator:8899/metrics"}  # the simulated application
        assert targets["alertmanager"] == {"http://alertmanager:9093/metrics"}
        assert targets["blackbox-exporter"] == {"http://blackbox:9115/metrics"}
        assert {urllib.parse.urlsplit(u).netloc for u in targets["escrow-app-health"]} == {"blackbox:9115"}
        assert targets["prometheus"] == {"http://localhost:9090/metrics"}  # itself, in its container
        assert targets["node"] == {"http://node-exporter:9100/metrics"}
        assert targets["postgres"] == {"http://postgres-exporter:9187/metrics"}
        # /health under both body-keyword modules, the status-only module for the others.
        modules = sorted(
            urllib.parse.parse_qs(urllib.parse.urlsplit(u).query)["module"][0]
            for u in targets["escrow-app-health"]
        )
        assert modules == ["http_2xx", "http_2xx", "http_health_database", "http_health_ok"]
        ams = wait_until(
            lambda: api("alertmanagers")["activeAlertmanagers"], timeout=30, what="alertmanagers"
        )
        assert [a["url"] for a in ams] == ["http://alertmanager:9093/api/v2/alerts"]
    finally:
        stop_process(proc)


def test_every_file_sd_file_exists_for_the_native_and_the_compose_layout() -> None:
    cfg = yaml.safe_load((ROOT / "prometheus/prometheus.yml").read_text())
    sections = cfg["scrape_configs"] + cfg["alerting"]["alertmanagers"]
    named = {f for s in sections for sd in s.get("file_sd_configs", []) for f in sd["files"]}
    assert named, "prometheus.yml names no file_sd target files"
    # The repository's targets/ serves a native install; compose mounts its own directory over
    # it, which hides the repository's files, so it must hold every one of them too.
    for f in sorted(named):
        assert f.startswith("targets/"), f
        for path in (
            ROOT / "prometheus" / f,
            ROOT / "examples/compose/prometheus-targets" / f.removeprefix("targets/"),
        ):
            assert path.exists(), f"prometheus.yml names {f}, missing {path.relative_to(ROOT)}"


def test_blackbox_runs_the_repository_modules(config: dict[str, Any]) -> None:
    """Without the mount, blackbox runs its image's default modules, not prometheus/blackbox.yml."""
    svc = config["services"]["blackbox"]
    flag = next(a for a in svc["command"] if a.startswith("--config.file="))
    assert _mounts(svc).get(flag.removeprefix("--config.file=")) == "prometheus/blackbox.yml"


def test_readme_compose_command_sets_every_required_variable() -> None:
    required = set(re.findall(r"\$\{(\w+):\?", (ROOT / "docker-compose.yml").read_text()))
    assert required >= set(SECRETS)
    commands = [ln for ln in (ROOT / "README.md").read_text().splitlines() if "docker compose up" in ln]
    assert commands, "README shows no compose command"
    for line in commands:
        for var in sorted(required):
            assert f"{var}=" in line, f"README's compose command does not set {var}: {line}"


def test_backup_service_backs_up_the_exporters_state_volume(config: dict[str, Any]) -> None:
    """Issue 17: the scheduled backup reads the exporter's own state volume and keeps its copies."""

    def volumes(svc: dict[str, Any]) -> dict[str, str]:
        out = {}
        for v in svc["volumes"]:
            src, dst = (
                (v.split(":")[0], v.split(":")[1]) if isinstance(v, str) else (v["source"], v["target"])
            )
            out[dst] = src
        return out

    svc = config["services"]["backup"]
    assert svc["image"] == config["services"]["exporter"]["image"]
    state = volumes(config["services"]["exporter"])["/var/lib/escrow-exporter"]
    assert volumes(svc)["/var/lib/escrow-exporter"] == state
    script = " ".join(svc["command"])
    assert (
        "escrow-exporter backup --source state=/var/lib/escrow-exporter/state.sqlite --dest /backups"
        in script
    )
    assert "sleep 21600" in script and "--textfile /backups/escrow_backup.prom" in script


def test_ledger_backup_dumps_the_compose_ledger_and_node_exporter_reads_the_metrics(
    config: dict[str, Any],
) -> None:
    """Issue 17: the compose ledger is pg_dumped on a schedule next to the state file, and the backup
    metrics reach Prometheus (node_exporter's textfile collector reads the backups volume)."""
    svc = config["services"]["ledger-backup"]
    assert svc["image"] == config["services"]["postgres"]["image"], "pg_dump must match the server"
    env = svc["environment"]
    assert (
        env["LEDGER_DSN"] == "postgresql://escrow@postgres:5432/escrow" and env["PGPASSWORD"] == "test-pg-pw"
    )
    assert env["BACKUP_INTERVAL_SECONDS"] == "21600"
    targets = {v.split(":")[1]: v.split(":")[0] for v in svc["volumes"]}
    assert targets["/backups"] == "exporter-backups"
    script = Path(targets["/usr/local/bin/ledger-backup.sh"])
    assert script == ROOT / "deploy" / "compose" / "ledger-backup.sh" and script.is_file()
    node = config["services"]["node-exporter"]
    textfile = next(
        a.split("=", 1)[1] for a in node["command"] if a.startswith("--collector.textfile.directory=")
    )
    assert {v.split(":")[1]: v.split(":")[0] for v in node["volumes"]}[textfile] == "exporter-backups"
    # The state backup's textfile lands in the same directory.
    assert "--textfile /backups/escrow_backup.prom" in " ".join(config["services"]["backup"]["command"])


def test_sla_report_service_reads_the_stacks_prometheus_daily(config: dict[str, Any]) -> None:
    """Issue 17: the SLA report (docs/sla-reports.md) of the month to date and the month before,
    from the compose Prometheus, into a volume the image's user owns."""
    svc = config["services"]["sla-report"]
    assert svc["image"] == config["services"]["exporter"]["image"]
    assert svc["depends_on"]["prometheus"]["condition"] == "service_healthy"
    script = " ".join(svc["command"])
    for month in ("current", "previous"):
        assert (
            f"escrow-exporter sla-report --prometheus http://prometheus:9090 --month {month} --out reports"
            in script
        )
    assert "sleep 86400" in script
    # The image's home directory (its WORKDIR): a new volume there is owned by the image's user.
    [mount] = svc["volumes"]
    target = mount.split(":")[1] if isinstance(mount, str) else mount["target"]
    assert target == "/var/lib/escrow-exporter"
    assert "WORKDIR /var/lib/escrow-exporter" in (ROOT / "Dockerfile").read_text()
