"""The last N keys seen, in memory fixed at start: to drop duplicated notifications.

An ``OrderedDict`` of the last 10,000 signatures costs ~2.4 MiB once full (an 88-character
string and a hash entry each) and grows for as long as it takes to fill: at 5 tx/s the first
half hour of every start, which reads as a leak on a soak. Here each key is an 8-byte digest
in a preallocated open-addressing table (linear probing, deletion by backward shift, so no
tombstones) and a ring that remembers the order to forget in: 336 KiB for 10,000 keys, all of
it allocated up front.

Two different signatures share a 64-bit digest with odds of about 1 in 10**15 per lookup; a
notification dropped that way is still counted, from the signatures listing that fills every
gap the push source leaves. The digest is keyed with a secret drawn at start, so nobody can
grind signatures that collide with the ones held.
"""

from __future__ import annotations

import hashlib
import os
from array import array

_EMPTY = 0
_SECRET = os.urandom(16)


def _digest(key: str) -> int:
    d = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8, key=_SECRET).digest(), "little")
    return d or 1  # 0 marks an empty slot


class RecentKeys:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        size = 1
        while size < capacity * 3:  # load at most 1/3: short probe runs
            size *= 2
        self._mask = size - 1
        self._table = array("Q", [_EMPTY]) * size
        self._order = array("Q", [_EMPTY]) * capacity
        self._next = 0  # slot of _order written next (the oldest key once full)
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __contains__(self, key: str) -> bool:
        return self._find(_digest(key)) is not None

    def add(self, key: str) -> bool:
        """Remember ``key``; False if it was already among the last ``capacity`` keys."""
        d = _digest(key)
        if self._find(d) is not None:
            return False
        if self._count == self.capacity:
            self._remove(self._order[self._next])
        else:
            self._count += 1
        self._order[self._next] = d
        self._next = (self._next + 1) % self.capacity
        i = d & self._mask
        while self._table[i] != _EMPTY:
            i = (i + 1) & self._mask
        self._table[i] = d
        return True

    def _find(self, d: int) -> int | None:
        i = d & self._mask
        while (held := self._table[i]) != _EMPTY:
            if held == d:
                return i
            i = (i + 1) & self._mask
        return None

    def _remove(self, d: int) -> None:
        i = self._find(d)
        if i is None:
            return
        # Backward-shift deletion: move later entries of the probe run into the hole when their
        # home slot does not lie cyclically in (hole, their slot].
        j = i
        while True:
            j = (j + 1) & self._mask
            held = self._table[j]
            if held == _EMPTY:
                break
            home = held & self._mask
            if (j > i and (home <= i or home > j)) or (j < i and home <= i and home > j):
                self._table[i] = held
                i = j
        self._table[i] = _EMPTY
