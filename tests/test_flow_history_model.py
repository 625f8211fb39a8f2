"""The reconciliation's slot history against the bounded ``OrderedDict`` it replaced, with flow
values at the int64 bounds (``-2**63`` marks "no value" in a column), keys that appear late or
drop out, and entries beyond int64 overwritten by ones that fit (and the reverse)."""

from __future__ import annotations

from collections import OrderedDict

from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.reconcile.flows import FlowHistory, Flows

CAPACITY = 5
KEYS = [("fee", "USDC"), ("escrow|treasury", "SOL"), ("escrow", "USDC")]
I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1
_VALUES = st.one_of(
    st.integers(-10, 10), st.sampled_from([I64_MIN, I64_MIN + 1, I64_MAX, I64_MAX + 1, -(1 << 64), 0])
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 3), st.dictionaries(st.sampled_from(KEYS), _VALUES), st.integers(0, 40)),
        max_size=30,
    )
)
def test_agrees_with_a_bounded_ordered_dict(entries: list[tuple[int, Flows, int]]) -> None:
    history, model = FlowHistory(CAPACITY), OrderedDict[int, Flows]()
    slot = 100
    for step, flows, back in entries:
        slot += step  # the tracker appends slot boundaries in ascending order
        history.append(slot, flows)
        model[slot] = dict(flows)
        if len(model) > CAPACITY:
            model.popitem(last=False)
        assert len(history) == len(model)
        for asked in (slot, slot - back, 0):
            best = max((s for s in model if s <= asked), default=None)
            assert history.at_or_before(asked) == (None if best is None else model[best])
