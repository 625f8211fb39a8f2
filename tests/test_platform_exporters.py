"""Platform health with the field's own exporters (issue 17): a real node_exporter and a real
postgres_exporter (with prometheus/postgres_exporter/queries.yaml) against the test PostgreSQL,
scraped by a real Prometheus loading the repository's rules: every query of the infrastructure
and database dashboards parses and returns data, and the platform rules' recordings exist."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bundle.config import SITE
from grafana.queries import allowed_empty, iter_panel_queries, iter_variable_queries, load_dashboards
from tests.support.pg_server import PG_BIN, PgServer, pg_server  # noqa: F401 - the session fixture
from tests.support.util import ROOT, dashboard_query_failures, free_port, stop_process, wait_http

BINARIES = ("prometheus", "prometheus-node-exporter", "prometheus-postgres-exporter")
pytestmark = pytest.mark.skipif(
    any(shutil.which(b) is None for b in BINARIES),
    reason=f"not installed: {', '.join(b for b in BINARIES if shutil.which(b) is None)} (make setup)",
)
QUERIES_YAML = ROOT / "prometheus" / "postgres_exporter" / "queries.yaml"


def _query(prometheus: str, expr: str) -> tuple[str | None, list[dict[str, Any]]]:
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return None, list(json.load(r)["data"]["result"])
    except urllib.error.HTTPError as e:
        return json.loads(e.read() or b"{}").get("error", str(e)), []


@pytest.fixture(scope="module")
def prometheus(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # noqa: F811
    work = tmp_path_factory.mktemp("platform")
    pg_server.psql(
        "CREATE TABLE IF NOT EXISTS platform_probe (id int PRIMARY KEY, note text);"
        "INSERT INTO platform_probe SELECT g, 'x' FROM generate_series(1, 200) g ON CONFLICT DO NOTHING"
    )
    node_port, pg_port, prom_port = free_port(), free_port(), free_port()
    procs = []

    def spawn(name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        with open(work / f"{name}.log", "wb") as log:
            procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env))

    spawn("node", ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{node_port}"])
    dsn = f"postgresql://postgres@127.0.0.1:{pg_server.port}/postgres?sslmode=disable"
    spawn(
        "postgres_exporter",
        ["prometheus-postgres-exporter", f"--web.listen-address=127.0.0.1:{pg_port}", f"--extend.query-path={QUERIES_YAML}"],
        env={**os.environ, "DATA_SOURCE_NAME": dsn},
    )  # fmt: skip
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in sorted((ROOT / "prometheus" / "rules").glob("*.yml"))],
        "scrape_configs": [
            {"job_name": SITE.node_job, "static_configs": [{"targets": [f"127.0.0.1:{node_port}"]}]},
            {"job_name": SITE.postgres_job, "static_configs": [{"targets": [f"127.0.0.1:{pg_port}"]}]},
        ],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    spawn(
        "prometheus",
        ["prometheus", f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'data'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{prom_port}/-/ready", timeout=30)
        # Scans of a table between scrapes, so the index-use ratio has something to divide.
        for i in range(6):
            pg_server.psql(
                f"SELECT count(*) FROM platform_probe; SELECT note FROM platform_probe WHERE id = {i + 1}"
            )
            time.sleep(0.5)
        yield f"http://127.0.0.1:{prom_port}"
    finally:
        for p in reversed(procs):
            stop_process(p)


def test_infrastructure_and_database_dashboards_return_data(prometheus: str, pg_server: PgServer) -> None:  # noqa: F811
    dashboards = [d for d in load_dashboards() if d["uid"] in ("escrow-infrastructure", "escrow-database")]
    assert len(dashboards) == 2
    queries = [
        (u, f"panel {t!r}", e, allowed_empty(u, t, e))
        for d in dashboards
        for u, t, e in iter_panel_queries(d)
    ]
    # $job and $instance list the escrow exporters (test_demo checks them); $datname is ours.
    queries += [
        (u, f"variable ${n}", s, None)
        for d in dashboards
        for u, n, s in iter_variable_queries(d)
        if n not in ("job", "instance")
    ]
    assert len(queries) >= 20

    def failures() -> list[str]:
        return dashboard_query_failures(queries, lambda expr: _query(prometheus, expr))

    # Rates and the recordings need two scrapes and an evaluation: retry for a few seconds.
    deadline = time.monotonic() + 30
    found = failures()
    while found and time.monotonic() < deadline:
        pg_server.psql("SELECT count(*) FROM platform_probe; SELECT note FROM platform_probe WHERE id = 7")
        time.sleep(1)
        found = failures()
    assert not found, "dashboard queries failing on real exporters:\n" + "\n".join(found)


def test_platform_recordings_read_the_real_exporters(prometheus: str) -> None:
    _, cpu = _query(prometheus, "instance:node_cpu_utilisation:rate5m")
    _, conns = _query(prometheus, "instance:pg_connections_used:ratio")
    assert cpu and 0 <= float(cpu[0]["value"][1]) <= 1
    # The exporter's own connection at least, far below max_connections.
    assert conns and 0 < float(conns[0]["value"][1]) < 0.5
    # EscrowNodeNetworkSpike's rate reads the host's interfaces (receive and transmit together).
    _, net = _query(prometheus, "instance:node_network_bytes:rate10m")
    assert len(net) == 1 and float(net[0]["value"][1]) >= 0
    _, up = _query(prometheus, f'pg_up{{job="{SITE.postgres_job}"}}')
    assert [s["value"][1] for s in up] == ["1"]
    _, slow = _query(prometheus, "EscrowPostgresSlowQueries")
    assert slow == []
    assert Path(QUERIES_YAML).exists()


def test_a_backup_transaction_is_not_a_slow_query(prometheus: str, pg_server: PgServer) -> None:  # noqa: F811
    """A pg_dump (one long transaction for the whole dump) is left out of the bundle's
    pg_longest_transaction_seconds, which EscrowPostgresSlowQueries reads; the same statement
    from an application is counted."""
    if not pg_server.psql("SELECT 1 FROM pg_database WHERE datname = 'platform_app'"):
        pg_server.psql("CREATE DATABASE platform_app")
    app_dsn = pg_server.dsn.rsplit("/", 1)[0] + "/platform_app"
    sleeps = [
        subprocess.Popen(
            [str(PG_BIN / "psql"), "-X", "-q", "-d", dsn, "-c", "SELECT pg_sleep(5)"],
            env={**os.environ, "PGAPPNAME": name},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, dsn in (("pg_dump", pg_server.dsn), ("ledger-api", app_dsn))
    ]
    try:

        def ages() -> dict[str, float] | None:
            _, rows = _query(prometheus, f'pg_longest_transaction_seconds{{job="{SITE.postgres_job}"}}')
            got = {r["metric"]["datname"]: float(r["value"][1]) for r in rows}
            return got if got.get("platform_app", 0) >= 2 else None

        deadline = time.monotonic() + 15
        found = ages()
        while found is None and time.monotonic() < deadline:
            time.sleep(0.5)
            found = ages()
        assert found is not None, (
            "the application's transaction never showed in pg_longest_transaction_seconds"
        )
        assert found["postgres"] < 1, found  # the pg_dump, same age, left out
        _, builtin = _query(
            prometheus,
            f'pg_stat_activity_max_tx_duration{{datname="postgres",state="active",job="{SITE.postgres_job}"}}',
        )
        assert builtin and float(builtin[0]["value"][1]) >= 1.5, builtin  # the built-in metric counts it
    finally:
        for p in sleeps:
            p.wait(timeout=30)
