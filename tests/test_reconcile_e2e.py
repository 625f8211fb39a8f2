"""Exact reconciliation end to end, compressed: the busy profile (60 tx/s, ledger writes 0-5 s
late) gives zero mismatches, and each fault is found within two reconciliations after it, with
the exact amount in raw units and the right view pair, on the exporter's metrics.

The 30-minute version is the ``drill`` in tests/test_drills_long.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.exporter_proc import sample, wait_until
from tests.support.reconcile_drill import (
    USDC,
    Busy,
    busy_platform,
    check_every_fault,
    check_quiet,
    mismatches,
)


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Busy]:
    with busy_platform(tmp_path_factory.mktemp("reconcile")) as b:
        yield b


def test_busy_platform_reconciles_exactly_with_zero_mismatches(busy: Busy) -> None:
    check_quiet(busy)


def test_a_planned_fee_sweep_is_accounted_for_by_its_event(busy: Busy) -> None:
    """The operator empties the fee wallet with the program's ``sweep_fees`` (event ``FeesSwept``,
    flow debiting ``fee``): the chain-vs-events view stays exact, where an unexplained drain of
    the same amount would be a mismatch."""
    swept = busy.chain.action("sweep_fees", account="fee_usdc")["swept"]
    assert swept > 0
    start = busy.runs("chain_events")
    wait_until(lambda: busy.runs("chain_events") >= start + 3, timeout=120, what="three reconciliations")
    assert busy.drift("fee_usdc", USDC, "chain_events") == 0
    assert mismatches(busy) == []
    assert sample(busy.metrics(), "escrow_events_total", event="FeesSwept") == 1


def test_each_fault_is_found_within_two_reconciliations_with_its_exact_amount(busy: Busy) -> None:
    check_every_fault(busy)


