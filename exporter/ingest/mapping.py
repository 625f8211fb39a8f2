"""Turn one decoded event into counter increments, as the program's config maps it.

* every event counts in ``escrow_events_total{event, <label fields>}``;
* each configured amount field adds its raw value to ``escrow_event_amount_total`` under the
  event's mint (fixed in config or read from a field). Raw units are kept (exact integers);
  the collector divides by ``10**decimals`` when it renders whole units;
* label fields are capped: the first ``max_label_values`` distinct values of a field become
  label values, later ones are counted as ``__overflow__`` plus one
  ``escrow_event_label_overflow_total`` increment, so a hostile or buggy program can never
  create unbounded series. Failed transactions' ``error`` label goes through the same cap (anyone
  can send failing transactions that list the program, with any custom error code); the error
  names of the program's IDL are bounded by the IDL and always keep their own series.

An amount that cannot be counted (field not an integer, mint with unknown decimals) is
counted in ``escrow_event_decode_errors_total`` with reason ``amount_invalid`` or
``amount_unknown_mint`` rather than silently skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from exporter.anchor import DecodedEvent
from exporter.config.programs import MintConfig, ProgramConfig, mint_decimals
from exporter.ingest.totals import AMOUNT, DECODE_ERRORS, EVENTS, LABEL_OVERFLOW, TX_ERRORS, Delta, Totals

OVERFLOW = "__overflow__"
#: Hidden label of raw amount counters: the decimals to render them with.
DECIMALS_LABEL = "__decimals"
_MAX_LABEL_LEN = 64


def label_value(value: Any) -> str:
    """A decoded field as a label value: enums by variant name, bools as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)[:_MAX_LABEL_LEN]
    if value is None:
        return "none"
    if isinstance(value, dict) and len(value) == 1:  # an enum: {"Variant": fields}
        return str(next(iter(value)))[:_MAX_LABEL_LEN]
    return json.dumps(value, sort_keys=True, separators=(",", ":"))[:_MAX_LABEL_LEN]


def capped(seen: set[str], value: str, cap: int) -> str | None:
    """``value`` if it has (or may get) its own series: one of ``seen``, or a new one while
    fewer than ``cap`` are; None beyond the cap (the caller counts it as ``OVERFLOW``)."""
    if value in seen:
        return value
    if len(seen) >= cap:
        return None
    seen.add(value)
    return value


class EventMapper:
    def __init__(self, config: ProgramConfig, totals: Totals, idl_errors: Iterable[str] = ()) -> None:
        self.events = config.events
        self.mints: dict[str, MintConfig] = config.mints
        self.default_cap = config.max_label_values
        #: (event, label field) -> values already given their own series.
        self.seen: dict[tuple[str, str], set[str]] = {}
        # Restored totals decide which values are known, so the cap holds across restarts.
        for labels, _ in totals.series(EVENTS):
            event = labels.get("event", "")
            for name, value in labels.items():
                if name != "event" and value != OVERFLOW:
                    self.seen.setdefault((event, name), set()).add(value)
        self.idl_errors = frozenset(idl_errors)
        #: Failed transactions' errors (other than the IDL's) already given their own series.
        self.errors_seen = {
            labels["error"]
            for labels, _ in totals.series(TX_ERRORS)
            if labels.get("error") not in (OVERFLOW, *self.idl_errors)
        }

    def error_label(self, error: str) -> str:
        """The ``error`` label of a failed transaction, capped like event labels."""
        if error in self.idl_errors:
            return error
        kept = capped(self.errors_seen, error, self.default_cap)
        return OVERFLOW if kept is None else kept

    def _labels(self, event: DecodedEvent, delta: Delta) -> dict[str, str]:
        mapping = self.events.get(event.name)
        if mapping is None or not mapping.labels:
            return {}
        cap = mapping.max_label_values or self.default_cap
        data = event.data if isinstance(event.data, dict) else {}
        out: dict[str, str] = {}
        for name in mapping.labels:
            kept = capped(self.seen.setdefault((event.name, name), set()), label_value(data.get(name)), cap)
            if kept is None:
                delta.add(LABEL_OVERFLOW, event=event.name, label=name)
            out[name] = OVERFLOW if kept is None else kept
        return out

    def apply(self, event: DecodedEvent, delta: Delta) -> None:
        labels = self._labels(event, delta)
        delta.add(EVENTS, event=event.name, **labels)
        mapping = self.events.get(event.name)
        if mapping is None:
            return
        data = event.data if isinstance(event.data, dict) else {}
        for amount in mapping.amounts:
            value = data.get(amount.field)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:  # counters never go down
                delta.add(DECODE_ERRORS, reason="amount_invalid")
                continue
            if amount.mint_field is not None:
                resolved = mint_decimals(str(data.get(amount.mint_field)), self.mints)
                if resolved is None:
                    delta.add(DECODE_ERRORS, reason="amount_unknown_mint")
                    continue
                mint, decimals = resolved
            elif amount.mint is not None:
                known = mint_decimals(amount.mint, self.mints)
                mint = amount.mint
                decimals = amount.decimals if amount.decimals is not None else (known[1] if known else 0)
            else:
                mint, decimals = "", amount.decimals or 0
            delta.add(
                AMOUNT,
                value,
                event=event.name,
                field=amount.field,
                mint=mint,
                **{DECIMALS_LABEL: str(decimals)},
                **labels,
            )
