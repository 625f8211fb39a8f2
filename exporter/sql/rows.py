"""Turn a query's rows into samples, with the guard rails: a bad row is dropped and reported,
never turned into a zero and never allowed to break the scrape.

Problems carry a low-cardinality ``reason`` for ``escrow_sql_query_errors_total`` and a message
for the log that names the metric and column.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from exporter.config.sql import MetricConfig
from exporter.sql.database import QueryResult

MISSING_COLUMN = "missing_column"
NULL_VALUE = "null_value"
NON_NUMERIC = "non_numeric"
DUPLICATE_LABELS = "duplicate_labels"
TOO_MANY_SERIES = "too_many_series"


@dataclass(slots=True)
class Problem:
    reason: str
    message: str


@dataclass(slots=True)
class Samples:
    """Good samples per metric name (label values in the metric's label order) and what was dropped."""

    values: dict[str, dict[tuple[str, ...], float]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def to_float(value: Any) -> float | None:
    """Numbers as floats (numeric/decimal, bigint, bool, numeric text); times as Unix seconds.

    Returns None when the value is not a number. Timestamps without a zone are taken as UTC,
    intervals (PostgreSQL ``interval``) as seconds, so ``MAX(received_at - created_at)`` is portable.
    """
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | Decimal):
        f = float(value)  # Decimal -> nearest double; exact for the integers bigint holds up to 2**53
    elif isinstance(value, float):
        f = value
    elif isinstance(value, dt.datetime):
        f = (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()
    elif isinstance(value, dt.timedelta):
        f = value.total_seconds()
    elif isinstance(value, str):
        try:
            f = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return f if not math.isnan(f) else None


def label_value(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _column_index(columns: list[str], name: str) -> int | None:
    """Exact match first, then case-insensitive: PostgreSQL folds unquoted aliases to lower case."""
    if name in columns:
        return columns.index(name)
    lowered = [c.lower() for c in columns]
    return lowered.index(name.lower()) if name.lower() in lowered else None


def _metric_samples(metric: MetricConfig, result: QueryResult, out: Samples) -> None:
    vi = _column_index(result.columns, metric.value_column)
    li = [_column_index(result.columns, c) for c in metric.label_columns]
    missing = [
        c for c, i in zip([metric.value_column, *metric.label_columns], [vi, *li], strict=True) if i is None
    ]
    if missing:
        out.problems.append(
            Problem(
                MISSING_COLUMN,
                f"metric {metric.name}: the query returns no column {', '.join(missing)} "
                f"(columns: {', '.join(result.columns) or 'none'})",
            )
        )
        return
    assert vi is not None
    good: dict[tuple[str, ...], float] = {}
    seen: Counter[tuple[str, ...]] = Counter()
    nulls: list[str] = []
    non_numeric: list[str] = []
    for n, row in enumerate(result.rows, start=1):
        raw_labels = [row[i] for i in li if i is not None]
        if any(v is None for v in raw_labels):
            nulls.append(f"row {n}: NULL label")
            continue
        labels = tuple(label_value(v) for v in raw_labels)
        seen[labels] += 1
        raw = row[vi]
        if raw is None:
            nulls.append(f"row {n}: NULL in {metric.value_column}")
            continue
        value = to_float(raw)
        if value is None:
            non_numeric.append(f"row {n}: {type(raw).__name__} {str(raw)[:40]!r} in {metric.value_column}")
            continue
        good[labels] = value
    if nulls:
        out.problems.append(
            Problem(NULL_VALUE, f"metric {metric.name}: {len(nulls)} row(s) dropped, {nulls[0]}")
        )
    if non_numeric:
        out.problems.append(
            Problem(NON_NUMERIC, f"metric {metric.name}: {len(non_numeric)} row(s) dropped, {non_numeric[0]}")
        )
    dupes = [labels for labels, count in seen.items() if count > 1]
    if dupes:
        # Which of two rows is right is unknowable: publish neither.
        for labels in dupes:
            good.pop(labels, None)
        shown = dict(zip(metric.label_columns, dupes[0], strict=True))
        out.problems.append(
            Problem(
                DUPLICATE_LABELS,
                f"metric {metric.name}: {len(dupes)} label set(s) returned by more than one row and dropped, e.g. {shown}",
            )
        )
    out.values[metric.name] = good


def to_samples(metrics: list[MetricConfig], result: QueryResult, max_series: int) -> Samples:
    """Samples of every metric; ``result`` was read with ``max_rows=max_series`` (one row, one
    series per metric), so a truncated result is a query over its series limit."""
    out = Samples()
    if result.truncated:
        out.problems.append(
            Problem(
                TOO_MANY_SERIES,
                f"more than max_series {max_series} rows; the first {max_series} rows are kept "
                "and the rest are not read",
            )
        )
    for m in metrics:
        _metric_samples(m, result, out)
    return out
