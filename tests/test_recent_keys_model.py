"""The duplicate filter's open-addressing table under its worst cases: every key hashing to a
few home slots at the end of the table (probe runs that wrap around to its start), removals
from the middle of such runs (backward shift), and digests that are 0 or equal."""

from __future__ import annotations

from collections import OrderedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.ingest import recent_keys
from exporter.ingest.recent_keys import RecentKeys

CAPACITY = 6  # a table of 32 slots


def _clustered(key: str) -> int:
    """Key "h:n" gets home slot h (of 32) and a digest unique to n."""
    home, n = (int(part) for part in key.split(":"))
    return ((n + 1) << 5) | home


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([30, 31, 0, 1, 5]), st.integers(0, 12)), max_size=120))
def test_clustered_digests_agree_with_an_ordered_dict(keys: list[tuple[int, int]]) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(recent_keys, "_digest", _clustered)
        recent, model = RecentKeys(CAPACITY), OrderedDict[str, None]()
        universe = {f"{h}:{n}" for h, n in keys}
        for home, n in keys:
            key = f"{home}:{n}"
            fresh = key not in model
            assert recent.add(key) is fresh
            if fresh:
                model[key] = None
                if len(model) > CAPACITY:
                    model.popitem(last=False)
            assert len(recent) == len(model)
            assert sum(1 for d in recent._table if d) == len(model)  # nothing left behind
            assert {k for k in universe if k in recent} == set(model)


def test_equal_digests_count_as_one_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two signatures sharing a digest: the second is taken for a duplicate (the listing still
    counts it), and the table never holds a digest twice."""
    monkeypatch.setattr(recent_keys, "_digest", lambda key: 7)
    recent = RecentKeys(3)
    assert recent.add("a") and not recent.add("b") and len(recent) == 1
