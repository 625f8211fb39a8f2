"""The reliability drills and what they share (run by ``tests/test_drills*.py`` quickly and by
``tests/test_drills_long.py`` for minutes): the simulator counting what it receives, configs and
exporter processes, what an operator looks at (/metrics, the log, ground truth), and each drill
as a function of its durations."""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import multiprocessing
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from tests.support.exporter_proc import ExporterProcess, exporter_argv, sample, wait_until
from tests.support.ingest import (
    PROGRAM,
    ThreadDevchain,
    diff_totals,
    expected_totals,
    observed_totals,
    parse_metrics,
    program_yaml,
)
from tests.support.pg_server import PgServer
from tests.support.util import ROOT, free_port, stop_process

INGEST = f"ingest:{PROGRAM}"


#: Retry-After the simulator sends with every 429 (devchain/server.py).
SIM_RETRY_AFTER = 1.0


#: Log events are lost when logs are truncated; emit_cpi events (inner instructions) are not.
CPI_EVENTS = ("MatchSettled", "WithdrawalProcessed")


class CountingDevchain(ThreadDevchain):
    """The in-thread simulator, plus a count of the JSON-RPC HTTP requests each node received."""

    def __init__(self, seed: int = 1, tps: float = 30.0) -> None:
        self.requests: collections.Counter[str] = collections.Counter()
        super().__init__(seed=seed, tps=tps)

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)

        @web.middleware
        async def count(request: web.Request, handler: Any) -> web.StreamResponse:
            if request.method == "POST" and (request.path == "/" or request.path.startswith("/node/")):
                self.requests[request.path.removeprefix("/node/").strip("/") or "default"] += 1
            return await handler(request)

        async def start() -> None:
            app = self.server.app()
            app.middlewares.append(count)
            self._runner = web.AppRunner(app)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

        self.loop.run_until_complete(start())
        started.set()
        self.loop.run_forever()

    def received(self) -> dict[str, int]:
        return dict(self.requests)

    def rpc_result(self, method: str, params: list[Any]) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
        req = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())["result"]


@pytest.fixture
def chain() -> Iterator[CountingDevchain]:
    dc = CountingDevchain(seed=23, tps=30)
    yield dc
    dc.close()


def example_balances(interval: float, staleness_intervals: int) -> dict[str, Any]:
    """The example config's watched accounts (fixed simulator addresses)."""
    accounts = yaml.safe_load((ROOT / "examples" / "config.yml").read_text())["balances"]["accounts"]
    return {"interval_seconds": interval, "staleness_intervals": staleness_intervals, "accounts": accounts}


def drill_config(
    tmp: Path,
    chain: ThreadDevchain,
    *,
    nodes: tuple[str, ...] = ("a", "b"),
    endpoint: dict[str, Any] | None = None,
    sql: dict[str, Any] | None = None,
    staleness_intervals: int = 1000,
) -> Path:
    """Ingestion, program accounts and balances (and optionally SQL) against ``chain``'s nodes."""
    config: dict[str, Any] = {
        "solana": {
            "endpoints": [
                {
                    "name": n,
                    "url": chain.node(n),
                    "rate_limit_rps": 2000,  # high on purpose: backoff, not the limiter, must hold a storm
                    "timeout_seconds": 3,
                    "max_retries": 2,
                    **(endpoint or {}),
                }
                for n in nodes
            ],
            "health_interval_seconds": 0.5,
            "failback_after_seconds": 1,
            "failover_after_errors": 1,
        },
        "balances": example_balances(0.5, staleness_intervals),
        "programs": yaml.safe_load(program_yaml(interval=0.3, batch_size=20))["programs"],
        "state": {"path": str(tmp / "state.sqlite")},
    }
    if sql is not None:
        config["sql"] = sql
    path = tmp / "config.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def start(config: Path, log: Path) -> ExporterProcess:
    proc = ExporterProcess(config, log=log)
    proc.wait_up()
    return proc


