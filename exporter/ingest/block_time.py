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

from collections import defaultdict
from collections.abc import Mapping

from exporter.ingest.state import CounterKey, MinuteKey

#: The windows served, in minutes, by their ``window`` label.
WINDOWS: dict[str, int] = {"1h": 60, "24h": 24 * 60}
#: Minutes of buckets kept: the longest window and a margin for clocks a little apart.
RETAIN_MINUTES = max(WINDOWS.values()) + 60


def minute_of(block_time: int) -> int:
    return block_time // 60


def oldest_kept(now: float) -> int:
    """The oldest minute still kept at wall time ``now``; older buckets are pruned."""
    return int(now // 60) - RETAIN_MINUTES


def window_start(now: float, minutes: int) -> int:
    """The oldest minute inside a trailing window of ``minutes`` ending at ``now``: the current
    (partial) minute and the ``minutes - 1`` before it."""
    return int(now // 60) - minutes + 1


class MinuteBuckets:
    """One program's committed per-minute values (exact integers, raw units for amounts)."""

    def __init__(self, values: Mapping[MinuteKey, int] | None = None) -> None:
        self.values: dict[MinuteKey, int] = dict(values or {})

    def after(self, increments: Mapping[MinuteKey, int]) -> dict[MinuteKey, int]:
        """The new values of the buckets ``increments`` touch (what the state file must store)."""
        return {k: self.values.get(k, 0) + v for k, v in increments.items()}

    def expired(self, now: float) -> list[MinuteKey]:
        oldest = oldest_kept(now)
        return [k for k in self.values if k[0] < oldest]

    def apply(self, new_values: Mapping[MinuteKey, int], removed: list[MinuteKey]) -> None:
        for k in removed:
            self.values.pop(k, None)
        self.values.update(new_values)  # a bucket written in the commit that expired it is kept

    def windows(self, now: float) -> dict[str, dict[CounterKey, int]]:
        """Per window label, the sum per counter key over that trailing window; every key with a
        bucket is present (0 once its events left the window). One pass over the buckets."""
        starts = {label: window_start(now, minutes) for label, minutes in WINDOWS.items()}
        sums: dict[str, dict[CounterKey, int]] = {label: defaultdict(int) for label in WINDOWS}
        for (minute, ckey), v in self.values.items():
            for label, start in starts.items():
                sums[label][ckey] += v if minute >= start else 0
        return sums
