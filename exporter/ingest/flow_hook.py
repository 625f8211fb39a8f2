"""What the ingester tells an observer of its batches (the reconciliation's events view,
``exporter.reconcile.flows.FlowTracker``). A protocol here, so that ingestion does not depend on
the reconciliation package that reads it."""

from __future__ import annotations

from typing import Protocol

from exporter.anchor import DecodedEvent
from exporter.ingest.state import Cursor
from exporter.ingest.totals import Delta, Totals


class FlowHook(Protocol):
    def bind(self, totals: Totals, cursor: Cursor | None) -> None:
        """Start of a cycle: the program's committed totals and cursor."""

    def begin_batch(self) -> None:
        """A batch of transactions starts (nothing of it is committed yet)."""

    def on_transaction(self, slot: int, events: list[DecodedEvent], delta: Delta) -> None:
        """One counted transaction of the batch; the hook may add its own increments to ``delta``,
        which is committed with the cursor."""

    def committed(self) -> None:
        """The batch was committed."""

    def abandoned(self) -> None:
        """The batch was not committed."""

    def cycle_caught_up(self, started_at: float) -> None:
        """A cycle that started at wall time ``started_at`` ended with nothing left to ingest."""