class LimitedExporter(ExporterProcess):
    """An exporter whose files may not grow past ``fsize`` bytes (RLIMIT_FSIZE): a full disk.

    SIGXFSZ is ignored so an oversized write fails with EFBIG, as ENOSPC would on a full disk.
    The log goes through a pipe (copied to ``log`` by a thread) because the limit would stop a
    log file too, and the error the drill looks for is in the log.
    """

    def __init__(self, config: Path, log: Path, fsize: int) -> None:
        self.port = free_port()
        self.config = config
        self.log_path = log
        self._log = open(log, "ab")  # noqa: SIM115 - closed in stop()/kill()

        def limit() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            # Soft limit only: raising it again (the disk has room) needs no privilege.
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, resource.RLIM_INFINITY))

        self.proc = subprocess.Popen(
            exporter_argv(config, self.port),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=limit,  # noqa: PLW1509 - single-threaded enough: only a limit and a signal
        )
        self._copier = threading.Thread(target=self._copy, daemon=True)
        self._copier.start()

    def _copy(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._log.write(line)
            self._log.flush()

    def lift_limit(self) -> None:
        """The disk has room again (the running process may grow its files)."""
        inf = resource.RLIM_INFINITY
        resource.prlimit(self.proc.pid, resource.RLIMIT_FSIZE, (inf, inf))

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._copier.join(10)
        self._log.close()

    def stop(self) -> int:
        stop_process(self.proc)
        self._copier.join(10)
        self._log.close()
        return self.proc.returncode


def scrape(proc: ExporterProcess) -> str | None:
    try:
        return proc.metrics()
    except (OSError, urllib.error.URLError):
        return None


def up(text: str | None, collector: str) -> float | None:
    return None if text is None else sample(text, "escrow_exporter_collector_up", collector=collector)


def errors(text: str, collector: str, reason: str) -> float:
    return sample(text, "escrow_exporter_collector_errors_total", collector=collector, reason=reason) or 0.0


def failures(text: str, collector: str) -> dict[str, float]:
    """escrow_exporter_collector_errors_total of ``collector``, by reason (non-zero ones)."""
    return {
        labels["reason"]: value
        for name, labels, value in parse_metrics(text)
        if name == "escrow_exporter_collector_errors_total" and labels.get("collector") == collector and value
    }


def rpc_outcome(text: str, outcome: str, endpoint: str | None = None) -> float:
    """Sum of escrow_rpc_requests_total over methods (and endpoints unless one is named)."""
    total = 0.0
    for name, labels, value in parse_metrics(text):
        if name == "escrow_rpc_requests_total" and labels.get("outcome") == outcome:
            if endpoint is None or labels.get("endpoint") == endpoint:
                total += value
    return total


def balances(text: str) -> dict[str, float]:
    return {
        labels["account"]: value
        for name, labels, value in parse_metrics(text)
        if name == "escrow_account_balance"
    }


def wait_collectors_up(proc: ExporterProcess, *names: str, timeout: float = 60) -> str:
    wait_until(lambda: all(up(scrape(proc), n) == 1 for n in names), timeout=timeout, what=f"{names} up")
    return proc.metrics()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _newest_slot(chain: CountingDevchain) -> int:
    from devchain.program import PROGRAM_ID

    sigs = chain.rpc_result("getSignaturesForAddress", [str(PROGRAM_ID), {"limit": 1}])
    return int(sigs[0]["slot"])


def settle(
    proc: ExporterProcess, chain: CountingDevchain, timeout: float = 300
) -> tuple[dict[str, Any], str]:
    """Stop the generator; wait until the exporter ingested everything. Returns (truth, metrics)."""
    truth = chain.stop_generator()
    newest = _newest_slot(chain)
    history: list[str] = []

    def caught_up() -> bool:
        text = scrape(proc)
        if text is None or (sample(text, "escrow_ingest_last_slot", program=PROGRAM) or 0) < newest:
            return False
        totals = repr(sorted(observed_totals(text).items()))
        done = bool(history) and history[-1] == totals
        history.append(totals)
        return done

    wait_until(caught_up, timeout=timeout, interval=1.0, what="the exporter catching up")
    return truth, proc.metrics()


def assert_exact(truth: dict[str, Any], text: str) -> None:
    assert truth["transactions"]["success"] > 30, "the simulator produced too little to prove anything"
    problems = diff_totals(expected_totals(truth), observed_totals(text))
    assert not problems, "totals differ from the simulator's ground truth:\n" + "\n".join(problems)


def drill_all_endpoints_down(tmp: Path, chain: CountingDevchain, outage: float) -> None:
    proc = start(drill_config(tmp, chain), tmp / "exporter.log")
    try:
        wait_collectors_up(proc, INGEST, "balances")
        wait_until(lambda: len(balances(proc.metrics())) == 5, timeout=30, what="five balances")
        before = balances(proc.metrics())
        for node in ("a", "b"):
            chain.fault(node, down=True)
        outage_start = time.time()
        seen_down: set[str] = set()
        scrapes = 0
        while time.time() - outage_start < outage or seen_down != {INGEST, "balances"}:
            assert time.time() - outage_start < outage + 60, f"collectors never reported down: {seen_down}"
            text = proc.metrics()  # a scrape never fails because the sources do
            scrapes += 1
            seen_down |= {c for c in (INGEST, "balances") if up(text, c) == 0}
            during = balances(text)
            # The last good values stay (staleness is far longer than the outage): down, never zero.
            assert during.keys() == before.keys(), f"balance series vanished during the outage: {during}"
            for account, value in during.items():
                if before[account] != 0:
                    assert value != 0, f"{account} reported 0 while every endpoint was down"
            time.sleep(0.5)
        assert scrapes >= 3
        text = proc.metrics()
        assert errors(text, INGEST, "rpc_unavailable") > 0
        assert errors(text, "balances", "rpc_unavailable") > 0
        assert sample(text, "escrow_rpc_up", endpoint="a") == 0
        assert sample(text, "escrow_rpc_up", endpoint="b") == 0

        chain.clear_faults()
        text = wait_collectors_up(proc, INGEST, "balances")

        def balances_fresh() -> bool:
            t = proc.metrics()
            stamps = [
                v
                for name, _, v in parse_metrics(t)
                if name == "escrow_account_balance_updated_timestamp_seconds"
            ]
            return len(stamps) == 5 and min(stamps) > outage_start

        wait_until(balances_fresh, timeout=30, what="balances read again after the outage")
        truth, text = settle(proc, chain)
        assert_exact(truth, text)
        for name, acct in truth["balances"].items():

            def served_as_on_chain(n: str = name, a: dict[str, Any] = acct) -> bool:
                shown = sample(proc.metrics(), "escrow_account_balance", account=n, mint=a["mint"])
                return bool(shown == a["raw"] / 10 ** a["decimals"])

            wait_until(served_as_on_chain, timeout=30, what=f"balance of {name} == chain")
        assert chain.url.split("//")[1] not in proc.log(), "an RPC URL appeared in the log"
        assert proc.proc.poll() is None
    finally:
        proc.stop()


#: Endpoint settings of the storm drill: in-flight cap per endpoint, and health probes per second.
STORM_MAX_CONCURRENCY = 4


HEALTH_INTERVAL = 0.5


def storm_bound(seconds: float) -> int:
    """Most HTTP requests one node may receive in a storm of ``seconds`` if Retry-After is honoured:
    one wave of at most ``max_concurrency`` requests per Retry-After window, plus the health probes
    (one batch per health interval). A client that only backed off exponentially, or retried at
    once, sends many times more (the drill prints the healthy rate for comparison)."""
    windows = seconds / SIM_RETRY_AFTER + 2
    return int(STORM_MAX_CONCURRENCY * windows + seconds / HEALTH_INTERVAL + 2)


def drill_429_storm(tmp: Path, chain: CountingDevchain, storm: float) -> None:
    config = drill_config(tmp, chain, endpoint={"max_concurrency": STORM_MAX_CONCURRENCY})
    proc = start(config, tmp / "exporter.log")
    try:
        wait_collectors_up(proc, INGEST, "balances")
        calm_start, calm_before = time.monotonic(), chain.received()
        time.sleep(2)
        calm_rate = {
            n: (chain.received()[n] - calm_before.get(n, 0)) / (time.monotonic() - calm_start)
            for n in ("a", "b")
        }
        limited_before = rpc_outcome(proc.metrics(), "rate_limited")
        for node in ("a", "b"):
            chain.fault(node, rate_limit=True)
        storm_start, received_before = time.monotonic(), chain.received()
        time.sleep(storm)
        received_after, storm_seconds = chain.received(), time.monotonic() - storm_start
        chain.clear_faults()
        text = proc.metrics()
        assert rpc_outcome(text, "rate_limited") > limited_before, "the exporter saw no 429"
        assert up(text, INGEST) == 0 or errors(text, INGEST, "rpc_unavailable") > 0
        bound = storm_bound(storm_seconds)
        for node in ("a", "b"):
            sent = received_after.get(node, 0) - received_before.get(node, 0)
            print(
                f"node {node}: {sent} requests in a {storm_seconds:.1f}s storm (bound {bound}); "
                f"healthy rate {calm_rate[node]:.1f}/s"
            )
            assert 0 < sent <= bound, (
                f"node {node} received {sent} requests during a {storm_seconds:.1f}s 429 storm with "
                f"Retry-After {SIM_RETRY_AFTER:g}s; honouring it allows at most {bound}"
            )
        wait_collectors_up(proc, INGEST, "balances")
        truth, text = settle(proc, chain)
        assert_exact(truth, text)
    finally:
        proc.stop()


#: The drill's response cap, and the size of the simulator's oversized answers (well above it).
RESPONSE_CAP = 1024 * 1024


OVERSIZED = 4 * RESPONSE_CAP


def assert_exact_except_log_events(truth: dict[str, Any], text: str) -> None:
    """Truncated logs lose log-emitted events: those may only be short. Everything else is exact."""
    expected, observed = expected_totals(truth), observed_totals(text)
    lossy = {
        k
        for k in expected.keys() | observed.keys()
        if k.startswith(("events/", "amount/")) and k.split("/")[1] not in CPI_EVENTS
    }
    problems = diff_totals(
        {k: v for k, v in expected.items() if k not in lossy},
        {k: v for k, v in observed.items() if k not in lossy},
    )
    assert not problems, "totals differ from the simulator's ground truth:\n" + "\n".join(problems)
    over = [k for k in lossy if observed.get(k, 0) > expected.get(k, 0) * (1 + 1e-9)]
    assert not over, f"counted more than happened: {over}"
    assert any(expected.get(f"events/{e}", 0) > 0 for e in CPI_EVENTS), "no emit_cpi event to check"


def drill_bad_responses(tmp: Path, chain: CountingDevchain, phase: float, rounds: int = 1) -> None:
    config = drill_config(tmp, chain, endpoint={"max_response_bytes": RESPONSE_CAP})
    proc = start(config, tmp / "exporter.log")
    try:
        wait_collectors_up(proc, INGEST, "balances")
        pid = proc.proc.pid
        fds_before = open_fds(pid)
        rss_after_first_round = 0
        phases: list[tuple[tuple[str, ...], dict[str, Any]]] = [
            (("a",), {"malformed": True}),
            (("a", "b"), {"malformed": True}),
            (("a", "b"), {"truncate_logs": True}),
            (("a",), {"oversized": OVERSIZED}),
            (("a", "b"), {"oversized": OVERSIZED}),
        ]
        for r in range(rounds):
            for nodes, flags in phases:
                for node in nodes:
                    chain.fault(node, **flags)
                deadline = time.monotonic() + phase
                while time.monotonic() < deadline:
                    assert scrape(proc) is not None, f"exporter stopped answering under {flags}"
                    time.sleep(0.25)
                chain.clear_faults()
                assert proc.proc.poll() is None, f"exporter died under {flags}:\n{proc.log()[-3000:]}"
            if r == 0:
                rss_after_first_round = rss_kib(pid)
        text = proc.metrics()
        assert rpc_outcome(text, "malformed", endpoint="a") > 0
        assert rpc_outcome(text, "malformed", endpoint="b") > 0
        assert "larger than max_response_bytes" in proc.log(), "the oversized answers were not refused"
        assert (sample(text, "escrow_logs_truncated_total", program=PROGRAM) or 0) > 0

        wait_collectors_up(proc, INGEST, "balances")
        truth, text = settle(proc, chain)
        assert_exact_except_log_events(truth, text)
        # Refused answers leave nothing behind: connections are released, memory is not held.
        wait_until(lambda: open_fds(pid) <= fds_before + 8, timeout=30, what="file descriptors released")
        rss = rss_kib(pid)
        assert rss < 400 * 1024, f"exporter RSS {rss} KiB after oversized answers"
        if rounds > 1:
            assert rss < rss_after_first_round * 1.25 + 20 * 1024, (
                f"RSS grew from {rss_after_first_round} KiB after round 1 to {rss} KiB after {rounds}"
            )
    finally:
        proc.stop()


#: The recursive count each SQL query runs: ``knob`` rows long, so a test makes it slow at will.
_COUNT_UP_TO_KNOB = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < (SELECT n FROM knob))"
    " SELECT COUNT(*) AS value FROM c"
)


