"""deploy/kubernetes: the manifests hang together, the config is valid, the rules match prometheus/.

No cluster here: these check what `kubectl apply -k` and the Prometheus Operator would rely on
(kinds, names, selectors, ports, mounts, probes, security context) and run `promtool` on the
PrometheusRule's groups.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from bundle import prometheusrule
from exporter.config import load_config
from tests.support.pg_server import PG_BIN, PgServer, pg_server  # noqa: F401 - the session fixture
from tests.support.util import ROOT

K8S = ROOT / "deploy" / "kubernetes"
SECRETS_DIR = "/etc/escrow-exporter/secrets"


def _sources(k8s: Path = K8S) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((k8s / "kustomization.yaml").read_text())
    return [
        d for name in kustomization["resources"] for d in yaml.safe_load_all((k8s / name).read_text()) if d
    ]


def render_ourselves(k8s: Path = K8S) -> list[dict[str, Any]]:
    """What `kubectl kustomize` makes of the directory, for the features kustomization.yaml uses
    (resources, namespace, configMapGenerator with its name reference, images); for machines
    without kubectl. The hash differs from kustomize's, the behaviour does not."""
    k = yaml.safe_load((k8s / "kustomization.yaml").read_text())
    out = _sources(k8s)
    generated: dict[str, str] = {}
    for g in k.get("configMapGenerator", []):
        data = {Path(f).name: (k8s / f).read_text() for f in g["files"]}
        name = f"{g['name']}-{hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:10]}"
        generated[g["name"]] = name
        labels = g.get("options", {}).get("labels", {})
        out.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "labels": labels},
                "data": data,
            }
        )
    images = {i["name"]: i for i in k.get("images", [])}
    for d in out:
        if d["kind"] != "Namespace":
            d["metadata"]["namespace"] = k["namespace"]
        if d["kind"] == "StatefulSet":
            pod = d["spec"]["template"]["spec"]
        elif d["kind"] == "CronJob":
            pod = d["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        else:
            continue
        for v in pod.get("volumes", []):
            if "configMap" in v:
                v["configMap"]["name"] = generated.get(v["configMap"]["name"], v["configMap"]["name"])
        for c in pod["containers"]:
            if c["image"] in images:
                i = images[c["image"]]
                c["image"] = f"{i.get('newName', c['image'])}:{i['newTag']}"
    return out


def render(k8s: Path = K8S) -> list[dict[str, Any]]:
    """The manifests `kubectl apply -k` sends: kubectl's rendering when it is installed."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return render_ourselves(k8s)
    proc = subprocess.run([kubectl, "kustomize", str(k8s)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def _is_ledger_backup(doc: dict[str, Any]) -> bool:
    return bool(doc["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "ledger-backup")


def _is_sla_report(doc: dict[str, Any]) -> bool:
    return bool(doc["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "sla-report")


def docs(k8s: Path = K8S) -> dict[str, dict[str, Any]]:
    """Every rendered manifest by kind; ConfigMap is the exporter's config (the dashboards' are
    under "dashboards"), Probe the first of the probe.yaml's. The ledger backup's own Secret,
    ConfigMap, PVC and CronJob are in ``ledger_backup()``, the SLA report's in ``sla_report()``."""
    out: dict[str, dict[str, Any]] = {}
    for doc in render(k8s):
        kind = doc["kind"]
        if _is_ledger_backup(doc) or _is_sla_report(doc):
            continue
        if kind == "ConfigMap" and doc["metadata"]["labels"].get("grafana_dashboard") == "1":
            continue
        if kind == "Probe" and kind in out:
            continue  # one Probe per blackbox module: test_probes_feed_the_app_alerts_... checks them all
        assert kind not in out, f"two {kind} manifests"
        out[kind] = doc
    return out


def ledger_backup(k8s: Path = K8S) -> dict[str, dict[str, Any]]:
    """The ledger backup's manifests (ledger-backup-cronjob.yaml and its script's ConfigMap) by kind."""
    out: dict[str, dict[str, Any]] = {}
    for doc in render(k8s):
        if _is_ledger_backup(doc):
            assert doc["kind"] not in out, f"two ledger backup {doc['kind']} manifests"
            out[doc["kind"]] = doc
    return out


