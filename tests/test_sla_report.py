"""``escrow-exporter sla-report`` against a real Prometheus holding a known month (docs/sla-reports.md).

November 2025 is backfilled (``promtool tsdb create-blocks-from openmetrics``) as the bundle's
rules would have recorded it every 15 s: the application's health endpoint down for 30 s, one
exporter stale for 20 minutes, a second exporter deployed mid-month and stale for 15 minutes, and
three alert firings. Prometheus runs the repository's ``slo.yml`` (so the report learns the 15 s
evaluation interval from it) over that TSDB.
"""

from __future__ import annotations

import csv
import io
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from exporter import sla_report
from tests.support.util import ROOT, VENV_BIN, free_port, wait_http

pytestmark = pytest.mark.skipif(
    not (shutil.which("prometheus") and shutil.which("promtool")), reason="needs prometheus and promtool"
)

NOV = int(datetime(2025, 11, 1, tzinfo=UTC).timestamp())
DEC = int(datetime(2025, 12, 1, tzinfo=UTC).timestamp())
OCT = int(datetime(2025, 10, 1, tzinfo=UTC).timestamp())
STEP = 15
APP = 'job="escrow-app-health",instance="http://app:8080/health"'
EXP_A = 'job="escrow-exporter",instance="exporter-a:10190"'
EXP_B = 'job="escrow-exporter",instance="exporter-b:10190"'
OUTAGE = int(datetime(2025, 11, 10, 12, 0, tzinfo=UTC).timestamp())


def _series(
    name: str, labels: str, start: int, end: int, bad: range = range(0), step: int = STEP
) -> list[str]:
    return [f"{name}{{{labels}}} {0 if t in bad else 1} {t}" for t in range(start, end, step)]


def _openmetrics() -> str:
    good_app, good_exp = "instance:escrow_app_probe_success:min", "instance:escrow_exporter_fresh:min"
    objective = "escrow_slo:objective:ratio"
    lines = [f"# TYPE {objective} gauge"]
    # The objectives from October on (the rules ran then too): October has targets but no SLI data.
    for slo, sli, target in (("app_availability", good_app, 0.999), ("exporter_freshness", good_exp, 0.9995)):
        lines += [f'{objective}{{slo="{slo}",sli="{sli}"}} {target} {t}' for t in range(OCT, DEC, 3600)]
    lines.append(f"# TYPE {good_app} gauge")
    lines += _series(good_app, APP, NOV, DEC, bad=range(OUTAGE, OUTAGE + 30, STEP))  # 2 bad evaluations: 30 s
    lines.append(f"# TYPE {good_exp} gauge")
    stale_a = OUTAGE + 86400
    lines += _series(good_exp, EXP_A, NOV, DEC, bad=range(stale_a, stale_a + 1200, STEP))  # 20 minutes
    half = NOV + 15 * 86400
    lines += _series(
        good_exp, EXP_B, half, DEC, bad=range(half + 3600, half + 3600 + 900, STEP)
    )  # 15 minutes
    lines.append("# TYPE ALERTS gauge")
    firing = 'alertname="EscrowAppProbeFailed",alertstate="firing",severity="critical",' + APP
    lines += _series("ALERTS", firing, OUTAGE, OUTAGE + 300)  # 5 minutes
    second = int(datetime(2025, 11, 20, 3, 0, tzinfo=UTC).timestamp())
    lines += _series("ALERTS", firing, second, second + 600)  # 10 minutes
    pending = (
        'alertname="EscrowExporterFreshnessBudgetBurnSlow",alertstate="pending",severity="medium",' + EXP_A
    )
    lines += _series("ALERTS", pending, stale_a, stale_a + 600)  # never fired: not an incident
    # The heartbeat fires all month: not an incident.
    lines += _series("ALERTS", 'alertname="Watchdog",alertstate="firing",severity="none"', NOV, DEC, step=60)
    slow = pending.replace("pending", "firing")
    lines += _series("ALERTS", slow, stale_a + 600, stale_a + 1800)
    return "\n".join(lines) + "\n# EOF\n"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("sla")
    (work / "data.om").write_text(_openmetrics())
    subprocess.run(
        # One block for the month (the default, 2 h blocks, takes minutes to write and compact).
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=800h"]
        + [str(work / "data.om"), str(work / "tsdb")],
        check=True,
        capture_output=True,
    )
    cfg = {
        "global": {"evaluation_interval": f"{STEP}s"},
        "rule_files": [str(ROOT / "prometheus" / "rules" / "slo.yml")],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(cfg))
    port = free_port()
    with open(work / "prometheus.log", "wb") as log:
        proc = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={work / 'prometheus.yml'}",
                f"--storage.tsdb.path={work / 'tsdb'}",
                # Retention counts back from the newest sample (now, once the rules record):
                # keep the backfilled month.
                "--storage.tsdb.retention.time=36500d",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/-/ready", timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


NOW = datetime(2026, 1, 15, tzinfo=UTC)