NON_SQL = (INGEST, "balances", f"program_accounts:{PROGRAM}")


def sql_section(lite: Path, pg_dsn: str) -> dict[str, Any]:
    def query(name: str, db: str, sql: str) -> dict[str, Any]:
        return {
            "name": name,
            "database": db,
            "interval_seconds": 0.5,
            "timeout_seconds": 1,
            "staleness_intervals": 1000,
            "sql": sql,
            "metrics": [{"name": f"drill_{name}", "help": "Drill query."}],
        }

    return {
        "databases": [
            {"name": "lite", "driver": "sqlite", "path": str(lite), "connect_timeout_seconds": 1},
            {
                "name": "pg",
                "driver": "postgres",
                "dsn": pg_dsn,
                "connect_timeout_seconds": 1,
                "allow_privileged_role": True,
            },
        ],
        "queries": [
            query("lite_rows", "lite", "SELECT COUNT(*) AS value FROM t"),
            query("lite_count", "lite", _COUNT_UP_TO_KNOB),
            query("pg_rows", "pg", "SELECT COUNT(*) AS value FROM drill_t"),
            query("pg_sleep", "pg", "SELECT 7 AS value FROM pg_sleep((SELECT s FROM drill_knob))"),
        ],
    }


def _only_sql_affected(proc: ExporterProcess, down: set[str], baseline: str, what: str) -> None:
    """Wait until exactly the ``down`` collectors report down; the RPC side never noticed."""

    def reached() -> bool:
        text = scrape(proc)
        return text is not None and all(up(text, c) == 0 for c in down)

    wait_until(reached, timeout=30, what=f"{down} down ({what})")
    text = proc.metrics()
    for c in NON_SQL:
        assert up(text, c) == 1, f"{c} down while only the database had trouble ({what})"
        for name, labels, value in parse_metrics(text):
            if name == "escrow_exporter_collector_errors_total" and labels["collector"] == c:
                assert value == (sample(baseline, name, **labels) or 0), f"{c} failed during {what}"
    # Cached SQL series stay at their last value: down, never zero.
    for metric in ("drill_lite_rows", "drill_lite_count", "drill_pg_rows", "drill_pg_sleep"):
        assert sample(text, metric) == sample(baseline, metric), f"{metric} changed during {what}"


