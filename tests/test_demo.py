"""`make demo` (scripts/demo.sh) brings the native stack up on loopback: every dashboard query
runs against its real Prometheus and returns data, every target is up, alerts reach
Alertmanager and its receivers, and SIGTERM stops every process it started."""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from grafana.queries import allowed_empty, iter_panel_queries, iter_variable_queries, load_dashboards
from tests.support.util import ROOT, dashboard_query_failures, free_port

T = TypeVar("T")
DEMO = ROOT / "scripts" / "demo.sh"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
BINARIES = (
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-blackbox-exporter",
    "prometheus-node-exporter",
    "prometheus-postgres-exporter",
)
PORTS = (
    "SIMULATOR",
    "EXPORTER",
    "PROMETHEUS",
    "ALERTMANAGER",
    "BLACKBOX",
    "PG",
    "SINK",
    "NODE",
    "PG_EXPORTER",
)


def _why_skip() -> str | None:
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if missing:
        return f"not installed: {', '.join(missing)} (Debian packages)"
    if not (PG_BIN / "initdb").exists():
        return f"PostgreSQL 15 binaries not found in {PG_BIN} (Debian package postgresql-15)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres system user to run PostgreSQL as"
    return None


pytestmark = pytest.mark.skipif(_why_skip() is not None, reason=_why_skip() or "")


@dataclass
class Demo:
    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    dir: Path
    log: Path
    ports: dict[str, int]

    @property
    def prometheus(self) -> str:
        return f"http://127.0.0.1:{self.ports['PROMETHEUS']}"

    @property
    def alertmanager(self) -> str:
        return f"http://127.0.0.1:{self.ports['ALERTMANAGER']}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def query(demo: Demo, expr: str) -> tuple[str | None, list[dict[str, Any]]]:
    """(error, result) of an instant query: error is Prometheus's message when it does not parse."""
    url = f"{demo.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        body = _get(url)
    except urllib.error.HTTPError as e:
        return json.loads(e.read() or b"{}").get("error", str(e)), []
    return None, list(body["data"]["result"])


