"""deploy/kubernetes: the manifests hang together, the config is valid, the rules match prometheus/.

No cluster here: these check what `kubectl apply -k` and the Prometheus Operator would rely on
(kinds, names, selectors, ports, mounts, probes, security context) and run `promtool` on the
PrometheusRule's groups.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bundle import prometheusrule
from exporter.config import load_config
from tests.util import ROOT

K8S = ROOT / "deploy" / "kubernetes"
SECRETS_DIR = "/etc/escrow-exporter/secrets"


def docs() -> dict[str, dict[str, Any]]:
    """Every manifest of the kustomization, by kind."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    out: dict[str, dict[str, Any]] = {}
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((K8S / name).read_text()):
            assert doc["kind"] not in out, f"two {doc['kind']} manifests"
            out[doc["kind"]] = doc
    return out


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk
    assert set(docs()) == {
        "Namespace",
        "ConfigMap",
        "Secret",
        "StatefulSet",
        "Service",
        "ServiceMonitor",
        "PrometheusRule",
    }


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
    for kind, doc in docs().items():
        assert "namespace" not in doc["metadata"], f"{kind} hard-codes a namespace"