def sla_report(k8s: Path = K8S) -> dict[str, dict[str, Any]]:
    """The monthly SLA report's manifests (sla-report-cronjob.yaml) by kind."""
    out: dict[str, dict[str, Any]] = {}
    for doc in render(k8s):
        if _is_sla_report(doc):
            assert doc["kind"] not in out, f"two SLA report {doc['kind']} manifests"
            out[doc["kind"]] = doc
    return out


def test_sla_report_cronjob_writes_the_previous_month_to_its_volume() -> None:
    """Issue 17: the monthly SLA report (docs/sla-reports.md), scheduled as the backups are."""
    d = sla_report()
    assert set(d) == {"PersistentVolumeClaim", "CronJob"}
    job = d["CronJob"]
    assert job["spec"]["schedule"] == "17 6 1 * *" and job["spec"]["concurrencyPolicy"] == "Forbid"
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [c] = pod["containers"]
    assert c["args"][0] == "sla-report" and "--month=previous" in c["args"] and "--out=/reports" in c["args"]
    assert any(a.startswith("--prometheus=http://") for a in c["args"])
    [vol] = pod["volumes"]
    assert vol["persistentVolumeClaim"]["claimName"] == d["PersistentVolumeClaim"]["metadata"]["name"]
    assert [m["mountPath"] for m in c["volumeMounts"]] == ["/reports"]
    assert c["securityContext"]["readOnlyRootFilesystem"] and pod["securityContext"]["runAsNonRoot"]


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    listed |= {f for g in kustomization["configMapGenerator"] for f in g["files"]}
    on_disk = {p.name for p in [*K8S.glob("*.yaml"), *K8S.glob("*.yml"), *K8S.glob("*.sh")]}
    on_disk -= {"kustomization.yaml"}
    assert listed == on_disk
    assert set(docs()) == {
        "Namespace",
        "ConfigMap",
        "Secret",
        "StatefulSet",
        "Service",
        "ServiceMonitor",
        "Probe",
        "NetworkPolicy",
        "PrometheusRule",
        "PersistentVolumeClaim",  # issue 17: the backups' volume
        "CronJob",  # and the 6-hourly backup of the state file
    }
    # and the ledger's pg_dump, with its DSN, script, volume
    assert set(ledger_backup()) == {"Secret", "ConfigMap", "PersistentVolumeClaim", "CronJob"}


def test_backup_cronjob_reads_the_statefulsets_state_volume_on_its_node() -> None:
    d = docs()
    sts, job = d["StatefulSet"], d["CronJob"]
    state_claim = sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"]
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for v in pod["volumes"]
        if "persistentVolumeClaim" in v
    }
    assert claims["state"] == f"{state_claim}-{sts['metadata']['name']}-0"
    assert claims["backups"] == d["PersistentVolumeClaim"]["metadata"]["name"]
    [c] = pod["containers"]
    assert c["args"][0] == "backup" and "--source=state=/var/lib/escrow-exporter/state.sqlite" in c["args"]
    assert "/var/lib/escrow-exporter" in {m["mountPath"] for m in c["volumeMounts"] if m["name"] == "state"}
    # Same node as the exporter pod (a ReadWriteOnce volume), never two backups at once.
    term = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert (
        term["labelSelector"]["matchLabels"].items() <= sts["spec"]["template"]["metadata"]["labels"].items()
    )
    assert job["spec"]["concurrencyPolicy"] == "Forbid"


