"""What the ingester tells an observer of its batches (the reconciliation's events view,
``exporter.reconcile.flows.FlowTracker``). A protocol here, so that ingestion does not depend on
the reconciliation package that reads it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from exporter.anchor import DecodedEvent
from exporter.ingest.state import CounterKey, Cursor
from exporter.ingest.totals import Delta, Totals


class FlowHook(Protocol):
    def bind(self, totals: Totals, cursor: Cursor | None) -> None:
        """Start of a cycle: the program's committed totals and cursor."""

    def begin_batch(self) -> None:
        """A batch of transactions starts (nothing of it is committed yet)."""

    def on_transaction(self, slot: int, events: list[DecodedEvent], delta: Delta) -> None:
        """One counted transaction of the batch; the hook may add its own increments to ``delta``,
        which is committed with the cursor."""

    def deferred(self, events: list[DecodedEvent]) -> dict[CounterKey, int]:
        """The increments a transaction counted ahead of the listing (the logs source) defers
        until the listing passes it; nothing is applied now."""

    def on_pushed(self, slot: int, increments: Mapping[CounterKey, int], delta: Delta) -> None:
        """The batch passes a transaction counted ahead of the listing: its ``deferred``
        increments are added to ``delta`` at its place in slot order."""

    def committed(self) -> None:
        """The batch was committed."""

    def abandoned(self) -> None:
        """The batch was not committed."""

    def cycle_caught_up(self, started_at: float) -> None:
        """A cycle that started at wall time ``started_at`` ended with nothing left to ingest."""