def test_availability_budget_and_incidents_of_a_known_month(prometheus: str, tmp_path: Path) -> None:
    assert sla_report.main(["--prometheus", prometheus, "--month", "2025-11", "--out", str(tmp_path)]) == 0
    md = (tmp_path / "sla-2025-11.md").read_text()
    # 30 s of 30 days down: 99.9988 %, 30 s of a 43 min 12 s budget (0.1 % of 30 days), 98.8 % left.
    assert (
        "| app_availability | escrow-app-health | http://app:8080/health | 99.900 % | 99.9988 % | yes | 30 s "
        "| 43 min 12 s | 98.8 % | 100.0 % |"
    ) in md
    # 20 minutes stale of a 21 min 36 s budget (0.05 %): met, 7.4 % left.
    assert (
        "| exporter_freshness | escrow-exporter | exporter-a:10190 | 99.950 % | 99.9537 % | yes | 20 min |"
        in md
    )
    # Deployed mid-month: 15 minutes of 15 days is 99.9305 %, misses, budget overspent; data 50 %.
    row_b = next(line for line in md.splitlines() if "exporter-b:10190" in line)
    assert "| 99.9305 % | **no** |" in row_b and "| -38.9 % | 50.0 % |" in row_b
    assert "| EscrowAppProbeFailed | critical | 2 | 15 min |" in md
    assert "| EscrowExporterFreshnessBudgetBurnSlow | medium | 1 | 20 min |" in md
    assert "Total: 3 firings of 2 alerts." in md and "Watchdog" not in md

    rows = {r["instance"]: r for r in csv.DictReader(io.StringIO((tmp_path / "sla-2025-11.csv").read_text()))}
    app = rows["http://app:8080/health"]
    assert (app["bad_seconds"], app["budget_seconds"], app["met"], app["samples"]) == (
        "30",
        "2592",
        "1",
        "172800",
    )
    assert float(app["availability"]) == pytest.approx(1 - 2 / 172800)
    assert float(rows["exporter-a:10190"]["budget_left_ratio"]) == pytest.approx(1 - 1200 / 1296, abs=1e-6)
    assert rows["exporter-b:10190"]["met"] == "0"
    incidents = list(csv.DictReader(io.StringIO((tmp_path / "sla-2025-11-incidents.csv").read_text())))
    assert [(i["alertname"], i["fired"], i["firing_seconds"]) for i in incidents] == [
        ("EscrowAppProbeFailed", "2", "900"),
        ("EscrowExporterFreshnessBudgetBurnSlow", "1", "1200"),
    ]


def test_a_month_with_objectives_but_no_data_is_one_clear_line(
    prometheus: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert sla_report.main(["--prometheus", prometheus, "--month", "2025-10"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sla-report: no data for 2025-10 in Prometheus at ")
    assert "instance:escrow_app_probe_success:min" in err


def test_unreachable_prometheus_and_bad_month_are_one_line_without_traceback() -> None:
    port = free_port()  # nothing listens
    cli = [sys.executable, "-m", "exporter.cli", "sla-report", "--prometheus", f"http://127.0.0.1:{port}"]
    r = subprocess.run([*cli, "--month", "2025-11"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert (
        r.stderr.strip()
        == f"sla-report: cannot reach Prometheus at http://127.0.0.1:{port}: [Errno 111] Connection refused"
    )
    r = subprocess.run([*cli, "--month", "2025-13"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1
    assert r.stderr.strip() == "sla-report: --month '2025-13': expected YYYY-MM, previous or current"


def test_months_are_utc_calendar_months_cut_at_now() -> None:
    p = sla_report.period_of("previous", NOW)
    assert (p.label, p.start, p.end, p.complete) == (
        "2025-12",
        datetime(2025, 12, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
        True,
    )
    cur = sla_report.period_of("current", NOW)
    assert (cur.label, cur.end, cur.complete) == ("2026-01", NOW, False)
    with pytest.raises(sla_report.ReportError, match="2026-02 has not begun"):
        sla_report.period_of("2026-02", NOW)


def test_the_systemd_units_command_line_writes_the_report(prometheus: str, tmp_path: Path) -> None:
    """escrow-sla-report.service's ExecStart, its Prometheus, month and directory swapped for the
    test's, writes the month's three files."""
    text = (ROOT / "deploy" / "systemd" / "escrow-sla-report.service").read_text().replace("\\\n", " ")
    [line] = [ln for ln in text.splitlines() if ln.startswith("ExecStart=")]
    argv = shlex.split(line.removeprefix("ExecStart="))
    assert argv[:2] == ["/opt/escrow-exporter/venv/bin/escrow-exporter", "sla-report"]
    swap = {
        "http://127.0.0.1:9090": prometheus,
        "previous": "2025-11",
        "/var/lib/escrow-sla-reports": str(tmp_path),
    }
    assert set(swap) <= set(argv)
    r = subprocess.run(
        [str(VENV_BIN / "escrow-exporter"), *(swap.get(a, a) for a in argv[1:])],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "sla-2025-11-incidents.csv",
        "sla-2025-11.csv",
        "sla-2025-11.md",
    ]
