"""A real Prometheus and a real Alertmanager on free loopback ports, for end-to-end tests.

The Alertmanager config is the repository's ``alertmanager/alertmanager.yml`` (routes, inhibitions,
templates) pointed at ``tests/support/receivers.py`` with 1s timings; Prometheus loads the repository's
rules (optionally with every ``for:`` shortened) plus any extra rules, scrapes the given targets
every second and evaluates every second.

    with Receivers() as rx, PromStack(tmp_path, rx, targets={"escrow-exporter": ["127.0.0.1:10190"]},
                                      for_override="2s") as stack:
        rx.wait_for(lambda: rx.find("pagerduty", "EscrowRpcOutage"))
        stack.query('ALERTS{alertstate="firing"}')
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from bundle import amconfig
from tests.support.receivers import Receivers
from tests.support.util import ROOT, free_port, wait_http

RULES_DIR = ROOT / "prometheus" / "rules"


def _shorten_for(rules_yaml: str, for_override: str) -> str:
    doc = yaml.safe_load(rules_yaml)
    for group in doc["groups"]:
        for rule in group["rules"]:
            for key in ("for", "keep_firing_for"):
                if "alert" in rule and key in rule:
                    rule[key] = for_override
    return yaml.safe_dump(doc, sort_keys=False, width=10_000)


class PromStack:
    """Start with ``start()`` (or ``with``); ``stop()`` terminates both and keeps their logs in
    ``workdir`` (``prometheus.log``, ``alertmanager.log``) for failure messages."""

    def __init__(
        self,
        workdir: Path,
        receivers: Receivers,
        targets: dict[str, list[str]],
        *,
        repo_rules: bool = True,
        extra_rules: list[dict[str, Any]] | None = None,
        for_override: str | None = None,
        discord: bool = True,
        am_timing: str = "1s",
        am_repeat: str = "1h",
        pagerduty_keys: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.receivers = receivers
        self.targets = targets
        self.repo_rules = repo_rules
        self.extra_rules = extra_rules or []
        self.for_override = for_override
        self.discord = discord
        self.am_timing = am_timing
        self.am_repeat = am_repeat
        self.pagerduty_keys = pagerduty_keys
        self.prom_port = 0
        self.am_port = 0
        self._procs: list[subprocess.Popen[bytes]] = []
        self._argv: dict[str, tuple[subprocess.Popen[bytes], list[str]]] = {}

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prom_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.am_port}"

    # ---- configs --------------------------------------------------------------------------------

    def alertmanager_config(self) -> dict[str, Any]:
        return amconfig.for_test(
            amconfig.load(),
            self.receivers.url,
            self.workdir / "am-secrets",
            pagerduty_keys=self.pagerduty_keys,
            timing=self.am_timing,
            repeat=self.am_repeat,
            discord=self.discord,
        )

    def _rule_files(self) -> list[str]:
        rules_dir = self.workdir / "rules"
        rules_dir.mkdir(parents=True, exist_ok=True)
        files = []
        if self.repo_rules:
            for src in sorted(RULES_DIR.glob("*.yml")):
                text = src.read_text()
                if self.for_override is not None:
                    text = _shorten_for(text, self.for_override)
                (rules_dir / src.name).write_text(text)
                files.append(str(rules_dir / src.name))
        if self.extra_rules:
            extra = rules_dir / "extra.yml"
            extra.write_text(yaml.safe_dump({"groups": [{"name": "test.extra", "rules": self.extra_rules}]}))
            files.append(str(extra))
        return files

    def prometheus_config(self) -> dict[str, Any]:
        return {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": self._rule_files(),
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{self.am_port}"]}]}]},
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": hosts}]}
                for job, hosts in self.targets.items()
            ],
        }

    # ---- lifecycle ------------------------------------------------------------------------------

    def start(self) -> PromStack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.am_port, self.prom_port = free_port(), free_port()
        am_cfg = self.workdir / "alertmanager.yml"
        am_cfg.write_text(amconfig.dump(self.alertmanager_config()))
        prom_cfg = self.workdir / "prometheus.yml"
        prom_cfg.write_text(yaml.safe_dump(self.prometheus_config(), sort_keys=False))
        self._spawn(
            "alertmanager",
            [
                shutil.which("prometheus-alertmanager") or "prometheus-alertmanager",
                f"--config.file={am_cfg}",
                f"--storage.path={self.workdir / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{self.am_port}",
                f"--web.external-url=http://127.0.0.1:{self.am_port}",
                "--cluster.listen-address=",  # no gossip port: nothing beyond our loopback port
            ],
        )
        self._spawn(
            "prometheus",
            [
                shutil.which("prometheus") or "prometheus",
                f"--config.file={prom_cfg}",
                f"--storage.tsdb.path={self.workdir / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{self.prom_port}",
                "--rules.alert.resend-delay=1s",
                "--rules.alert.for-grace-period=1s",
            ],
        )
        try:
            wait_http(f"{self.alertmanager_url}/-/ready", timeout=20)
            wait_http(f"{self.prometheus_url}/-/ready", timeout=20)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"stack did not start; logs: {self.logs()}") from None
        return self

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 -- closed with the process
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()  # the child keeps its own descriptor
        self._procs.append(proc)
        self._argv[name] = (proc, argv)

    def restart_prometheus(self) -> None:
        """Stop Prometheus (SIGTERM, as a rollout does) and start it again on the same port, config
        and TSDB, so its data and pending alerts' ``for`` state (ALERTS_FOR_STATE) survive."""
        proc, argv = self._argv["prometheus"]
        proc.terminate()
        proc.wait(timeout=30)
        self._procs.remove(proc)
        self._spawn("prometheus", argv)
        wait_http(f"{self.prometheus_url}/-/ready", timeout=60)

    def stop(self) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()

    def __enter__(self) -> PromStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def logs(self, tail: int = 30) -> str:
        out = []
        for name in ("prometheus", "alertmanager"):
            path = self.workdir / f"{name}.log"
            if path.exists():
                lines = path.read_text(errors="replace").splitlines()[-tail:]
                out.append(f"--- {name}.log ---\n" + "\n".join(lines))
        return "\n".join(out)

    # ---- queries --------------------------------------------------------------------------------

    def _get(self, url: str) -> Any:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Instant query; returns Prometheus' ``data.result``."""
        q = urllib.parse.urlencode({"query": promql})
        return list(self._get(f"{self.prometheus_url}/api/v1/query?{q}")["data"]["result"])

    def firing(self) -> set[tuple[str, str]]:
        """(alertname, severity) of every alert Prometheus has firing now."""
        return {
            (r["metric"]["alertname"], r["metric"].get("severity", ""))
            for r in self.query('ALERTS{alertstate="firing"}')
        }

    def am_alerts(self, active_only: bool = False) -> list[dict[str, Any]]:
        """Alerts Alertmanager holds (v2 API), including inhibited/silenced ones unless filtered."""
        qs = "?active=true&inhibited=false&silenced=false" if active_only else ""
        return list(self._get(f"{self.alertmanager_url}/api/v2/alerts{qs}"))
