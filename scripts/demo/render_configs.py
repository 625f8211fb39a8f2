"""Write the native demo's Prometheus and Alertmanager configs under the demo directory.

Prometheus: the repository's prometheus/prometheus.yml with the same rule files, scrape jobs and
file_sd target files, only the target files (``targets/*.yml`` beside the written config) list
the demo's loopback ports, as examples/compose/prometheus-targets/ does for compose. Nothing on a
demo machine serves the application's /livez and /readyz, so the status probes go to the
exporter's and the simulator's health endpoints; the simulator serves the platform's /health (its
database is the demo ledger), probed with the body-keyword modules.

Alertmanager: the repository's alertmanager/alertmanager.yml (routes, inhibitions, templates)
through ``bundle.amconfig.for_test``: every receiver points at the local notification sink
(scripts/demo/sink.py) through secrets files in the demo directory, with short timings.

    PYTHONPATH=. python scripts/demo/render_configs.py --demo-dir var/demo --ports '{"prometheus": 9090, ...}'
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bundle import amconfig  # noqa: E402 - needs the repository on sys.path first

PROMETHEUS_CONFIG = ROOT / "prometheus" / "prometheus.yml"
HOST = "127.0.0.1"
PORT_NAMES = (
    "prometheus",
    "alertmanager",
    "exporter",
    "simulator",
    "blackbox",
    "sink",
    "node",
    "postgres_exporter",
)


def job_targets(ports: dict[str, int]) -> dict[str, list[str]]:
    """The demo's targets for each scrape job of prometheus/prometheus.yml."""
    return {
        "prometheus": [f"{HOST}:{ports['prometheus']}"],
        "alertmanager": [f"{HOST}:{ports['alertmanager']}"],
        "escrow-exporter": [f"{HOST}:{ports['exporter']}"],
        "escrow-app-health": [url for urls in probe_modules(ports).values() for url in urls],
        # No application either: the simulator serves its HTTP metrics (devchain/app_http.py).
        "escrow-app": [f"{HOST}:{ports['simulator']}"],
        "blackbox-exporter": [f"{HOST}:{ports['blackbox']}"],
        "node": [f"{HOST}:{ports['node']}"],
        "postgres": [f"{HOST}:{ports['postgres_exporter']}"],
    }


def probe_modules(ports: dict[str, int]) -> dict[str, list[str]]:
    """The demo's probe targets per blackbox module (prometheus/blackbox.yml)."""
    exporter = f"http://{HOST}:{ports['exporter']}"
    simulator = f"http://{HOST}:{ports['simulator']}"
    return {
        "http_2xx": [f"{exporter}/-/healthy", f"{exporter}/-/ready", f"{simulator}/-/healthy"],
        "http_health_ok": [f"{simulator}/health"],
        "http_health_database": [f"{simulator}/health"],
    }


def file_sd_files(job: dict[str, Any]) -> list[str]:
    return [f for sd in job.get("file_sd_configs", []) for f in sd.get("files", [])]


def prometheus_config(ports: dict[str, int], scrape_interval: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The config, and the content of each file_sd target file it names (relative path -> groups)."""
    cfg = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    targets = job_targets(ports)
    glob = cfg.setdefault("global", {})
    glob["scrape_interval"] = scrape_interval
    glob["evaluation_interval"] = scrape_interval
    glob["scrape_timeout"] = scrape_interval  # never longer than the interval
    # Same rule files, read from the repository (relative entries are relative to prometheus.yml).
    cfg["rule_files"] = [
        str(PROMETHEUS_CONFIG.parent / f) if not Path(f).is_absolute() else f
        for f in cfg.get("rule_files", [])
    ]
    files: dict[str, Any] = {}
    for am in cfg.get("alerting", {}).get("alertmanagers", []):
        for f in file_sd_files(am):
            files[f] = [{"targets": targets["alertmanager"]}]
    for job in cfg.get("scrape_configs", []):
        name = job["job_name"]
        if name not in targets:
            raise SystemExit(
                f"{PROMETHEUS_CONFIG}: scrape job {name!r} has no demo target; add it to job_targets() in {__file__}"
            )
        groups: list[dict[str, Any]] = [{"targets": targets[name]}]
        if any("__blackbox_address__" in r.get("source_labels", []) for r in job.get("relabel_configs", [])):
            blackbox = {"__blackbox_address__": f"{HOST}:{ports['blackbox']}"}
            groups = [
                {"targets": urls, "labels": {**blackbox, "__param_module": module}}
                for module, urls in probe_modules(ports).items()
            ]
        if file_sd_files(job):
            for f in file_sd_files(job):
                files[f] = groups
        else:
            job["static_configs"] = groups
    return cfg, files


def alertmanager_config(ports: dict[str, int], secrets_dir: Path) -> dict[str, Any]:
    return amconfig.for_test(
        amconfig.load(),
        f"http://{HOST}:{ports['sink']}",
        secrets_dir,
        timing="10s",
        repeat="1h",
        discord=False,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--demo-dir", type=Path, required=True)
    p.add_argument("--ports", required=True, help=f"JSON object with the ports {', '.join(PORT_NAMES)}")
    p.add_argument("--scrape-interval", default="5s")
    args = p.parse_args(argv)
    ports = {k: int(v) for k, v in json.loads(args.ports).items()}
    missing = [n for n in PORT_NAMES if n not in ports]
    if missing:
        raise SystemExit(f"--ports lacks {', '.join(missing)}")
    demo: Path = args.demo_dir.resolve()
    demo.mkdir(parents=True, exist_ok=True)
    prom = demo / "prometheus.yml"
    config, target_files = prometheus_config(ports, args.scrape_interval)
    header = "# Generated by scripts/demo/render_configs.py from prometheus/prometheus.yml: do not edit.\n"
    prom.write_text(header + yaml.safe_dump(config, sort_keys=False, width=10_000))
    for relative, groups in target_files.items():
        path = demo / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(header + yaml.safe_dump(groups, sort_keys=False))
    am = demo / "alertmanager.yml"
    am.write_text(
        "# Generated by scripts/demo/render_configs.py from alertmanager/alertmanager.yml: do not edit.\n"
        + amconfig.dump(alertmanager_config(ports, demo / "alertmanager-secrets"))
    )
    print(f"wrote {prom} and {am}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
