"""Hostile-node drill (issue 11): the preferred endpoint cycles through every way a node can lie
or break its client while a healthy backup exists. Each time the exporter fails over, and at the
end the totals equal the simulator's ground truth. The quick version runs in ``make test``; the
long one (``tests/test_drills_long.py``) holds each behaviour for longer, several rounds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.drills import (
    CountingDevchain,
    chain,  # noqa: F401 - the fixture
    drill_hostile_node,
)

pytestmark = pytest.mark.slow


def test_hostile_preferred_node_fails_over_each_time_and_totals_stay_exact(
    tmp_path: Path,
    chain: CountingDevchain,  # noqa: F811
) -> None:
    drill_hostile_node(tmp_path, chain, hold=1.0)
