"""Hostile or broken RPC nodes (issue 11), driven in-process against the simulator's faults:
totals stay equal to the ground truth and a bad node is failed over, never trusted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_ingest_cycles import ingest
from tests.test_ingest_support import (
    ThreadDevchain,
    diff_totals,
    expected_totals,
    observed_totals,
    program_yaml,
    write_config,
)


@pytest.fixture(scope="module")
def chain() -> Iterator[ThreadDevchain]:
    """A simulator with a fixed history (generator stopped after ~250 transactions)."""
    dc = ThreadDevchain(seed=11, tps=0)
    dc.loop.call_soon_threadsafe(dc.chain.step, 250)
    dc.truth = dc.stop_generator()  # type: ignore[attr-defined]
    yield dc
    dc.close()


@pytest.fixture(autouse=True)
def no_faults(chain: ThreadDevchain) -> Iterator[None]:
    chain.clear_faults()
    yield
    chain.clear_faults()


def truth(chain: ThreadDevchain) -> dict[str, Any]:
    return chain.truth  # type: ignore[attr-defined,no-any-return]


# -- 1. a signature listed twice is counted once ------------------------------------------------------


@pytest.mark.parametrize("page_size", [7, 1000])
async def test_repeated_signatures_are_counted_once(
    tmp_path: Path, chain: ThreadDevchain, page_size: int
) -> None:
    """The only node repeats signatures within a page and across pages (pages of 7 cross many)."""
    chain.fault("a", duplicate_signatures=True)
    cfg = write_config(
        tmp_path / "c.yml",
        [("a", chain.node("a"))],
        tmp_path / "s.sqlite",
        program_yaml(page_size=page_size, batch_size=16, accounts=False),
    )
    _, text = await ingest(cfg, cycles=2)
    problems = diff_totals(expected_totals(truth(chain)), observed_totals(text))
    assert not problems, "\n".join(problems)
