"""A day in the life, live (issue 13, item 5): the demo stack under a platform's daily traffic goes
through an ordinary day's operations in one run, and nothing pages but what each step must cause;
then real faults page the right receiver.

The stack: the simulator (default profile: a daily traffic shape, one day compressed into
``DAY_SECONDS``; its demo ledger in a real PostgreSQL) -> the exporter on ``examples/config.yml``
(two RPC endpoints, ``primary`` and ``backup``, polling every second) -> a real Prometheus with the
bundle's rules -> a real Alertmanager with the bundle's routes, inhibitions and templates -> the
loopback Slack / PagerDuty / dead-man's-switch receivers.

Time compression (factor ``SCALE``): every ``for:`` and ``keep_firing_for`` is divided by it
(``tests/support/stack.py``'s ScaledPromStack, which keeps their production order and floors), and so is
every step that is a duration: the 3-minute scrape failure lasts 18 s, the 5-minute planned pause
30 s, the 2-minute RPC primary outage 12 s. Restarts (exporter, Prometheus, PostgreSQL) take as long
as they really take, so they are compared with compressed ``for:``s: harsher than production.
Rule range windows (``[10m]``, ``[1h]``) and thresholds in seconds are not compressed.

Runtime: about four and a half minutes on 2 shared cores (``make drills``; not ``make test``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
import yaml

from bundle.config import ALERTS
from tests.support.devchain_proc import Devchain
from tests.support.exporter_proc import ExporterProcess
from tests.support.pg_server import PgServer, pg_server  # noqa: F401 - the session fixture
from tests.support.receivers import Message, Receivers
from tests.support.stack import (
    EXPORTER_JOB,
    PAGERDUTY_KEYS,
    PD_HIGH_URGENCY,
    PD_LOW_URGENCY,
    ScaledPromStack,
    example_config,
)

pytestmark = [
    pytest.mark.drill,
    pytest.mark.skipif(
        not (shutil.which("prometheus") and shutil.which("prometheus-alertmanager")),
        reason="prometheus/alertmanager not installed (make setup)",
    ),
]

SCALE = 10
#: One simulated day of traffic lasts about as long as the drill, from 06:00 to 06:00.
DAY_SECONDS = 240
MEAN_TPS = 4
SCRAPE_FAILURE_SECONDS = 3 * 60 / SCALE
PAUSE_SECONDS = 5 * 60 / SCALE
RPC_FAILOVER_SECONDS = 2 * 60 / SCALE
#: After the last step: the longest compressed ``for:`` of the rules a step could have set off (10m).
SETTLE_SECONDS = 10 * 60 / SCALE
WAIT = 120.0  # generous upper bound for anything to arrive; nothing below is a timed assertion

SLACK_CRITICAL = "/slack/slack_critical_webhook_url"
SLACK_ALERTS = "/slack/slack_alerts_webhook_url"
ALERT_NAMES = {a.name for a in ALERTS}

#: What the ordinary day may cause, besides Watchdog, and why. Anything else firing (in
#: Prometheus, silenced or not) or notified during the day fails the drill.
EXPECTED_FIRING = {
    # A 3-minute scrape failure is what EscrowExporterDown (for 2m) is for: it pages (P1).
    "EscrowExporterDown": "the 3-minute scrape failure",
    # The planned pause fires it, under the silence the runbook creates first: no notification.
    "EscrowProgramPaused": "the planned pause (silenced)",
}
EXPECTED_NOTIFIED = {"EscrowExporterDown"}
SWEPT = "fee_usdc"

T = TypeVar("T")


@dataclass
class Day:
    pg: PgServer
    chain: Devchain
    config: Path
    state: Path
    exporter: ExporterProcess
    prom: ScaledPromStack
    rx: Receivers
    started: float = field(default_factory=time.time)
    steps: list[str] = field(default_factory=list)

    def step(self, what: str) -> None:
        traffic = self.chain.state()["traffic"]
        line = f"{time.time() - self.started:6.1f}s  {traffic['hour']:05.2f}h  {traffic['tps_now']:5.2f} tx/s  {what}"
        self.steps.append(line)
        print(line, flush=True)

    def logs(self) -> str:
        lines = [ln for ln in self.exporter.log().splitlines() if "logger=aiosqlite" not in ln]
        return (
            "--- steps ---\n"
            + "\n".join(self.steps)
            + "\n"
            + self.prom.logs()
            + "\n--- exporter (tail) ---\n"
            + "\n".join(lines[-30:])
        )

    def wait(self, check: Callable[[], T | None], what: str, timeout: float = WAIT) -> T:
        try:
            return self.rx.wait_for(check, timeout=timeout, what=what)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.logs()}") from None

    # ---- the exporter ---------------------------------------------------------------------------

    def restart_exporter(self, fresh_state: bool = False) -> None:
        port = self.exporter.port
        self.exporter.stop()
        if fresh_state:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.state}{suffix}").unlink(missing_ok=True)
        self.exporter = ExporterProcess(self.config, port=port, log=self.config.with_suffix(".log"))
        self.exporter.wait_up("/-/ready", timeout=90)

    # ---- Prometheus and Alertmanager ------------------------------------------------------------

    def ever_firing(self) -> set[str]:
        """Every alert Prometheus had firing at any moment since the start (silenced ones too)."""
        window = int(time.time() - self.started) + 5
        rows = self.prom.query(f'max_over_time(ALERTS{{alertstate="firing"}}[{window}s])')
        return {r["metric"]["alertname"] for r in rows}

    def firing_now(self, alertname: str) -> bool:
        return any(name == alertname for name, _ in self.prom.firing())

    def silence(self, matchers: dict[str, str], comment: str, hours: float = 2) -> str:
        """``amtool silence add`` through Alertmanager's v2 API; returns the silence ID."""
        now = datetime.now(UTC)
        body = {
            "matchers": [
                {"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in matchers.items()
            ],
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(hours=hours)).isoformat(),
            "createdBy": "on-call",
            "comment": comment,
        }
        req = urllib.request.Request(
            f"{self.prom.alertmanager_url}/api/v2/silences",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return str(json.loads(r.read())["silenceID"])


def alerts_named(m: Message) -> set[str]:
    return {name for name in ALERT_NAMES if re.search(rf"\b{name}\b", m.text)}


def notifications(rx: Receivers) -> list[tuple[str, str, set[str]]]:
    """(kind, where, alert names) of every notification but the dead-man's switch's Watchdog."""
    out = []
    for m in rx.messages:
        if m.kind == "deadman":
            continue
        where = m.body.get("routing_key", "") if m.kind == "pagerduty" else m.path
        out.append((m.kind, where, alerts_named(m)))
    return out


def page(rx: Receivers, routing_key: str, alertname: str, contains: str = "") -> Message | None:
    for m in rx.of("pagerduty"):
        body = m.body
        if (
            body["routing_key"] == routing_key
            and body["event_action"] == "trigger"
            and alertname in alerts_named(m)
            and contains in m.text
        ):
            return m
    return None


def slack(rx: Receivers, channel: str, alertname: str, contains: str = "") -> Message | None:
    for m in rx.of("slack"):
        if m.path == channel and alertname in alerts_named(m) and contains in m.text:
            return m
    return None


def ledger_database(pg: PgServer) -> tuple[str, str]:
    """A database of its own for this run's demo ledger: (writer DSN, read-only reader DSN)."""
    name = f"daylife_{os.getpid()}_{pg.port}"
    pg.psql(f"DROP DATABASE IF EXISTS {name}")
    pg.psql(f"CREATE DATABASE {name}")
    writer = pg.dsn.rsplit("/", 1)[0] + f"/{name}"
    pg.psql(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'daylife_reader') "
        "THEN CREATE ROLE daylife_reader LOGIN; END IF; END $$"
    )
    # The simulator (the superuser here) creates the ledger's tables; the exporter reads them only.
    pg.psql(
        "GRANT USAGE ON SCHEMA public TO daylife_reader; "
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO daylife_reader",
        dsn=writer,
    )
    return writer, writer.replace("postgres@", "daylife_reader@", 1)