def _ledger_pod() -> tuple[dict[str, dict[str, Any]], dict[str, Any], dict[str, Any]]:
    lb = ledger_backup()
    pod = lb["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [c] = pod["containers"]
    return lb, pod, c


def test_ledger_backup_cronjob_runs_composes_script_with_the_secrets_dsn() -> None:
    """Issue 17: the ledger's pg_dump on Kubernetes, wired as compose's ledger-backup service."""
    lb, pod, c = _ledger_pod()
    script = K8S / "ledger-backup.sh"
    assert script.read_text() == (ROOT / "deploy" / "compose" / "ledger-backup.sh").read_text(), (
        "cp deploy/compose/ledger-backup.sh deploy/kubernetes/"
    )
    # The command runs the script from the generated ConfigMap, mounted where the command looks.
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    sh, path = c["command"]
    assert sh == "/bin/sh" and not c.get("args")
    mount_path, key = path.rsplit("/", 1)
    assert volumes[mounts[mount_path]]["configMap"]["name"] == lb["ConfigMap"]["metadata"]["name"]
    assert lb["ConfigMap"]["data"][key] == script.read_text()
    # Every secretKeyRef names a key the Secret has; the password never sits in the DSN.
    env = {e["name"]: e for e in c["env"]}
    for e in env.values():
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert (
                ref["name"] == lb["Secret"]["metadata"]["name"] and ref["key"] in lb["Secret"]["stringData"]
            )
    assert {"LEDGER_DSN", "PGPASSWORD"} <= {n for n, e in env.items() if "valueFrom" in e}
    dsn = lb["Secret"]["stringData"][env["LEDGER_DSN"]["valueFrom"]["secretKeyRef"]["key"]]
    assert urllib.parse.urlsplit(dsn).password is None
    # One run per Job (its exit status is the Job's), dumps on the PVC, never two at once.
    assert env["BACKUP_INTERVAL_SECONDS"]["value"] == "0"
    assert (
        volumes[mounts[env["BACKUP_DIR"]["value"]]]["persistentVolumeClaim"]["claimName"]
        == (lb["PersistentVolumeClaim"]["metadata"]["name"])
    )
    assert lb["CronJob"]["spec"]["concurrencyPolicy"] == "Forbid"
    # pg_dump refuses a server newer than itself: the same postgres image as compose's ledger.
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert c["image"] == compose["ledger-backup"]["image"] == compose["postgres"]["image"]
    # Locked down like the exporter: only the mounted volumes are writable.
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    # Not selected by the exporter's NetworkPolicy (which would cut it off from the database).
    selected = docs()["NetworkPolicy"]["spec"]["podSelector"]["matchLabels"].items()
    assert (
        not selected <= lb["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"].items()
    )


def test_ledger_backup_cronjobs_container_dumps_a_real_ledger(pg_server: PgServer, tmp_path: Path) -> None:  # noqa: F811
    """The container's command and environment as the manifest gives them (the Secret's values,
    the DSN pointed at a real PostgreSQL, /backups at a temp dir): a dump that restores."""
    pg = pg_server
    pg.psql("DROP DATABASE IF EXISTS k8s_ledger")
    pg.psql("CREATE DATABASE k8s_ledger")
    test_dsn = pg.dsn.rsplit("/", 1)[0] + "/k8s_ledger"
    pg.psql(
        "CREATE TABLE ledger_entries (amount numeric); INSERT INTO ledger_entries VALUES (2.25), (4)",
        test_dsn,
    )
    lb, pod, c = _ledger_pod()
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    for key, text in lb["ConfigMap"]["data"].items():
        (scripts / key).write_text(text)
    backups = tmp_path / "backups"
    backups.mkdir()
    env = {"PATH": f"{PG_BIN}:/usr/bin:/bin"}
    for e in c["env"]:
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        env[e["name"]] = lb["Secret"]["stringData"][ref["key"]] if ref else e["value"]
    env["LEDGER_DSN"] = test_dsn  # the Secret's host does not exist here
    env.pop("PGPASSWORD")  # the test server trusts loopback
    env["BACKUP_DIR"] = str(backups)
    argv = [
        c["command"][0],
        *(str(scripts / Path(a).name) if a.startswith("/scripts/") else a for a in c["command"][1:]),
    ]
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    [dump] = backups.glob("ledger-*.dump")
    pg.psql("DROP DATABASE IF EXISTS k8s_ledger_restored")
    pg.psql("CREATE DATABASE k8s_ledger_restored")
    restored = pg.dsn.rsplit("/", 1)[0] + "/k8s_ledger_restored"
    subprocess.run(
        [str(PG_BIN / "pg_restore"), "--no-owner", f"--dbname={restored}", str(dump)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    assert pg.psql("SELECT sum(amount) FROM ledger_entries", restored).strip() == "6.25"


def test_escrow_backup_stale_reads_every_backup_cronjob() -> None:
    """kube-state-metrics' last success of each CronJob, named as its source, is in the alert."""
    from bundle.backups import CRONJOBS

    cronjobs = {d["metadata"]["name"] for d in render() if d["kind"] == "CronJob" and not _is_sla_report(d)}
    assert cronjobs == set(CRONJOBS) == {"escrow-exporter-backup", "escrow-ledger-backup"}
    assert CRONJOBS["escrow-ledger-backup"] == "ledger"
    groups = docs()["PrometheusRule"]["spec"]["groups"]
    [expr] = [r["expr"] for g in groups for r in g["rules"] if r.get("alert") == "EscrowBackupStale"]
    for job, source in CRONJOBS.items():
        assert f'kube_cronjob_status_last_successful_time{{cronjob="{job}"}}, "source", "{source}"' in expr


def test_prometheusrule_is_up_to_date_with_bundle_config() -> None:
    assert (K8S / "prometheusrule.yaml").read_text() == prometheusrule.render(), (
        "run: python -m bundle.prometheusrule"
    )


def test_prometheusrule_has_exactly_the_rules_prometheus_loads() -> None:
    """Independent of the generator: compare with the committed prometheus/rules/*.yml files."""
    files: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((ROOT / "prometheus" / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            files[group["name"]] = group["rules"]
    rule = docs()["PrometheusRule"]
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    crd = {g["name"]: g["rules"] for g in rule["spec"]["groups"]}
    assert crd.keys() == files.keys()
    for name, rules in files.items():
        assert crd[name] == rules, f"group {name} differs"
    assert sum(len(r) for r in crd.values()) > 20  # the whole bundle, not a stub


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_prometheusrule_groups_pass_promtool(tmp_path: Path) -> None:
    spec = docs()["PrometheusRule"]["spec"]
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": spec["groups"]}))
    proc = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_configmap_config_is_valid_once_the_secret_files_exist(tmp_path: Path) -> None:
    d = docs()
    text = d["ConfigMap"]["data"]["config.yml"]
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for key, value in d["Secret"]["stringData"].items():
        (secrets / key).write_text(value + "\n")
    # Inside the pod the IDL comes from the image, where the Dockerfile copies idls/ to /app/idls.
    assert re.search(r"^COPY idls \./idls$", (ROOT / "Dockerfile").read_text(), re.M), "the image lacks idls/"
    assert re.search(r"^WORKDIR /app$", (ROOT / "Dockerfile").read_text(), re.M)
    text = text.replace(SECRETS_DIR, str(secrets)).replace("/app/idls/", f"{ROOT}/idls/")
    cfg_path = tmp_path / "config.yml"
    cfg_path.write_text(text)
    config = load_config(cfg_path)
    assert [e.url for e in config.solana.endpoints] == [
        d["Secret"]["stringData"]["rpc-primary-url"],
        d["Secret"]["stringData"]["rpc-backup-url"],
    ]
    assert config.state.path == "/var/lib/escrow-exporter/state.sqlite"
    assert config.sql is not None and config.sql.databases[0].driver == "postgres"
    # No secret in the ConfigMap itself: URLs and the DSN only arrive through *_file keys.
    raw = yaml.safe_load(d["ConfigMap"]["data"]["config.yml"])
    assert all("url" not in e and "url_file" in e for e in raw["solana"]["endpoints"])
    assert all("dsn" not in db for db in raw["sql"]["databases"])


def test_configmap_runs_the_query_pack_unchanged() -> None:
    pack = yaml.safe_load((ROOT / "schema" / "queries.yml").read_text())
    raw = yaml.safe_load(docs()["ConfigMap"]["data"]["config.yml"])
    assert raw["sql"]["queries"] == pack["queries"]


def _container(d: dict[str, dict[str, Any]]) -> dict[str, Any]:
    containers = d["StatefulSet"]["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def test_statefulset_mounts_config_secrets_and_a_persistent_state_volume() -> None:
    d = docs()
    sts, c = d["StatefulSet"], _container(d)
    pod = sts["spec"]["template"]["spec"]
    assert sts["spec"]["replicas"] == 1  # two replicas of one config would double count
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    # config: the ConfigMap's key, at the path given to --config
    assert volumes["config"]["configMap"]["name"] == d["ConfigMap"]["metadata"]["name"]
    config_path = mounts["config"]["mountPath"]
    assert f"--config={config_path}" in c["args"]
    assert mounts["config"]["subPath"] in d["ConfigMap"]["data"]
    # secrets: the Secret, mounted where the config's *_file keys look
    assert volumes["secrets"]["secret"]["secretName"] == d["Secret"]["metadata"]["name"]
    assert mounts["secrets"]["mountPath"] == SECRETS_DIR and mounts["secrets"]["readOnly"] is True
    text = d["ConfigMap"]["data"]["config.yml"]
    for key in d["Secret"]["stringData"]:
        assert f"{SECRETS_DIR}/{key}" in text
    # state: a PVC per pod from the volumeClaimTemplates (not an emptyDir, which loses totals)
    assert "state" not in volumes
    claims = {t["metadata"]["name"]: t for t in sts["spec"]["volumeClaimTemplates"]}
    assert claims["state"]["spec"]["accessModes"] == ["ReadWriteOnce"]
    state_path = yaml.safe_load(text)["state"]["path"]
    assert state_path.startswith(mounts["state"]["mountPath"] + "/")


def test_statefulset_is_locked_down_and_probed() -> None:
    d = docs()
    c = _container(d)
    pod = d["StatefulSet"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    # every writable path is a volume: the state PVC and an emptyDir for /tmp
    writable = {m["mountPath"] for m in c["volumeMounts"] if not m.get("readOnly")}
    assert writable == {"/var/lib/escrow-exporter", "/tmp"}
    assert c["livenessProbe"]["httpGet"]["path"] == "/-/healthy"
    assert c["readinessProbe"]["httpGet"]["path"] == "/-/ready"
    assert c["resources"]["requests"]["memory"] and c["resources"]["limits"]["memory"]
    port = c["ports"][0]
    assert f"--web.listen-address=0.0.0.0:{port['containerPort']}" in c["args"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["port"] == port["name"]


def test_service_and_servicemonitor_select_the_pods_as_job_escrow_exporter() -> None:
    d = docs()
    pod_labels = d["StatefulSet"]["spec"]["template"]["metadata"]["labels"]
    svc, sm = d["Service"], d["ServiceMonitor"]
    assert d["StatefulSet"]["spec"]["serviceName"] == svc["metadata"]["name"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    port_name = _container(d)["ports"][0]["name"]
    assert svc["spec"]["ports"][0]["targetPort"] == port_name
    endpoint = sm["spec"]["endpoints"][0]
    assert endpoint["port"] == svc["spec"]["ports"][0]["name"] and endpoint["path"] == "/metrics"
    # The Operator's job label is the Service name; every rule selects job="escrow-exporter".
    assert "jobLabel" not in sm["spec"]
    assert svc["metadata"]["name"] == "escrow-exporter"
    assert 'job="escrow-exporter"' in (K8S / "prometheusrule.yaml").read_text()


def test_everything_lands_in_one_namespace() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == docs()["Namespace"]["metadata"]["name"]
    for doc in _sources():
        assert "namespace" not in doc["metadata"], f"{doc['kind']} hard-codes a namespace"


# --- as kube-prometheus users expect (issue 16) -----------------------------------------------


@pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl is not installed: only our rendering is used"
)
def test_our_rendering_matches_kubectl_kustomize() -> None:
    def shape(docs_: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return sorted((d["kind"], re.sub(r"-[a-z0-9]{10}$", "-HASH", d["metadata"]["name"])) for d in docs_)

    ours, theirs = render_ourselves(), render()
    assert shape(ours) == shape(theirs)
    for d in (ours, theirs):
        sts = next(x for x in d if x["kind"] == "StatefulSet")
        cm = next(x for x in d if x["metadata"]["name"].startswith("escrow-exporter-config-"))
        volumes = sts["spec"]["template"]["spec"]["volumes"]
        assert {"name": cm["metadata"]["name"]} == next(
            v["configMap"] for v in volumes if v["name"] == "config"
        )
        assert all(
            x["metadata"].get("namespace") == "escrow-monitoring" for x in d if x["kind"] != "Namespace"
        )


def test_a_config_change_rolls_the_pod(tmp_path: Path) -> None:
    """The pod template names the config ConfigMap by its content hash: a change is a new pod."""

    def config_map_of_pod(k8s: Path) -> str:
        volumes = docs(k8s)["StatefulSet"]["spec"]["template"]["spec"]["volumes"]
        return str(next(v["configMap"]["name"] for v in volumes if v["name"] == "config"))

    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    before = config_map_of_pod(copy)
    assert (
        before.startswith("escrow-exporter-config-") and before == docs(copy)["ConfigMap"]["metadata"]["name"]
    )
    (copy / "config.yml").write_text(
        (copy / "config.yml").read_text().replace("interval_seconds: 15", "interval_seconds: 20")
    )
    after = config_map_of_pod(copy)
    assert after != before and after == docs(copy)["ConfigMap"]["metadata"]["name"]


def test_image_is_the_dockerfile_build_at_the_package_version() -> None:
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert version is not None
    assert _container(docs())["image"] == f"solana-escrow-exporter:{version.group(1)}"
    readme = (K8S / "README.md").read_text()
    assert "kustomize edit set image solana-escrow-exporter=" in readme
    assert "docker build -t solana-escrow-exporter:" in readme


def test_dashboards_ship_as_configmaps_for_the_grafana_sidecar() -> None:
    from grafana import configmaps

    assert (K8S / "dashboards.yaml").read_text() == configmaps.render(), "run: make dashboards"
    shipped = {}
    for doc in render():
        if doc["kind"] == "ConfigMap" and doc["metadata"]["labels"].get("grafana_dashboard") == "1":
            shipped.update(doc["data"])
            # client-side `kubectl apply` keeps the whole object in a 256 KiB annotation
            assert len(json.dumps(doc)) < 200_000, doc["metadata"]["name"]
    compiled = {p.name: p.read_text() for p in (ROOT / "grafana" / "dashboards").glob("*.json")}
    assert compiled and shipped == compiled


def test_networkpolicy_admits_only_scrapes_and_lets_out_only_dns_rpc_and_database() -> None:
    d = docs()
    pol = d["NetworkPolicy"]["spec"]
    assert (
        pol["podSelector"]["matchLabels"].items()
        <= d["StatefulSet"]["spec"]["template"]["metadata"]["labels"].items()
    )
    assert set(pol["policyTypes"]) == {"Ingress", "Egress"}
    [rule] = pol["ingress"]
    assert [p["port"] for p in rule["ports"]] == [_container(d)["ports"][0]["name"]]
    assert rule["from"] and all("podSelector" in f for f in rule["from"])
    egress_ports = {p["port"] for r in pol["egress"] for p in r["ports"]}
    dsn_port = int(re.search(r":(\d+)/", d["Secret"]["stringData"]["business-dsn"]).group(1))  # type: ignore[union-attr]
    assert egress_ports == {53, 443, dsn_port}


def test_rendered_manifests_pass_the_kubernetes_schemas(tmp_path: Path) -> None:
    kv = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate is a dev dependency (make setup)"
    )
    unchecked = set()
    for doc in render():
        try:
            kv.validate(doc, kv.latest_version(), strict=True)
        except kv.SchemaNotFoundError:
            unchecked.add(doc["kind"])
        except kv.ValidationError as e:
            raise AssertionError(f"{doc['kind']} {doc['metadata']['name']}: {e}") from None
    assert unchecked == {
        "ServiceMonitor",
        "Probe",
        "PrometheusRule",
    }  # the Operator's CRDs: no schema shipped
    # The validator does refuse what the API server would: a misspelt field.
    sts = docs()["StatefulSet"]
    sts["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["portt"] = 1
    with pytest.raises(kv.ValidationError):
        kv.validate(sts, kv.latest_version(), strict=True)


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus is not installed")
def test_the_exporters_endpoint_label_survives_the_servicemonitor(tmp_path: Path) -> None:
    """A real Prometheus scrapes a live exporter with the scrape config the Operator generates
    from servicemonitor.yaml: its target labels (endpoint = the port name, namespace, service,
    pod, container, job = the Service name) and honor_labels from `honorLabels`. The RPC series
    must keep the exporter's endpoint label (the provider's name), not become exported_endpoint."""
    from tests.support.devchain_proc import Devchain
    from tests.support.exporter_proc import ExporterProcess, wait_until
    from tests.support.util import free_port, stop_process, wait_http

    d = docs()
    sm_endpoint = d["ServiceMonitor"]["spec"]["endpoints"][0]
    chain = Devchain(tmp_path, seed=5, tps=1)
    cfg = tmp_path / "config.yml"
    cfg.write_text(f"solana:\n  endpoints: [{{name: devchain, url: '{chain.url}'}}]\n")
    exporter = ExporterProcess(cfg)
    port = free_port()
    target_labels = {
        "job": d["Service"]["metadata"]["name"],
        "endpoint": sm_endpoint["port"],
        "namespace": "escrow-monitoring",
        "service": d["Service"]["metadata"]["name"],
        "pod": "escrow-exporter-0",
        "container": "exporter",
    }
    prom_cfg = {
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "serviceMonitor/escrow-monitoring/escrow-exporter/0",
                "honor_labels": bool(sm_endpoint.get("honorLabels", False)),
                "metrics_path": sm_endpoint["path"],
                "static_configs": [{"targets": [f"127.0.0.1:{exporter.port}"]}],
                "relabel_configs": [{"target_label": k, "replacement": v} for k, v in target_labels.items()],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(prom_cfg))
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "wb"),  # noqa: SIM115
    )  # fmt: skip
    try:
        exporter.wait_up()
        wait_http(f"http://127.0.0.1:{port}/-/ready", timeout=30)

        def query(q: str) -> list[dict[str, Any]]:
            url = f"http://127.0.0.1:{port}/api/v1/query?query={urllib.parse.quote(q)}"
            with urllib.request.urlopen(url, timeout=5) as r:
                return list(json.loads(r.read())["data"]["result"])

        series = wait_until(lambda: query("escrow_rpc_up"), timeout=30, what="escrow_rpc_up scraped")
        up = query("up")
    finally:
        stop_process(proc)
        exporter.stop()
        chain.stop()
    labels = series[0]["metric"]
    assert labels.get("endpoint") == "devchain" and "exported_endpoint" not in labels, labels
    # Nothing else of the Operator's was overridden: the exporter serves none of these labels.
    assert {k: labels[k] for k in target_labels if k != "endpoint"} == {
        k: v for k, v in target_labels.items() if k != "endpoint"
    }
    assert up[0]["metric"]["endpoint"] == "metrics"  # the target itself keeps the port name


def test_probes_feed_the_app_alerts_with_every_blackbox_module() -> None:
    """Issue 17: EscrowAppProbeFailed and the availability SLO need a source in Kubernetes too: a
    Probe per module of prometheus/blackbox.yml, under the site's probe job, each labelled with
    its module so /health's two keyword checks stay apart."""
    from bundle.config import SITE

    probes = [d for name in ["probe.yaml"] for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    modules = set(yaml.safe_load((ROOT / "prometheus" / "blackbox.yml").read_text())["modules"])
    assert {p["kind"] for p in probes} == {"Probe"}
    assert {p["spec"]["jobName"] for p in probes} == {SITE.probe_job}
    assert {p["spec"]["module"] for p in probes} == modules
    for p in probes:
        static = p["spec"]["targets"]["staticConfig"]
        assert static["labels"] == {"module": p["spec"]["module"]}
        assert p["spec"]["prober"]["path"] == "/probe"
        assert all(u.startswith("http") for u in static["static"])
    rules = (ROOT / "prometheus" / "rules" / "exporter.yml").read_text()
    assert f'probe_success{{job="{SITE.probe_job}"}}' in rules
