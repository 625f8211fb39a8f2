"""Per-minute integer values of many series, in fixed-size int64 rings instead of a dict.

The block-time buckets (``exporter.ingest.block_time``) keep 25 hours of minutes for every
counter key, and both the ingester (to sum its windows) and the state store (to update the
seal from the old value of a bucket) hold them. As a dict of ``(minute, key) -> int`` that is
a tuple, two ints and a hash slot per bucket: ~200 bytes, so ~24 MiB for a program with forty
keys after a day, growing for the whole first day after every start. Here each series gets
two preallocated ``array('q')`` of ``RING`` slots (minute, value): 16 bytes per bucket, all of
it allocated when the series first appears, so memory stays flat while the day fills.

Exact like the dict it replaces: a value outside int64 (a minute's amount of a token with a
huge raw supply) or a minute whose ring slot is held by another minute (a block time more
than ``RING - RETAIN`` minutes ahead of the clock, or a minute outside int64 or equal to the
empty-slot mark ``-2**63``) goes to a small ``overflow`` dict instead.
"""

from __future__ import annotations

from array import array
from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

_EMPTY = -(1 << 63)  # marks an empty slot: a bucket of this very minute goes to the overflow
_MIN, _MAX = -(1 << 63), (1 << 63) - 1


class _Ring:
    __slots__ = ("held", "minutes", "values")

    def __init__(self, size: int) -> None:
        self.minutes = array("q", [_EMPTY]) * size
        self.values = array("q", [0]) * size
        #: Slots holding a minute: a key with none is left out of the sums, as the dict left it.
        self.held = 0


class MinuteRows(Generic[K]):
    """``(minute, series key) -> int`` with the interface of the few dict operations used."""

    def __init__(self, ring: int) -> None:
        self.ring = ring
        self._rings: dict[K, _Ring] = {}
        self.overflow: dict[tuple[int, K], int] = {}
        self._count = 0
        #: No minute older than this is held (a bound, not exact), so expiry scans few slots.
        self._low: int | None = None

    def __len__(self) -> int:
        return self._count + len(self.overflow)

    @property
    def capacity(self) -> int:
        """Ring slots allocated (for the bounded-structure self-metrics)."""
        return self.ring * len(self._rings)

    def get(self, minute: int, key: K) -> int | None:
        r = self._rings.get(key)
        if r is not None and minute != _EMPTY and r.minutes[minute % self.ring] == minute:
            return r.values[minute % self.ring]
        return self.overflow.get((minute, key))

    def set(self, minute: int, key: K, value: int) -> None:
        r = self._rings.get(key)
        if r is None:
            r = self._rings[key] = _Ring(self.ring)
        i = minute % self.ring
        held = r.minutes[i]
        if _MIN <= value <= _MAX and _EMPTY < minute <= _MAX and held in (_EMPTY, minute):
            if held == _EMPTY:
                self._count += 1
                r.held += 1
            r.minutes[i], r.values[i] = minute, value
        else:
            if held == minute != _EMPTY:  # it was in the ring; now it does not fit there
                r.minutes[i], r.values[i] = _EMPTY, 0
                self._count -= 1
                r.held -= 1
            self.overflow[(minute, key)] = value
            return
        self.overflow.pop((minute, key), None)  # it was too big before and fits now
        if self._low is None or minute < self._low:
            self._low = minute

    def pop(self, minute: int, key: K) -> None:
        r = self._rings.get(key)
        i = minute % self.ring
        if r is not None and minute != _EMPTY and r.minutes[i] == minute:
            r.minutes[i], r.values[i] = _EMPTY, 0
            self._count -= 1
            r.held -= 1
        self.overflow.pop((minute, key), None)

    def items(self) -> Iterator[tuple[tuple[int, K], int]]:
        for key, r in self._rings.items():
            for m, v in zip(r.minutes, r.values, strict=True):
                if m != _EMPTY:
                    yield (m, key), v
        yield from self.overflow.items()

    def as_dict(self) -> dict[tuple[int, K], int]:
        return dict(self.items())

    def __eq__(self, other: object) -> bool:  # same rows, wherever each is held
        return self.as_dict() == other.as_dict() if isinstance(other, MinuteRows) else NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable

    def older_than(self, oldest: int) -> list[tuple[int, K]]:
        """Every held ``(minute, key)`` with minute < ``oldest``; scans only the slots of the
        minutes between the lowest ever held since the last call and ``oldest``."""
        found = [mk for mk in self.overflow if mk[0] < oldest]
        low = self._low
        if low is None or low >= oldest:
            return found
        if oldest - low >= self.ring:  # e.g. rows of a file left for days: look at every slot
            for key, r in self._rings.items():
                found.extend((m, key) for m in r.minutes if m != _EMPTY and m < oldest)
            return found
        for minute in range(low, oldest):
            i = minute % self.ring
            found.extend((minute, key) for key, r in self._rings.items() if r.minutes[i] == minute)
        return found

    def expired_through(self, oldest: int) -> None:
        """The caller removed what ``older_than(oldest)`` returned: expiry can start there next."""
        if self._low is not None and self._low < oldest:
            self._low = oldest

    def sums_since(self, starts: dict[str, int]) -> dict[str, dict[K, int]]:
        """Per label, per key, the sum of the values of minutes >= that label's start; every key
        holding a minute is present (0 if none is that recent), no other: like a dict's keys."""
        out: dict[str, dict[K, int]] = {label: {} for label in starts}
        for key, r in self._rings.items():
            if not r.held:  # its minutes all expired: the dict no longer had the key
                continue
            for label, start in starts.items():
                out[label][key] = sum(v for m, v in zip(r.minutes, r.values, strict=True) if m >= start)
        for (minute, key), v in self.overflow.items():
            for label, start in starts.items():
                out[label][key] = out[label].get(key, 0) + (v if minute >= start else 0)
        return out
