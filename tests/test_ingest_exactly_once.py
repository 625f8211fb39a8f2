"""Exactly-once totals: SIGKILL the exporter at random moments, fail over between RPC nodes.

The simulator keeps producing transactions throughout; at the end its generator is stopped and
the totals served on /metrics must equal its ground truth exactly (events per name, amounts per
mint, transactions by status, errors, fees). The drills run with both ingestion sources: ``poll``
and ``logs`` (PubSub push, the listing filling gaps; fees left out, as that source's default).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.exporter_proc import sample, wait_until
from tests.support.ingest import (
    PROGRAM,
    ThreadDevchain,
    diff_totals,
    expected_totals,
    observed_totals,
    observed_windows,
    program_yaml,
    start_exporter,
    write_config,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def chain() -> Any:
    dc = ThreadDevchain(seed=11, tps=40)
    yield dc
    dc.close()


def _newest_slot(chain: ThreadDevchain) -> int:
    import json
    import urllib.request

    from devchain.program import PROGRAM_ID

    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "getSignaturesForAddress",
        # confirmed, as the exporter ingests: the default (finalized) lags the tip by 32 slots,
        # which the logs source's listing reached while still waiting out its push grace
        "params": [str(PROGRAM_ID), {"limit": 1, "commitment": "confirmed"}],
    }
    req = urllib.request.Request(
        chain.url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return int(json.loads(r.read())["result"][0]["slot"])


def _settled(proc: Any, newest_slot: int, last: list[str]) -> bool:
    """Ingested up to the newest slot, and the totals stopped moving between two scrapes."""
    try:
        text = proc.metrics()
    except OSError:
        return False
    if (sample(text, "escrow_ingest_last_slot", program=PROGRAM) or 0) < newest_slot:
        return False
    totals = repr(sorted(observed_totals(text).items()))
    settled = bool(last) and last[-1] == totals
    last.append(totals)
    return settled


def _program(source: str, interval: float, batch_size: int) -> str:
    text = program_yaml(interval=interval, batch_size=batch_size, accounts=False)
    return text.replace(f"  - name: {PROGRAM}\n", f"  - name: {PROGRAM}\n    source: {source}\n", 1)


def _final_check(proc: Any, chain: ThreadDevchain, source: str = "poll") -> str:
    truth = chain.stop_generator()
    assert truth["transactions"]["success"] > 100, "the simulator produced too little to prove anything"
    newest, history = _newest_slot(chain), []
    wait_until(lambda: _settled(proc, newest, history), timeout=40, interval=1.0, what="exporter catching up")
    text = proc.metrics()
    expected = expected_totals(truth)
    if source == "logs":
        expected.pop("fees")
    problems = diff_totals(expected, observed_totals(text))
    assert not problems, "totals differ from the simulator's ground truth:\n" + "\n".join(problems)
    # Every transaction happened within the last day: the 24h block-time window holds them all.
    events = {k: v for k, v in expected_totals(truth).items() if k.startswith(("events/", "amount/"))}
    problems = diff_totals(events, observed_windows(text, "24h"))
    assert not problems, "24h block-time windows differ from the ground truth:\n" + "\n".join(problems)
    assert sample(text, "escrow_exporter_collector_up", collector=f"ingest:{PROGRAM}") == 1
    return text


def _run_with_kills(
    tmp_path: Path, chain: ThreadDevchain, kills: int, seed: int, source: str = "poll"
) -> None:
    rng = random.Random(seed)
    config = write_config(
        tmp_path / "config.yml",
        [("a", chain.node("a"))],
        tmp_path / "state.sqlite",
        # Small batches: many commits, so kills land between, inside and around them.
        _program(source, interval=0.2, batch_size=7),
    )
    for i in range(kills):
        proc = start_exporter(config, tmp_path / f"exporter-{i}.log")
        proc.wait_up()
        time.sleep(rng.uniform(0.3, 2.0))
        proc.kill()
    proc = start_exporter(config, tmp_path / "exporter-final.log")
    try:
        proc.wait_up()
        _final_check(proc, chain, source)
    finally:
        proc.stop()


def test_totals_exact_after_repeated_sigkill(tmp_path: Path, chain: ThreadDevchain) -> None:
    _run_with_kills(tmp_path, chain, kills=5, seed=1)


@pytest.mark.drill
@pytest.mark.parametrize("source", ["poll", "logs"])
def test_totals_exact_after_many_sigkills(tmp_path: Path, chain: ThreadDevchain, source: str) -> None:
    _run_with_kills(tmp_path, chain, kills=40, seed=2, source=source)


def _run_with_failovers(
    tmp_path: Path, chain: ThreadDevchain, rounds: int, kill_every: int, source: str = "poll"
) -> None:
    config = write_config(
        tmp_path / "config.yml",
        [("a", chain.node("a")), ("b", chain.node("b"))],
        tmp_path / "state.sqlite",
        _program(source, interval=0.2, batch_size=10),
        solana_extra="  health_interval_seconds: 0.3\n  failback_after_seconds: 0.5\n  failover_after_errors: 1\n",
    )
    faults: list[dict[str, Any]] = [
        {"down": True},
        {"rate_limit": True},
        {"stale_slot": True},
        {"slow_ms": 300},
    ]
    proc = start_exporter(config, tmp_path / "exporter-0.log")
    try:
        proc.wait_up()
        for r in range(rounds):
            node = ("a", "b")[r % 2]
            chain.fault(node, **faults[r % len(faults)])
            time.sleep(1.2)
            chain.clear_faults()
            time.sleep(0.3)
            if kill_every and r % kill_every == kill_every - 1:
                proc.kill()
                proc = start_exporter(config, tmp_path / f"exporter-{r + 1}.log")
                proc.wait_up()
        text = _final_check(proc, chain, source)
        # The faults must really have moved ingestion between the two nodes.
        assert (sample(text, "escrow_rpc_failovers_total") or 0) >= 1, "no failover happened"
    finally:
        proc.stop()


def test_totals_exact_across_failovers(tmp_path: Path, chain: ThreadDevchain) -> None:
    _run_with_failovers(tmp_path, chain, rounds=6, kill_every=0)


@pytest.mark.drill
@pytest.mark.parametrize("source", ["poll", "logs"])
def test_totals_exact_across_failovers_and_kills(tmp_path: Path, chain: ThreadDevchain, source: str) -> None:
    _run_with_failovers(tmp_path, chain, rounds=30, kill_every=4, source=source)
