"""The events view: what the program's own events say flowed in and out, exact at a slot.

The ingester calls ``FlowTracker`` for every transaction it counts. Each configured flow (an
event amount that leaves accounts of some roles and enters others) adds to a counter of the
program's totals, ``reconcile_flow{roles, mint, direction}`` in raw units, so the cumulative flows
are committed in the same SQLite transaction as the cursor: exact and crash-safe like every other
total (they are not served as a metric; the reconciliation collector reads them).

To compare with the chain at a slot S, the flows *as of the end of S* are needed, while a batch
may span many slots. The tracker keeps a bounded history: when a transaction of a newer slot
arrives, the cumulative flows before it are the flows as of the previous slot's end. History
entries become visible only once their batch is committed.

Ingestion has processed everything through S when a transaction of a later slot was committed,
or when a cycle that *started after* S was read from the chain ended with nothing left to ingest
(a confirmed slot is complete: every one of its transactions is listed by then).

With the ``logs`` source, a transaction may be counted from its notification before the listing
reaches it, out of slot order. Its flows are not applied then: ``deferred`` computes them, the
ingester keeps them with the pushed signature in the state file, and ``on_pushed`` applies them
when the listing passes that signature, in slot order. So the flow counters and the slot history
stay driven by the listing alone, and ``at_slot`` claims only what the listing proved.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from typing import Any

from exporter.anchor import DecodedEvent
from exporter.config.programs import MintConfig, ProgramConfig, mint_decimals
from exporter.config.reconcile import FlowConfig
from exporter.ingest.state import CounterKey, Cursor
from exporter.ingest.totals import Delta, Totals

#: Key of the flow counters inside the program's totals (stable: renaming orphans saved totals).
FLOW = "reconcile_flow"
#: Slot boundaries remembered: 13 minutes at 2.5 slots/s, far more than a cycle waits (S is recent).
HISTORY_SLOTS = 2_000

#: (roles spec such as "fee|treasury", mint label) -> net raw units (in - out).
Flows = dict[tuple[str, str], int]


_EMPTY = -(1 << 63)  # no slot / no value of that key at that slot
_MIN, _MAX = _EMPTY + 1, (1 << 63) - 1


class FlowHistory:
    """Cumulative flows as of the end of each of the last ``capacity`` slots.

    An ``OrderedDict`` of 2,000 small dicts is ~1 MiB and grows for the minutes it takes to
    fill after every start; here a slot ring and one int64 column per flow key, allocated when
    the key first appears (16 KiB each). An entry with a value beyond int64 is kept as a dict.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.slots = array("q", [_EMPTY]) * capacity
        self._columns: dict[tuple[str, str], array[int]] = {}
        self._big: dict[int, Flows] = {}  # ring index -> flows that do not fit the columns
        self._next = 0
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def append(self, slot: int, flows: Flows) -> None:
        i = self._next
        self.slots[i] = slot
        self._big.pop(i, None)
        if all(_MIN <= v <= _MAX for v in flows.values()):
            for key in flows.keys() - self._columns.keys():
                self._columns[key] = array("q", [_EMPTY]) * self.capacity
            for key, column in self._columns.items():
                column[i] = flows.get(key, _EMPTY)
        else:
            self._big[i] = dict(flows)
        self._next = (i + 1) % self.capacity
        self._count = min(self._count + 1, self.capacity)

    def at_or_before(self, slot: int) -> Flows | None:
        """The flows of the newest entry at a slot <= ``slot``; None if all are newer."""
        for n in range(1, self._count + 1):
            i = (self._next - n) % self.capacity
            if self.slots[i] <= slot:
                big = self._big.get(i)
                return (
                    dict(big)
                    if big is not None
                    else {k: c[i] for k, c in self._columns.items() if c[i] != _EMPTY}
                )
        return None


def roles_spec(roles: list[str]) -> str:
    return "|".join(roles)


def net_flows(values: Mapping[tuple[str, tuple[tuple[str, str], ...]], int]) -> Flows:
    """Net flows (in - out) from the flow counters among ``values`` (a totals dict)."""
    out: Flows = {}
    for (metric, labels), v in values.items():
        if metric != FLOW:
            continue
        d = dict(labels)
        key = (d["roles"], d["mint"])
        out[key] = out.get(key, 0) + (v if d["direction"] == "in" else -v)
    return out