def drill_database_trouble(tmp: Path, chain: CountingDevchain, pg: PgServer, hold: float) -> None:
    lite = tmp / "business.sqlite"
    with sqlite3.connect(lite) as db:
        db.executescript(
            "CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1), (2), (3);"
            "CREATE TABLE knob (n INTEGER); INSERT INTO knob VALUES (5);"
        )
    db.close()
    pg.psql(
        "DROP TABLE IF EXISTS drill_t, drill_knob; CREATE TABLE drill_t (id INT); "
        "INSERT INTO drill_t VALUES (1), (2); CREATE TABLE drill_knob (s FLOAT); INSERT INTO drill_knob VALUES (0)"
    )
    config = drill_config(tmp, chain, sql=sql_section(lite, pg.dsn))
    proc = start(config, tmp / "exporter.log")
    sql_queries = {"sql:lite_rows", "sql:lite_count", "sql:pg_rows", "sql:pg_sleep"}
    try:
        baseline = wait_collectors_up(proc, *NON_SQL, *sql_queries, "sql")
        assert sample(baseline, "drill_lite_rows") == 3 and sample(baseline, "drill_pg_rows") == 2

        def recover() -> None:
            wait_collectors_up(proc, *sql_queries, "sql")

        # SQLite file gone (moved away, as a bad deploy or a volume unmounted would).
        lite.rename(tmp / "moved.sqlite")
        _only_sql_affected(proc, {"sql:lite_rows", "sql:lite_count", "sql"}, baseline, "sqlite file gone")
        time.sleep(hold)
        assert sample(proc.metrics(), "escrow_sql_up", database="lite") == 0
        (tmp / "moved.sqlite").rename(lite)
        recover()

        # SQLite locked by a writer holding an exclusive lock (rollback journal: readers wait, then fail).
        locker = sqlite3.connect(lite, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            _only_sql_affected(proc, {"sql:lite_rows", "sql:lite_count"}, baseline, "sqlite locked")
            time.sleep(hold)
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        recover()

        # A slow SQLite query: cut at its timeout, the other query on the same file unaffected.
        with sqlite3.connect(lite) as db:
            db.execute("UPDATE knob SET n = 2000000000")
        db.close()
        _only_sql_affected(proc, {"sql:lite_count"}, baseline, "slow sqlite query")
        time.sleep(hold)
        text = proc.metrics()
        assert up(text, "sql:lite_rows") == 1
        assert sample(text, "escrow_sql_query_errors_total", query="lite_count", reason="timeout")
        with sqlite3.connect(lite) as db:
            db.execute("UPDATE knob SET n = 5")
        db.close()
        recover()

        # PostgreSQL stopped, then started again: the pool reconnects by itself.
        pg.stop()
        try:
            _only_sql_affected(proc, {"sql:pg_rows", "sql:pg_sleep", "sql"}, baseline, "postgres stopped")
            time.sleep(hold)
            text = proc.metrics()
            assert sample(text, "escrow_sql_up", database="pg") == 0
            assert up(text, "sql:lite_rows") == 1
        finally:
            pg.start()
        recover()

        # A slow PostgreSQL query: cancelled at its timeout; the connection pool survives it.
        pg.psql("UPDATE drill_knob SET s = 30")
        _only_sql_affected(proc, {"sql:pg_sleep"}, baseline, "slow postgres query")
        time.sleep(hold)
        assert up(proc.metrics(), "sql:pg_rows") == 1
        pg.psql("UPDATE drill_knob SET s = 0")
        recover()
        assert proc.proc.poll() is None
        assert pg.dsn not in proc.log() and "postgresql://" not in proc.log()
    finally:
        proc.stop()


def totals_not_below(before: dict[str, float], now: dict[str, float], what: str) -> None:
    lower = {k: (v, now.get(k, 0.0)) for k, v in before.items() if now.get(k, 0.0) < v}
    assert not lower, f"totals went down ({what}): {lower}"


def count_something_then_stop(config: Path, log: Path) -> None:
    """A first run that counts something, then a clean stop (the WAL folded into the state file)."""
    proc = start(config, log)
    try:
        wait_collectors_up(proc, INGEST)
        wait_until(lambda: observed_totals(proc.metrics()).get("tx/success", 0) > 0, what="something counted")
    finally:
        proc.stop()


def drill_state_disk_full(tmp: Path, chain: CountingDevchain, full_for: float) -> None:
    config = drill_config(tmp, chain)
    state = tmp / "state.sqlite"
    count_something_then_stop(config, tmp / "exporter-0.log")
    # Room for the files as they are and a few commits more: then the disk is full. A commit
    # appends every page it touches to the WAL (about ten pages of counters, index and seal
    # for a batch), and the first cycle must complete before the disk fills.
    fsize = max(p.stat().st_size for p in tmp.glob("state.sqlite*")) + 64 * 1024
    full = LimitedExporter(config, tmp / "exporter-full.log", fsize)
    try:
        full.wait_up()
        wait_until(lambda: up(scrape(full), INGEST) == 1, timeout=30, what="ingestion resumed")
        before = observed_totals(full.metrics())

        def failing() -> bool:
            text = scrape(full)
            return (
                text is not None and up(text, INGEST) == 0 and errors(text, INGEST, "state_unavailable") > 0
            )

        wait_until(failing, timeout=60, what="ingestion failing on the full disk")
        deadline = time.monotonic() + full_for
        while time.monotonic() < deadline:
            text = full.metrics()
            assert up(text, INGEST) == 0
            totals_not_below(before, observed_totals(text), "disk full")
            assert up(text, "balances") == 1, "a full state disk must not stop the balances"
            time.sleep(0.5)
        log = full.log()
        assert f"state file {state}: cannot write" in log, log[-3000:]
        assert "Traceback" not in log
        # Room again: the running exporter carries on by itself.
        full.lift_limit()
        wait_until(
            lambda: up(scrape(full), INGEST) == 1, timeout=60, what="ingestion after the disk has room"
        )
        totals_not_below(before, observed_totals(full.metrics()), "after the disk has room")
    finally:
        full.kill()
    # And a crash right after: the restarted exporter continues exactly.
    proc = start(config, tmp / "exporter-2.log")
    try:
        truth, text = settle(proc, chain)
        assert_exact(truth, text)
    finally:
        proc.stop()


#: Ways to damage the state file: (name, offset, bytes written there).
CORRUPTIONS = {
    "header": (0, b"\x00garbage header\x00" * 6),
    "btree_pages": (4096, bytes(range(256)) * 24),
}


def drill_state_corrupted(tmp: Path, chain: CountingDevchain, how: str, broken_for: float) -> None:
    config = drill_config(tmp, chain)
    state = tmp / "state.sqlite"
    count_something_then_stop(config, tmp / "exporter-0.log")
    backup = tmp / "state.backup"
    shutil.copy(state, backup)
    offset, garbage = CORRUPTIONS[how]
    with open(state, "r+b") as f:
        f.seek(offset)
        f.write(garbage)
    damaged = hashlib.sha256(state.read_bytes()).hexdigest()

    proc = start(config, tmp / "exporter-1.log")
    try:

        def refused() -> bool:
            text = scrape(proc)
            return text is not None and errors(text, INGEST, "state_damaged") >= 2

        wait_until(refused, timeout=60, what="the damaged state file refused")
        time.sleep(broken_for)
        text = proc.metrics()
        assert up(text, INGEST) == 0
        # No silent reset: no totals at all rather than totals restarted from zero...
        assert not observed_totals(text), f"totals served from a damaged state file: {observed_totals(text)}"
        assert up(text, "balances") == 1
        log = proc.log()
        assert f"state file {state} is damaged" in log and "restore it from a backup" in log, log[-3000:]
        assert "Traceback" not in log
    finally:
        proc.stop()
    # ...and the damaged file is left as it was, for the operator to inspect or restore.
    assert hashlib.sha256(state.read_bytes()).hexdigest() == damaged, "the exporter rewrote a damaged file"

    for extra in tmp.glob("state.sqlite-*"):  # journal files of the damaged file go with it
        extra.unlink()
    shutil.copy(backup, state)
    proc = start(config, tmp / "exporter-2.log")
    try:
        truth, text = settle(proc, chain)
        assert_exact(truth, text)
    finally:
        proc.stop()


def scrape_many(url: str, scrapes: int) -> tuple[list[int], str]:
    """One scraper: ``scrapes`` scrapes in a row; counters must never go backwards between them."""
    statuses, last_total, text = [], -1.0, ""
    for _ in range(scrapes):
        with urllib.request.urlopen(url, timeout=60) as r:
            statuses.append(r.status)
            text = r.read().decode()
        total = sum(observed_totals(text).get(f"tx/{s}", 0) for s in ("success", "failed"))
        assert total >= last_total, f"transactions_total went from {last_total} to {total}"
        last_total = total
    return statuses, text


def drill_concurrent_scrapes(tmp: Path, chain: CountingDevchain, scrapers: int, scrapes: int) -> None:
    proc = start(drill_config(tmp, chain), tmp / "exporter.log")
    try:
        wait_collectors_up(proc, INGEST, "balances")
        # Scrapers are processes, as Prometheus servers are: threads here would share the test
        # process's GIL with the in-thread simulator and starve it, which is not the exporter's doing.
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(scrapers, mp_context=ctx) as pool:
            futures = [pool.submit(scrape_many, proc.url + "/metrics", scrapes) for _ in range(scrapers)]
            results = [f.result() for f in futures]
        statuses = [s for st, _ in results for s in st]
        assert len(statuses) == scrapers * scrapes and set(statuses) == {200}
        check = subprocess.run(
            ["promtool", "check", "metrics"], input=results[0][1], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr
        # Ingestion and balances kept working all along: not one failed cycle during the storm.
        text = proc.metrics()
        for collector in (INGEST, "balances"):
            assert up(text, collector) == 1, f"{collector} down after the scrape storm"
            failed = failures(text, collector)
            assert not failed, f"{collector} failed cycles during the scrape storm: {failed}"
        truth, text = settle(proc, chain)
        assert_exact(truth, text)
    finally:
        proc.stop()


# -- the hostile-node drill (issue 11; tests/test_drills_hostile.py) -------------------------------

#: A key the endpoints send in a header: an echoing node must not get it into the log or /metrics.
SECRET = "DrillHeaderKey0123456789"


#: Every behaviour of a bad node the simulator has, existing faults first, then the hostile ones.
BEHAVIOURS: list[dict[str, Any]] = [
    {"down": True},
    {"rate_limit": True},
    {"stale_slot": True},
    {"malformed": True},
    {"slot_offset": 100_000},
    {"duplicate_signatures": True},
    {"null_transactions": True},
    {"history_unavailable": True},
    {"bad_listing": True},
    {"deep_json": True},
    {"array_ids": True},
    {"redirect": True},
    {"echo_secrets": True},
]


def active(text: str | None) -> str | None:
    for name in ("a", "b"):
        if text is not None and sample(text, "escrow_rpc_active", endpoint=name) == 1:
            return name
    return None


def failovers(text: str | None) -> float:
    return (sample(text, "escrow_rpc_failovers_total") or 0.0) if text is not None else 0.0


def drill_hostile_node(tmp: Path, chain: CountingDevchain, hold: float, rounds: int = 1) -> None:
    config = drill_config(tmp, chain, endpoint={"headers": {"X-Api-Key": SECRET}})
    proc: ExporterProcess = start(config, tmp / "exporter.log")
    try:
        wait_collectors_up(proc, INGEST, "balances")
        for _ in range(rounds):
            for flags in BEHAVIOURS:
                # Back on the preferred endpoint (failback) before it turns bad again.
                wait_until(lambda: active(scrape(proc)) == "a", timeout=30, what=f"a active before {flags}")
                before = failovers(scrape(proc))
                chain.fault("a", **flags)

                def failed_over(b: float = before) -> bool:
                    t = scrape(proc)
                    return t is not None and active(t) == "b" and failovers(t) > b

                wait_until(failed_over, timeout=30, what=f"failover to b under {flags}")
                time.sleep(hold)
                assert proc.proc.poll() is None, f"exporter died under {flags}:\n{proc.log()[-3000:]}"
                chain.clear_faults()
        wait_collectors_up(proc, INGEST, "balances")
        truth, text = settle(proc, chain)
        assert_exact(truth, text)
        log = proc.log()
        assert "Traceback" not in log
        assert SECRET not in log and SECRET not in text, "the echoed API key was logged or exposed"
    finally:
        proc.stop()
