"""Event counts and amounts per minute of block time, for rates that catch-up cannot spike.

``escrow_events_total`` grows when the exporter *ingests* a transaction: after a stall, a
restart or a first deployment's backfill, hours of withdrawals arrive at once and any
``increase()`` over it looks like a spike. Here every counted event (and mapped amount) is
also added to the bucket of the minute its transaction happened on chain (``blockTime``), and
the window gauges sum the buckets of the trailing window ending *now* (wall clock):

* a catch-up or backfill fills the minutes the events happened in, so the window holds what
  happened on chain in the last hour, however late it was ingested; events older than the
  window never enter it;
* during a stall the window under-counts (what was not ingested yet is missing) and decays
  towards 0 instead of freezing: a spike followed by silence on chain resolves, and nothing
  ever spikes from a stall. The stall itself is what ``EscrowIngestLag`` reports, and the
  rules keep under-counted samples out of the spike baselines (docs/alerts.md);
* buckets are committed in the state file with the cursor and the totals, so a restart
  restores the window exactly.

A transaction without a ``blockTime`` (very old blocks, a node that lacks it) is put at the
block time of the newest transaction ingested before it: slots ascend, so it happened no
earlier. With no earlier block time known at all it is left out of the windows (it still
counts in the totals).

Buckets older than the longest window are pruned in the same transaction as new ones are
written; events whose block time is already older than that are never bucketed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from exporter.ingest.minute_rows import MinuteRows

if TYPE_CHECKING:  # state.py keeps its buckets in minute_rows() too
    from exporter.ingest.state import CounterKey, MinuteKey

#: The windows served, in minutes, by their ``window`` label.
WINDOWS: dict[str, int] = {"1h": 60, "24h": 24 * 60}
#: Minutes of buckets kept: the longest window and a margin for clocks a little apart.
RETAIN_MINUTES = max(WINDOWS.values()) + 60
#: Ring slots per counter key: what is kept, and two hours of block times ahead of the clock
#: (further ahead still counts, in the rows' overflow dict).
RING_MINUTES = RETAIN_MINUTES + 120


def minute_of(block_time: int) -> int:
    return block_time // 60


def oldest_kept(now: float) -> int:
    """The oldest minute still kept at wall time ``now``; older buckets are pruned."""
    return int(now // 60) - RETAIN_MINUTES


def window_start(now: float, minutes: int) -> int:
    """The oldest minute inside a trailing window of ``minutes`` ending at ``now``: the current
    (partial) minute and the ``minutes - 1`` before it."""
    return int(now // 60) - minutes + 1


def minute_rows() -> MinuteRows[Any]:
    """Rows sized for the buckets kept (the ingester's by counter key, the store's by stored key)."""
    return MinuteRows(RING_MINUTES)


class MinuteBuckets:
    """One program's committed per-minute values (exact integers, raw units for amounts)."""

    def __init__(self, values: MinuteRows[CounterKey] | Mapping[MinuteKey, int] | None = None) -> None:
        if isinstance(values, MinuteRows):
            self.rows = values
        else:
            self.rows = minute_rows()
            for (minute, ckey), v in (values or {}).items():
                self.rows.set(minute, ckey, v)

    def __len__(self) -> int:
        return len(self.rows)

    def get(self, key: MinuteKey) -> int | None:
        return self.rows.get(*key)

    def after(self, increments: Mapping[MinuteKey, int]) -> dict[MinuteKey, int]:
        """The new values of the buckets ``increments`` touch (what the state file must store)."""
        return {k: (self.rows.get(*k) or 0) + v for k, v in increments.items()}

    def expired(self, now: float) -> list[MinuteKey]:
        return self.rows.older_than(oldest_kept(now))

    def apply(self, new_values: Mapping[MinuteKey, int], removed: Iterable[MinuteKey], now: float) -> None:
        for minute, ckey in removed:
            self.rows.pop(minute, ckey)
        self.rows.expired_through(oldest_kept(now))
        for (minute, ckey), v in new_values.items():  # a bucket written in the commit that expired it is kept
            self.rows.set(minute, ckey, v)

    def windows(self, now: float) -> dict[str, dict[CounterKey, int]]:
        """Per window label, the sum per counter key over that trailing window; every key with a
        bucket is present (0 once its events left the window), so a restart serves the same series."""
        return self.rows.sums_since({label: window_start(now, minutes) for label, minutes in WINDOWS.items()})
