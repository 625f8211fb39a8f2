"""The reconciliation's slot history answers exactly as the bounded dict it replaces."""

from __future__ import annotations

import random
from collections import OrderedDict

from exporter.reconcile.flows import FlowHistory, Flows


def test_agrees_with_the_last_n_entries_of_an_ordered_dict() -> None:
    rng = random.Random(5)
    history, model = FlowHistory(30), OrderedDict[int, Flows]()
    keys = [("fee", "USDC"), ("escrow|treasury", "SOL"), ("escrow", "USDC")]
    slot, running = 100, {keys[0]: 0}
    for _ in range(500):
        slot += rng.randrange(1, 4)
        key = rng.choice(keys)
        running[key] = running.get(key, 0) + rng.choice([-5, 7, 1 << 64, -(1 << 65)])
        history.append(slot, dict(running))
        model[slot] = dict(running)
        if len(model) > 30:
            model.popitem(last=False)
        asked = slot - rng.randrange(0, 100)
        best = max((s for s in model if s <= asked), default=None)
        got = history.at_or_before(asked)
        if best is None:
            assert got is None
        else:
            assert got is not None
            assert got == model[best]
