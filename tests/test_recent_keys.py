"""The duplicate filter of the logs source remembers exactly the last N signatures."""

from __future__ import annotations

import random
from collections import OrderedDict

from solders.signature import Signature

from exporter.ingest.recent_keys import RecentKeys


def test_agrees_with_an_ordered_dict_of_the_last_n() -> None:
    rng = random.Random(3)
    keys = [str(Signature(rng.randbytes(64))) for _ in range(400)]
    recent, model = RecentKeys(50), OrderedDict[str, None]()
    for _ in range(20_000):
        key = rng.choice(keys)
        fresh = key not in model
        assert recent.add(key) is fresh
        if fresh:
            model[key] = None
            if len(model) > 50:
                model.popitem(last=False)
        assert len(recent) == len(model)
    assert all(k in recent for k in model)
    assert not any(k in recent for k in keys if k not in model)