def example_on_postgres(tmp: Path, chain: Devchain, reader_dsn: str) -> Path:
    """examples/config.yml with two RPC endpoints of the simulator, 1 s polling and its business
    database the PostgreSQL ledger (the query pack has both dialects)."""
    path = example_config(
        tmp,
        chain.url,
        endpoints={"primary": chain.node("primary"), "backup": chain.node("backup")},
        interval_seconds=1.0,
    )
    cfg = yaml.safe_load(path.read_text())
    cfg["sql"]["databases"] = [{"name": "business", "driver": "postgres", "dsn": reader_dsn}]
    path.write_text(yaml.safe_dump(cfg, sort_keys=False, width=10_000))
    return path


@pytest.fixture
def day(tmp_path: Path, pg_server: PgServer) -> Iterator[Day]:  # noqa: F811
    writer, reader = ledger_database(pg_server)
    with ExitStack() as stack:
        chain = Devchain(
            tmp_path,
            seed=13,
            tps=MEAN_TPS,
            extra=("--ledger-db", writer, "--day-seconds", str(DAY_SECONDS), "--day-start", "6"),
        )
        stack.callback(chain.stop)
        config = example_on_postgres(tmp_path, chain, reader)
        exporter = ExporterProcess(config)
        stack.callback(exporter.stop)
        exporter.wait_up("/-/ready", timeout=90)
        rx = stack.enter_context(Receivers(routing_keys=set(PAGERDUTY_KEYS.values())))
        prom = ScaledPromStack(
            tmp_path / "prom",
            rx,
            {EXPORTER_JOB: [f"127.0.0.1:{exporter.port}"]},
            for_scale=SCALE,
            pagerduty_keys=PAGERDUTY_KEYS,
        )
        stack.enter_context(prom)
        d = Day(pg_server, chain, config, tmp_path / "state.sqlite", exporter, prom, rx)
        stack.callback(lambda: d.exporter.stop())
        yield d


