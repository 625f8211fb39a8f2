"""The block-time buckets' fixed-size rows hold exactly what a dict would, in every corner."""

from __future__ import annotations

import random

from exporter.ingest.block_time import RETAIN_MINUTES, RING_MINUTES, MinuteBuckets, oldest_kept
from exporter.ingest.minute_rows import MinuteRows

KEY = ("events", (("event", "WithdrawalProcessed"),))
OTHER = ("events", (("event", "MatchSettled"),))


def test_random_operations_agree_with_a_dict() -> None:
    """Sets, pops and expiries in random order, values beyond int64 and minutes whose ring slot
    is taken (a block time far ahead of the clock) included."""
    rng = random.Random(7)
    rows: MinuteRows[str] = MinuteRows(16)
    model: dict[tuple[int, str], int] = {}
    for step in range(3000):
        minute, key = rng.randrange(0, 80), rng.choice("abc")
        op = rng.random()
        if op < 0.6:
            value = rng.choice([rng.randrange(1000), 1 << 63, (1 << 70) + step])
            rows.set(minute, key, value)
            model[(minute, key)] = value
        elif op < 0.8:
            rows.pop(minute, key)
            model.pop((minute, key), None)
        else:
            oldest = rng.randrange(0, 80)
            assert sorted(rows.older_than(oldest)) == sorted(k for k in model if k[0] < oldest)
        assert rows.get(minute, key) == model.get((minute, key))
        assert rows.as_dict() == model and len(rows) == len(model)
    starts = {"a": 10, "b": 50}
    sums = rows.sums_since(starts)
    for label, start in starts.items():
        for key in "abc":
            expected = sum(v for (m, k), v in model.items() if k == key and m >= start)
            assert sums[label].get(key, 0) == expected


def test_a_day_of_buckets_allocates_nothing_after_the_first_minute() -> None:
    now = 1_800_000_000.0
    buckets = MinuteBuckets()
    capacity = None
    for minute in range(int(now // 60) - RETAIN_MINUTES, int(now // 60) + 1):
        buckets.apply({(minute, KEY): 3, (minute, OTHER): 1}, [], now)
        capacity = capacity or buckets.rows.capacity
    assert buckets.rows.capacity == capacity == 2 * RING_MINUTES
    assert not buckets.rows.overflow
    windows = buckets.windows(now)
    assert windows["1h"] == {KEY: 180, OTHER: 60}
    assert windows["24h"] == {KEY: 3 * 24 * 60, OTHER: 24 * 60}


def test_expiry_finds_buckets_of_a_file_left_for_days() -> None:
    """After a long stop the rows loaded are older than a whole ring: expiry still finds them all."""
    now = 1_800_000_000.0
    long_ago = int(now // 60) - 5 * RING_MINUTES
    buckets = MinuteBuckets({(long_ago, KEY): 1, (long_ago + 7, OTHER): 2, (int(now // 60), KEY): 5})
    expired = buckets.expired(now)
    assert sorted(expired) == sorted([(long_ago, KEY), (long_ago + 7, OTHER)])
    buckets.apply({}, expired, now)
    assert buckets.rows.as_dict() == {(int(now // 60), KEY): 5}
    assert buckets.expired(now + 60) == [] and oldest_kept(now) > long_ago
