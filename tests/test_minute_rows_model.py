"""The block-time buckets in rings answer exactly as the dict-based ``MinuteBuckets`` they
replaced (kept below as the model), through ingester-like commits: a clock that jumps forward
and back, block times far in the past and future, minutes and values at the int64 bounds."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.ingest.block_time import RING_MINUTES, WINDOWS, MinuteBuckets, oldest_kept, window_start
from exporter.ingest.minute_rows import MinuteRows

Key = tuple[str, tuple[tuple[str, str], ...]]
KEYS: list[Key] = [("events", (("event", e),)) for e in ("A", "B", "C")]
I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1


class DictBuckets:
    """What ``exporter.ingest.block_time.MinuteBuckets`` was before the rings (commit 5d2d554)."""

    def __init__(self) -> None:
        self.values: dict[tuple[int, Key], int] = {}

    def after(self, increments: Mapping[tuple[int, Key], int]) -> dict[tuple[int, Key], int]:
        return {k: self.values.get(k, 0) + v for k, v in increments.items()}

    def expired(self, now: float) -> list[tuple[int, Key]]:
        oldest = oldest_kept(now)
        return [k for k in self.values if k[0] < oldest]

    def apply(self, new_values: Mapping[tuple[int, Key], int], removed: list[tuple[int, Key]]) -> None:
        for k in removed:
            self.values.pop(k, None)
        self.values.update(new_values)

    def windows(self, now: float) -> dict[str, dict[Key, int]]:
        starts = {label: window_start(now, minutes) for label, minutes in WINDOWS.items()}
        sums: dict[str, dict[Key, int]] = {label: defaultdict(int) for label in WINDOWS}
        for (minute, ckey), v in self.values.items():
            for label, start in starts.items():
                sums[label][ckey] += v if minute >= start else 0
        return {label: dict(s) for label, s in sums.items()}


# Offsets from the clock's minute: inside the day, just past the ring's future margin (a slot
# taken by a kept minute), whole rings away, and far away.
_OFFSETS = st.one_of(
    st.integers(-RING_MINUTES - 5, 200),
    st.sampled_from([-RING_MINUTES, RING_MINUTES, 2 * RING_MINUTES, -3 * RING_MINUTES, 10**9]),
)
_VALUES = st.one_of(st.integers(1, 1000), st.sampled_from([I64_MAX, I64_MAX + 1, 1 << 70]))
_COMMIT = st.tuples(
    # clock step in seconds: mostly forward a little, sometimes days forward or back
    st.one_of(st.integers(0, 600), st.sampled_from([-7200, 3 * 86400, -3 * 86400, 30 * 86400])),
    st.lists(st.tuples(_OFFSETS, st.sampled_from(KEYS), _VALUES), max_size=6),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_COMMIT, min_size=1, max_size=25))
def test_commits_agree_with_the_dict_buckets(commits: list[tuple[int, list[tuple[int, Key, int]]]]) -> None:
    now = 1_800_000_000.0
    rings, model = MinuteBuckets(), DictBuckets()
    for step, incs in commits:
        now += step
        increments: dict[tuple[int, Key], int] = defaultdict(int)
        for offset, key, value in incs:
            increments[(int(now // 60) + offset, key)] += value
        new, expected_new = rings.after(increments), model.after(increments)
        assert new == expected_new
        expired = rings.expired(now)
        assert sorted(expired) == sorted(model.expired(now))
        rings.apply(new, expired, now)
        model.apply(expected_new, expired)
        assert rings.rows.as_dict() == model.values and len(rings) == len(model.values)
        assert rings.windows(now) == model.windows(now)


def test_a_key_whose_buckets_all_expired_leaves_the_windows_as_with_the_dict() -> None:
    """The series set is a function of the buckets held, so a restart (which loads only the
    buckets) serves the same series as the process it replaced."""
    now = 1_800_000_000.0
    buckets = MinuteBuckets()
    buckets.apply({(int(now // 60), KEYS[0]): 3}, [], now)
    assert buckets.windows(now)["24h"] == {KEYS[0]: 3}
    later = now + 2 * 86400
    buckets.apply({(int(later // 60), KEYS[1]): 1}, buckets.expired(later), later)
    assert buckets.windows(later) == {"1h": {KEYS[1]: 1}, "24h": {KEYS[1]: 1}}
    restarted = MinuteBuckets(buckets.rows.as_dict())
    assert restarted.windows(later) == buckets.windows(later)


def test_minutes_at_the_int64_bounds_are_held_exactly() -> None:
    """``-2**63`` marks an empty ring slot: a bucket of that minute (or beyond int64) is kept
    in the overflow dict, and a lookup of it never reads an empty slot."""
    rows: MinuteRows[str] = MinuteRows(16)
    model: dict[tuple[int, str], int] = {}
    assert rows.get(I64_MIN, "k") is None
    rows.set(I64_MIN + 16, "k", 5)  # the same ring slot as I64_MIN, held
    model[(I64_MIN + 16, "k")] = 5
    for minute in (I64_MIN, I64_MIN + 1, I64_MAX, I64_MAX + 1, -(1 << 80), 1 << 80):
        for value in (0, 1, I64_MIN, I64_MAX, I64_MAX + 1, -(1 << 70)):
            rows.set(minute, "k", value)
            model[(minute, "k")] = value
            assert rows.get(minute, "k") == value
            assert rows.as_dict() == model and len(rows) == len(model)
    rows.pop(I64_MIN + 16, "k")
    del model[(I64_MIN + 16, "k")]
    assert rows.get(I64_MIN, "k") == model[(I64_MIN, "k")]
    rows.pop(I64_MIN, "k")
    del model[(I64_MIN, "k")]
    rows.pop(I64_MIN, "k")  # popping what is not held changes nothing
    assert rows.get(I64_MIN, "k") is None
    assert rows.as_dict() == model and len(rows) == len(model)
    assert sorted(rows.older_than(0)) == sorted(k for k in model if k[0] < 0)
    starts = {"all": I64_MIN, "pos": 1}
    sums = rows.sums_since(starts)
    for label, start in starts.items():
        assert sums[label] == {"k": sum(v for (m, _), v in model.items() if m >= start)}