def test_a_day_in_the_life_pages_nobody_then_real_faults_page_the_right_tier(day: Day) -> None:
    d = day
    d.step("start: first deployment (backfill of the history so far), Prometheus, Alertmanager")
    d.wait(lambda: d.rx.of("deadman"), "Watchdog at the dead-man's switch: rules evaluated and routed")

    d.step("exporter restart")
    d.restart_exporter()

    d.step("first-deployment backfill: exporter started on a fresh state file")
    d.restart_exporter(fresh_state=True)

    d.step(f"scrape failure ({SCRAPE_FAILURE_SECONDS:.0f} s: the exporter frozen, SIGSTOP)")
    d.exporter.proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(SCRAPE_FAILURE_SECONDS)
    finally:
        d.exporter.proc.send_signal(signal.SIGCONT)
    # What this step must cause: a P1 page on the PagerDuty low-urgency service.
    d.wait(lambda: page(d.rx, PD_LOW_URGENCY, "EscrowExporterDown"), "EscrowExporterDown paged (P1)")
    d.wait(lambda: not d.firing_now("EscrowExporterDown"), "EscrowExporterDown resolved")

    d.step("Prometheus restart")
    d.prom.restart_prometheus()

    d.step("planned pause: silence first (runbook), then pause (Maintenance)")
    silence = d.silence(
        {"alertname": "EscrowProgramPaused", "program": "paid_match"}, comment="planned: DRILL-1 maintenance"
    )
    d.chain.action("pause", reason="Maintenance")
    time.sleep(PAUSE_SECONDS)
    silenced = d.wait(
        lambda: [
            a
            for a in d.prom.am_alerts()
            if a["labels"]["alertname"] == "EscrowProgramPaused" and silence in a["status"]["silencedBy"]
        ],
        "EscrowProgramPaused held by the planned silence",
    )
    assert silenced[0]["status"]["state"] == "suppressed"
    d.step("resume (the silence runs out by itself: the alert reports a pause for 10 minutes after it)")
    d.chain.action("resume")

    d.step(f"planned fee sweep ({SWEPT} emptied)")
    # The program's own sweep_fees instruction: its FeesSwept event is the reconciliation flow
    # that debits the fee role, so exact reconciliation stays quiet.
    d.chain.action("sweep_fees", account=SWEPT)

    d.step("database restart (PostgreSQL, pg_ctl stop -m fast; start)")
    d.pg.stop()
    d.pg.start()

    d.step(f"RPC failover: primary down {RPC_FAILOVER_SECONDS:.0f} s")
    d.chain.fault("primary", down=True)
    time.sleep(RPC_FAILOVER_SECONDS)
    d.chain.fault("primary", down=False)

    d.step(f"settle {SETTLE_SECONDS:.0f} s: whatever a step set off has time to fire")
    time.sleep(SETTLE_SECONDS)
    d.step("end of the ordinary day")

    # ---- nothing paged but what the steps must cause ----------------------------------------------
    fired = d.ever_firing() - {"Watchdog"}
    assert fired <= set(EXPECTED_FIRING), (
        f"fired on an ordinary day: {fired - set(EXPECTED_FIRING)}\n{d.logs()}"
    )
    assert {"EscrowExporterDown", "EscrowProgramPaused"} <= fired, fired
    told = notifications(d.rx)
    print("fired:", sorted(fired), "notified:", told, flush=True)
    unexpected = [n for n in told if not n[2] <= EXPECTED_NOTIFIED or not n[2]]
    assert not unexpected, f"notified on an ordinary day: {unexpected}\n{d.logs()}"
    assert not [m for m in d.rx.messages if "EscrowProgramPaused" in alerts_named(m)], "the silence leaked"
    assert d.rx.errors == [], d.rx.errors
    traffic = d.chain.state()["traffic"]
    print("transactions per simulated hour:", traffic["produced_by_hour"], flush=True)

    # ---- real faults page the right receiver --------------------------------------------------------
    d.step("fault: escrow_usdc drained outside the program (drift)")
    d.chain.action("drain_escrow", account="escrow_usdc", amount=5_000_000)
    d.wait(
        lambda: page(d.rx, PD_HIGH_URGENCY, "EscrowReconciliationMismatch", "escrow_usdc"),
        "escrow drift paged the high-urgency service (P0)",
    )
    d.wait(
        lambda: slack(d.rx, SLACK_CRITICAL, "EscrowReconciliationMismatch", "escrow_usdc"), "#escrow-critical"
    )

    d.step("fault: primary RPC endpoint down for good (P2: Slack only)")
    d.chain.fault("primary", down=True)
    d.wait(
        lambda: slack(d.rx, SLACK_ALERTS, "EscrowRpcEndpointDown"), "EscrowRpcEndpointDown in #escrow-alerts"
    )
    assert not [m for m in d.rx.of("pagerduty") if "EscrowRpcEndpointDown" in alerts_named(m)], "a P2 paged"

    d.step("fault: every RPC endpoint down (P0)")
    d.chain.fault("backup", down=True)
    d.wait(
        lambda: page(d.rx, PD_HIGH_URGENCY, "EscrowRpcOutage"), "RPC outage paged the high-urgency service"
    )
    d.wait(lambda: slack(d.rx, SLACK_CRITICAL, "EscrowRpcOutage"), "EscrowRpcOutage in #escrow-critical")
    d.step("done")
    assert d.rx.errors == [], d.rx.errors