def eventually(check: Callable[[], T | None], timeout: float, what: str | Callable[[], str]) -> T:
    """Poll ``check`` until it returns a truthy value; else fail saying ``what`` (or what it returns)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what() if callable(what) else what} (waited {timeout:.0f}s)")
        time.sleep(1)


def _start(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        # Its own session: the teardown can end the whole tree this test started if it must.
        return subprocess.Popen(
            [str(DEMO), *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _end(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the process group of the script this test started
            proc.wait()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    demo_dir = tmp_path_factory.mktemp("demo")
    # PostgreSQL runs as the postgres user, which cannot enter pytest's (root-only) temp dirs.
    pg_dir = Path(tempfile.mkdtemp(prefix="escrow-demo-pg-"))
    ports = {name: free_port() for name in PORTS}
    env = {
        **os.environ,
        **{f"DEMO_{name}_PORT": str(port) for name, port in ports.items()},
        "DEMO_DIR": str(demo_dir),
        "DEMO_PG_DIR": str(pg_dir),
        "DEMO_SCRAPE_INTERVAL": "2s",
        "DEMO_TPS": "10",
    }
    log = demo_dir.parent / "demo-output.log"
    proc = _start(env, log)
    d = Demo(proc, env, demo_dir, log, ports)
    try:
        eventually(
            lambda: "demo: ready" in d.output() or proc.poll() is not None,
            150,
            "scripts/demo.sh did not get ready",
        )
        assert proc.poll() is None, f"scripts/demo.sh exited {proc.returncode}:\n{d.output()}"
        yield d
    finally:
        _end(proc)
        shutil.rmtree(pg_dir, ignore_errors=True)


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for its parent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _targets(demo: Demo) -> list[dict[str, Any]]:
    return list(_get(f"{demo.prometheus}/api/v1/targets")["data"]["activeTargets"])


def test_every_target_is_up_and_the_health_probes_succeed(demo: Demo) -> None:
    def all_up() -> list[dict[str, Any]] | None:
        targets = _targets(demo)
        return targets if targets and all(t["health"] == "up" for t in targets) else None

    def down() -> str:
        return f"targets not up: {[(t['scrapeUrl'], t['health'], t['lastError']) for t in _targets(demo) if t['health'] != 'up']}"

    targets = eventually(all_up, 60, down)
    # The same scrape jobs as the repository's prometheus/prometheus.yml.
    repo_jobs = {
        j["job_name"]
        for j in yaml.safe_load((ROOT / "prometheus/prometheus.yml").read_text())["scrape_configs"]
    }
    assert {t["labels"]["job"] for t in targets} == repo_jobs
    # Nothing on the demo serves the application's /livez, /readyz: the status probes check the
    # exporter's and the simulator's health endpoints; the simulator's /health (the simulated
    # platform, its database the demo ledger) passes both body-keyword modules.
    exporter = f"http://127.0.0.1:{demo.ports['EXPORTER']}"
    simulator = f"http://127.0.0.1:{demo.ports['SIMULATOR']}"
    expected = {
        (f"{exporter}/-/healthy", "http_2xx"): "1",
        (f"{exporter}/-/ready", "http_2xx"): "1",
        (f"{simulator}/-/healthy", "http_2xx"): "1",
        (f"{simulator}/health", "http_health_ok"): "1",
        (f"{simulator}/health", "http_health_database"): "1",
    }

    def by_target() -> dict[tuple[str, str], str]:
        return {
            (p["metric"]["instance"], p["metric"]["module"]): p["value"][1]
            for p in query(demo, "probe_success")[1]
        }

    # Ready once every collector finished a first cycle: the reconciliation's first one waits for
    # ingestion to pass the slot it read and for the ledger to settle (tens of seconds).
    eventually(lambda: by_target() == expected, 90, lambda: f"probes: {by_target()} != {expected}")


def test_prometheus_sees_alertmanager_and_alerts_reach_the_receivers(demo: Demo) -> None:
    with urllib.request.urlopen(f"{demo.alertmanager}/-/ready", timeout=5) as r:
        assert r.status == 200
    active = eventually(
        lambda: _get(f"{demo.prometheus}/api/v1/alertmanagers")["data"]["activeAlertmanagers"],
        30,
        "Prometheus has no active Alertmanager",
    )
    assert [a["url"] for a in active] == [f"{demo.alertmanager}/api/v2/alerts"]
    # The always-firing Watchdog goes Prometheus -> Alertmanager -> the dead-man's-switch receiver.
    eventually(
        lambda: any(
            a["labels"]["alertname"] == "Watchdog" for a in _get(f"{demo.alertmanager}/api/v2/alerts")
        ),
        60,
        "the Watchdog alert did not reach Alertmanager",
    )
    sink = demo.dir / "notifications.jsonl"

    def deadman_pings() -> list[dict[str, Any]]:
        lines = sink.read_text().splitlines() if sink.exists() else []
        return [m for m in map(json.loads, lines) if m["path"] == "/deadman"]

    [ping, *_] = eventually(deadman_pings, 60, "the dead-man's switch received no ping")
    assert ping["body"]["alerts"][0]["labels"]["alertname"] == "Watchdog"


def _business_data_scraped_a_few_times(demo: Demo) -> bool:
    # The ledger's counters need samples from several scrapes for increase() and rate().
    _, result = query(demo, 'min(count_over_time(escrow_business_matches_total{kind="paid"}[1m]))')
    _, events = query(demo, "sum(rate(escrow_events_total[1m])) > 0")
    return bool(result) and float(result[0]["value"][1]) >= 4 and bool(events)


def test_every_dashboard_query_parses_and_returns_data(demo: Demo) -> None:
    eventually(
        lambda: _business_data_scraped_a_few_times(demo), 90, "the exporter's data never reached Prometheus"
    )
    dashboards = load_dashboards()
    assert dashboards, "no dashboards in grafana/dashboards"
    queries = [
        (uid, f"panel {title!r}", expr, allowed_empty(uid, title, expr))
        for d in dashboards
        for uid, title, expr in iter_panel_queries(d)
    ]
    queries += [
        (uid, f"variable ${name}", sel, None)
        for d in dashboards
        for uid, name, sel in iter_variable_queries(d)
    ]
    assert len(queries) > 50

    def failures() -> list[str]:
        return dashboard_query_failures(queries, lambda expr: query(demo, expr))

    # A few panels need one more scrape or evaluation (rates over fresh series): retry briefly.
    deadline = time.monotonic() + 20
    found = failures()
    while found and time.monotonic() < deadline:
        time.sleep(2)
        found = failures()
    assert not found, "dashboard queries failing on the live demo:\n" + "\n".join(found)


def test_deployment_annotations_mark_the_exporter_start(demo: Demo) -> None:
    """Every dashboard's deployment annotation finds the demo exporter's start, with its version,
    at the time it started (the query's value, in milliseconds)."""
    from exporter import __version__
    from grafana.queries import substitute

    for d in load_dashboards():
        for ann in d["annotations"]["list"]:
            error, result = query(demo, substitute(ann["expr"]))
            assert error is None and result, f"{d['uid']} annotation {ann['name']!r}: {error or 'no data'}"
            if ann["name"] == "Exporter deployments and restarts":
                assert {r["metric"]["version"] for r in result} == {__version__}
            else:  # the application's: the simulator stands in for it on the demo
                assert [r["metric"]["instance"] for r in result] == [f"127.0.0.1:{demo.ports['SIMULATOR']}"]
            started_ms = float(result[0]["value"][1])
            assert 0 < time.time() * 1000 - started_ms < 3_600_000, started_ms


def cookbook_queries() -> list[str]:
    """Every ```promql block of docs/queries.md."""
    return [
        m.strip() for m in re.findall(r"```promql\n(.*?)```", (ROOT / "docs/queries.md").read_text(), re.S)
    ]


def test_every_cookbook_query_returns_data(demo: Demo) -> None:
    """docs/queries.md answers its questions on a live stack: each query parses and has data."""
    queries = cookbook_queries()
    assert len(queries) >= 12
    eventually(
        lambda: _business_data_scraped_a_few_times(demo), 90, "the exporter's data never reached Prometheus"
    )

    def failures() -> list[str]:
        found = []
        for expr in queries:
            error, result = query(demo, expr)
            if error or not result:
                found.append(f"{error or 'no data'}\n    {expr}")
        return found

    deadline = time.monotonic() + 30  # withdrawals and settlements need a few scrapes to show
    found = failures()
    while found and time.monotonic() < deadline:
        time.sleep(2)
        found = failures()
    assert not found, "docs/queries.md queries failing on the live demo:\n" + "\n".join(found)
    # The symbol join names the demo's mints by the symbols of examples/demo-config.yml.
    [joined] = [q for q in queries if "escrow_mint_info" in q]
    assert {"SOL", "USDC", "PYUSD"} <= {s["metric"].get("symbol") for s in query(demo, joined)[1]}


def test_sigterm_stops_every_process_and_postgres(demo: Demo) -> None:
    pids = {f.stem: int(f.read_text()) for f in (demo.dir / "run").glob("*.pid")}
    assert set(pids) == {
        "simulator", "sink", "blackbox", "alertmanager", "exporter", "prometheus", "node", "postgres_exporter",
    }  # fmt: skip
    pg_pid_file = Path(demo.env["DEMO_PG_DIR"]) / "data" / "postmaster.pid"
    pg_pid = int(pg_pid_file.read_text().split()[0])
    demo.proc.send_signal(signal.SIGTERM)
    assert demo.proc.wait(timeout=60) == 0, demo.output()
    assert demo.output().rstrip().endswith("demo: stopped")
    for name, pid in {**pids, "postgres": pg_pid}.items():
        # PostgreSQL removes its pid file just before it exits: give the exit a moment.
        eventually(
            lambda pid=pid: not _running(pid), 10, f"{name} (pid {pid}) still runs after the demo stopped"
        )
    assert not pg_pid_file.exists()


def test_a_second_run_reuses_the_demo_directory_and_passes_its_check(demo: Demo) -> None:
    if demo.proc.poll() is None:
        pytest.skip("needs the first run stopped (test_sigterm_stops_every_process_and_postgres)")
    cluster = Path(demo.env["DEMO_PG_DIR"]) / "data" / "PG_VERSION"
    created = cluster.stat().st_mtime_ns
    log = demo.dir.parent / "demo-check.log"
    proc = _start(demo.env, log, "--check")
    try:
        code = proc.wait(timeout=150)
    finally:
        _end(proc)
    out = log.read_text(errors="replace")
    assert code == 0, out
    assert "every target up" in out and out.rstrip().endswith("demo: stopped")
    assert cluster.stat().st_mtime_ns == created  # the first run's PostgreSQL cluster was reused
