"""Hostile-node drill (issue 11): the preferred endpoint cycles through every way a node can lie
or break its client while a healthy backup exists. Each time the exporter fails over, and at the
end the totals equal the simulator's ground truth. The quick version runs in ``make test``; the
long one (``tests/test_drills_long.py``) holds each behaviour for longer, several rounds.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.exporter_proc import ExporterProcess, sample, wait_until
from tests.test_drills import (
    INGEST,
    CountingDevchain,
    assert_exact,
    chain,  # noqa: F401 - the fixture
    drill_config,
    scrape,
    settle,
    start,
    wait_collectors_up,
)

pytestmark = pytest.mark.slow

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


def drill_hostile_node(tmp: Path, chain: CountingDevchain, hold: float, rounds: int = 1) -> None:  # noqa: F811
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
                wait_until(
                    lambda b=before: (
                        (t := scrape(proc)) is not None and active(t) == "b" and failovers(t) > b
                    ),
                    timeout=30,
                    what=f"failover to b under {flags}",
                )
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


def test_hostile_preferred_node_fails_over_each_time_and_totals_stay_exact(
    tmp_path: Path,
    chain: CountingDevchain,  # noqa: F811
) -> None:
    drill_hostile_node(tmp_path, chain, hold=1.0)
