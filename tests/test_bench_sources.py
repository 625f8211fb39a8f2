"""``bench.sources`` (poll vs logs under per-call metering) on a tiny input, so the bench does not
rot between ``make bench`` runs. A drill (``make drills``): its simulators and live ingestion take
~20 s, more than a ``make test`` smoke may cost (tests/test_bench_smoke.py covers the others).

No timing is asserted; what is checked holds at any rate: calls are counted at the simulator,
polling bills a getTransaction per transaction and the logs source does not, every produced
transaction is counted, and the rows say how the provider meters.
"""

from __future__ import annotations

import pytest

from bench.report import markdown
from bench.run import collect

pytestmark = pytest.mark.drill


def test_sources_bench_smoke_counts_billed_calls_at_the_simulator() -> None:
    rows, raw, skipped = collect(["sources"], smoke=True)
    assert skipped == {}, skipped
    poll, logs = raw["sources"]["mixed"]["poll"], raw["sources"]["mixed"]["logs"]
    for side in (poll, logs):
        assert side["drained"] and side["counted"] == side["produced"] > 0, side
        assert side["billed_calls"].get("getSignaturesForAddress", 0) >= 1, side
        assert side["latency"]["samples"] == side["counted"], side  # every one observed once
    assert poll["billed_calls"]["getTransaction"] >= poll["counted"]
    # the logs source fetches only what its logs cannot serve (emit_cpi!, gap fills)
    fetched = sum(logs["push"]["full_fetches"].values()) + logs["push"]["gap_fills"]
    assert logs["billed_calls"].get("getTransaction", 0) <= fetched + 2, logs
    assert logs["billed_calls_per_transaction"] < poll["billed_calls_per_transaction"]
    assert raw["sources"]["simulator_ceiling_tps"] > 0
    figures = {r.figure: r for r in rows}
    billed = figures["billed calls per ingested transaction, log-emitted events, logs vs poll"]
    assert "metered per call" in billed.note and "goal <= 0.02" in billed.note
    assert "| sources |" in markdown(rows, skipped, 1.0)
