"""Long-term storage: a real Prometheus remote_writes to a real VictoriaMetrics (docs/retention.md).

Prometheus scrapes a tiny static target every second and ships its samples, with the
external label a real deployment sets, to VictoriaMetrics' /api/v1/write; the samples must be
queryable from VictoriaMetrics with the same value and labels.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.util import free_port, stop_process, wait_http

pytestmark = pytest.mark.skipif(
    shutil.which("victoria-metrics") is None or shutil.which("prometheus") is None,
    reason="needs the prometheus and victoria-metrics binaries (scripts/setup.sh installs both)",
)

RUN_ID = uuid.uuid4().hex[:12]
TARGET_BODY = (
    "# HELP escrow_account_balance Account balance in whole units.\n"
    "# TYPE escrow_account_balance gauge\n"
    f'escrow_account_balance{{account="escrow_usdc",mint="USDC",run="{RUN_ID}"}} 1234.5\n'
).encode()


class _Target(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(TARGET_BODY)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def target() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class Proc:
    def __init__(self, name: str, argv: list[str], workdir: Path) -> None:
        self.log = workdir / f"{name}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def stop(self) -> None:
        stop_process(self.proc)

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])


def vm_query(url: str, promql: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(
        f"{url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}", timeout=5
    ) as r:
        body = json.loads(r.read())
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def test_prometheus_remote_write_lands_in_victoriametrics(tmp_path: Path, target: str) -> None:
    vm_port, prom_port = free_port(), free_port()
    vm_url = f"http://127.0.0.1:{vm_port}"
    vm = Proc(
        "victoria-metrics",
        [
            "victoria-metrics",
            f"-httpListenAddr=127.0.0.1:{vm_port}",
            f"-storageDataPath={tmp_path / 'vm-data'}",
            "-retentionPeriod=1",  # months; years in production (docs/retention.md)
            # Serve samples as soon as they arrive (default hides the newest 30 s).
            "-search.latencyOffset=1s",
            "-search.disableCache",
        ],
        tmp_path,
    )
    prom_cfg = {
        "global": {
            "scrape_interval": "1s",
            "scrape_timeout": "1s",
            # What tells one Prometheus (HA pair member, cluster) from another in shared storage.
            "external_labels": {"cluster": "test", "replica": "a"},
        },
        "scrape_configs": [{"job_name": "escrow-exporter", "static_configs": [{"targets": [target]}]}],
        "remote_write": [
            {
                "url": f"{vm_url}/api/v1/write",
                "queue_config": {"batch_send_deadline": "1s", "min_backoff": "100ms", "max_backoff": "1s"},
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(prom_cfg))
    prom = Proc(
        "prometheus",
        [
            "prometheus",
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        tmp_path,
    )
    try:
        wait_http(f"{vm_url}/health", timeout=20)
        wait_http(f"http://127.0.0.1:{prom_port}/-/ready", timeout=20)
        query = f'escrow_account_balance{{run="{RUN_ID}"}}'
        result: list[dict[str, Any]] = []
        deadline = time.monotonic() + 25
        while time.monotonic() < deadline and not result:
            result = vm_query(vm_url, query)
            if not result:
                time.sleep(0.5)
        assert result, (
            f"no sample of {query} in VictoriaMetrics\n--- prometheus ---\n{prom.tail()}\n--- vm ---\n{vm.tail()}"
        )
        (series,) = result
        assert float(series["value"][1]) == 1234.5
        assert series["metric"] == {
            "__name__": "escrow_account_balance",
            "account": "escrow_usdc",
            "mint": "USDC",
            "run": RUN_ID,
            "job": "escrow-exporter",
            "instance": target,
            "cluster": "test",
            "replica": "a",
        }
        # Prometheus' own scrape health is shipped too: alerts on up{} can run on long-term storage.
        ups = vm_query(vm_url, f'up{{job="escrow-exporter",instance="{target}"}}')
        assert ups and float(ups[0]["value"][1]) == 1
    finally:
        prom.stop()
        vm.stop()
