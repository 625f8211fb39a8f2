"""Exact counter totals of one program, and the pending increments of one batch.

Every counter is an integer (raw units for amounts, lamports for fees, observations for
histogram buckets). A batch accumulates into ``Delta``; only after the state file committed
the batch are the new values copied into ``Totals``, which is what ``/metrics`` renders.

Event counts and amounts are also kept per minute of their transaction's block time
(``exporter.ingest.block_time``): ``Delta.block_minute`` says which minute the increments of
the transaction being counted belong to.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping

from exporter.ingest.state import CounterKey, MinuteKey

# Metric keys inside the state file (stable: renaming them would orphan saved totals).
EVENTS = "events"  # labels: event, [label fields...]
AMOUNT = "amount"  # labels: event, field, mint, __decimals, [label fields...]; value in raw units
TRANSACTIONS = "transactions"  # labels: status
TX_ERRORS = "tx_errors"  # labels: error
TX_FAILURES = "tx_failures"  # labels: instruction (the first of the program in a failed transaction)
INSTRUCTIONS = "instructions"  # labels: instruction
CU_BUCKET = "cu_bucket"  # labels: instruction, le  (non-cumulative count of the bucket)
CU_SUM = "cu_sum"  # labels: instruction
FEES = "fees"  # no labels; lamports
DECODE_ERRORS = "decode_errors"  # labels: reason
LOGS_TRUNCATED = "logs_truncated"  # no labels
LABEL_OVERFLOW = "label_overflow"  # labels: event, label

#: Compute-unit histogram buckets: a transaction may use at most 1.4M compute units.
#: 150k and 180k keep histogram_quantile honest near the default 200k budget: the
#: EscrowComputeUnitsNearLimit threshold (180k) is a bucket boundary, so it fires only when more
#: than 1% of calls really exceed 180k (with 100k -> 200k, calls at 110k interpolated to ~199k).
#: Adding a bucket keeps saved totals valid: an observation counted before stays under its old
#: ``le`` (still cumulative, only coarser), and rate()-based quantiles only see new observations.
CU_BUCKETS = (
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    150_000,
    180_000,
    200_000,
    400_000,
    800_000,
    1_400_000,
)


def key(metric: str, /, **labels: str) -> CounterKey:
    return (metric, tuple(sorted(labels.items())))


def bucket_label(units: int) -> str:
    """The ``le`` of the smallest bucket holding ``units`` (``+Inf`` above 1.4M)."""
    for b in CU_BUCKETS:
        if units <= b:
            return str(b)
    return "+Inf"


#: Counters also kept per block-time minute, and the labels their minute buckets keep (the
#: configured label fields are left out: the windows are for rates, not breakdowns).
BLOCK_TIME_LABELS: dict[str, tuple[str, ...]] = {
    EVENTS: ("event",),
    AMOUNT: ("event", "field", "mint", "__decimals"),
}


class Delta:
    """Increments of one batch, not yet committed."""

    def __init__(self) -> None:
        self.inc: dict[CounterKey, int] = defaultdict(int)
        #: Per-minute increments of event counts and amounts (``BLOCK_TIME_LABELS``).
        self.by_minute: dict[MinuteKey, int] = defaultdict(int)
        #: Block-time minute of the transaction being counted; None: not bucketed.
        self.block_minute: int | None = None

    def add(self, metric: str, value: int = 1, /, **labels: str) -> None:
        self.inc[key(metric, **labels)] += value
        kept = BLOCK_TIME_LABELS.get(metric)
        if kept is not None and self.block_minute is not None:
            bucket = key(metric, **{k: v for k, v in labels.items() if k in kept})
            self.by_minute[(self.block_minute, bucket)] += value

    def observe_cu(self, instruction: str, units: int) -> None:
        self.add(CU_BUCKET, 1, instruction=instruction, le=bucket_label(units))
        self.add(CU_SUM, units, instruction=instruction)

    def __bool__(self) -> bool:
        return bool(self.inc) or bool(self.by_minute)


class Totals:
    def __init__(self, values: Mapping[CounterKey, int] | None = None) -> None:
        self.values: dict[CounterKey, int] = dict(values or {})

    def after(self, delta: Delta) -> dict[CounterKey, int]:
        """The new values of the counters ``delta`` touches (what the state file must store)."""
        return {k: self.values.get(k, 0) + v for k, v in delta.inc.items()}

    def apply(self, new_values: Mapping[CounterKey, int]) -> None:
        self.values.update(new_values)

    def series(self, metric: str) -> Iterator[tuple[dict[str, str], int]]:
        for (m, labels), v in self.values.items():
            if m == metric:
                yield dict(labels), v

    def get(self, metric: str, /, **labels: str) -> int:
        return self.values.get(key(metric, **labels), 0)