class FlowTracker:
    def __init__(self, program: ProgramConfig, flows: list[FlowConfig]) -> None:
        self.mints: dict[str, MintConfig] = program.mints
        self.by_event: dict[str, list[tuple[FlowConfig, str | None, str | None]]] = {}
        for f in flows:
            amount = next((a for a in program.events[f.event].amounts if a.field == f.field), None)
            assert amount is not None  # checked by the config
            self.by_event.setdefault(f.event, []).append((f, amount.mint_field, amount.mint))
        #: Slot of the newest transaction seen (committed or in the open batch).
        self.slot: int | None = None
        self.committed_slot: int | None = None
        self.history = FlowHistory(HISTORY_SLOTS)
        self._pending: list[tuple[int, Flows]] = []
        self._running: Flows = {}
        #: Start (wall time) of the newest ingestion cycle that ended with nothing left to ingest.
        self.caught_up_from: float | None = None
        self._totals: Totals | None = None
        self._slot_at_begin: int | None = None
        self.undecodable = 0

    # -- called by the ingester ---------------------------------------------------------------
    def bind(self, totals: Totals, cursor: Cursor | None) -> None:
        """Start of a cycle: the program's committed totals and cursor (restored after a restart)."""
        self._totals = totals
        if self.slot is None and cursor is not None:
            self.slot = self.committed_slot = cursor.slot

    def begin_batch(self) -> None:
        assert self._totals is not None
        self._pending = []
        self._running = net_flows(self._totals.values)
        self._slot_at_begin = self.slot

    def on_transaction(self, slot: int, events: list[DecodedEvent], delta: Delta) -> None:
        if self.slot is not None and slot > self.slot:
            self._pending.append((self.slot, dict(self._running)))
        if self.slot is None or slot > self.slot:
            self.slot = slot
        for event in events:
            for flow, mint_field, fixed_mint in self.by_event.get(event.name, ()):
                self._apply(event.data, flow, mint_field, fixed_mint, delta)

    def deferred(self, events: list[DecodedEvent]) -> dict[CounterKey, int]:
        """The flow increments of a transaction counted ahead of the listing (not applied)."""
        delta = Delta()
        for event in events:
            for flow, mint_field, fixed_mint in self.by_event.get(event.name, ()):
                self._apply(event.data, flow, mint_field, fixed_mint, delta, running=False)
        return dict(delta.inc)

    def on_pushed(self, slot: int, increments: Mapping[CounterKey, int], delta: Delta) -> None:
        """The listing passes a transaction counted ahead of it: its ``deferred`` flows apply now."""
        self.on_transaction(slot, [], delta)
        for (metric, labels), value in increments.items():
            d = dict(labels)
            delta.add(metric, value, **d)
            k = (d["roles"], d["mint"])
            self._running[k] = self._running.get(k, 0) + (value if d["direction"] == "in" else -value)

    def _apply(
        self,
        data: Any,
        flow: FlowConfig,
        mint_field: str | None,
        fixed_mint: str | None,
        delta: Delta,
        running: bool = True,
    ) -> None:
        value = data.get(flow.field) if isinstance(data, dict) else None
        mint = str(data.get(mint_field)) if mint_field and isinstance(data, dict) else fixed_mint
        resolved = mint_decimals(mint, self.mints) if mint else None
        if not isinstance(value, int) or isinstance(value, bool) or value < 0 or resolved is None:
            self.undecodable += 1  # the ingester counts it in escrow_event_decode_errors_total already
            return
        label = resolved[0]
        for roles, direction in ((flow.debit, "out"), (flow.credit, "in")):
            if not roles or value == 0:
                continue
            spec = roles_spec(roles)
            delta.add(FLOW, value, roles=spec, mint=label, direction=direction)
            if not running:
                continue
            key = (spec, label)
            self._running[key] = self._running.get(key, 0) + (value if direction == "in" else -value)

    def committed(self) -> None:
        """The batch was committed: its slot boundaries become history."""
        for slot, flows in self._pending:
            self.history.append(slot, flows)
        self._pending = []
        self.committed_slot = self.slot

    def abandoned(self) -> None:
        """The batch was not committed: forget what it showed."""
        self._pending = []
        self.slot = self._slot_at_begin

    def cycle_caught_up(self, started_at: float) -> None:
        self.caught_up_from = started_at

    # -- called by the reconciliation ---------------------------------------------------------
    def at_slot(self, slot: int, read_at: float) -> Flows | None:
        """Cumulative net flows as of the end of ``slot`` (read from the chain at wall time
        ``read_at``), or None while ingestion has not provably processed every transaction of it."""
        if self._totals is None:
            return None
        if self.committed_slot is not None and self.committed_slot > slot:
            return self.history.at_or_before(slot)
        if self.caught_up_from is not None and self.caught_up_from >= read_at:
            return net_flows(self._totals.values)
        return None
