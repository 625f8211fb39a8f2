"""Cases for the ``chain`` rule group: what the program does on chain and how the exporter
ingests it (transaction and money-instruction failures, compute units, ingest lag, decode errors,
truncated logs, pauses)."""

from __future__ import annotations

import math
from collections import Counter

from bundle.cases.common import Case, Fired, humanize_duration, new_counter
from bundle.cases.series import (
    INGEST_OK,
    INGEST_UP,
    JL,
    LAG,
    MONEY_IX,
    PAUSE,
    PAUSED_STATE,
    PROG,
    PST,
    TX_FAIL,
    TX_OK,
    TX_PAUSED,
    J,
)
from bundle.config import PARAMS
from exporter.ingest.totals import CU_BUCKETS, bucket_label

LAG_HIGH = int(PARAMS["ingest_lag_high_seconds"])
LAG_MEDIUM = int(PARAMS["ingest_lag_medium_seconds"])
# When ingestion failing since 5m (or never succeeding) has been over the high threshold for
# EscrowIngestLag's 5m `for:`.
LAG_AT = max(22, -(-(300 + LAG_HIGH) // 60) + 7)
# Failed transactions per 100: between the tiers, above high, and just under medium.
_MED, _HIGH = (
    round(float(PARAMS["tx_failure_ratio_medium"]) * 100),
    round(float(PARAMS["tx_failure_ratio_high"]) * 100),
)
FAIL_MID, FAIL_HIGH, FAIL_LOW = (_MED + _HIGH) // 2 + 1, (_HIGH + 100) // 2 + 1, _MED - 1
CU = f'escrow_compute_units_bucket{{{J},program="paid_match",instruction="settle_match",le="%s"}}'
PAUSED_EVENTS = f'escrow_events_total{{{J},program="paid_match",event="{PAUSE}"}}'
# ProgramPaused configured with labels: [reason] (examples/config.yml): one series per reason.
PAUSED_INCIDENT = f'escrow_events_total{{{J},program="paid_match",event="{PAUSE}",reason="Incident"}}'


# EscrowComputeUnitsNearLimit: the p99 threshold is a bucket edge (tests/test_rules.py checks), and
# histogram_quantile interpolates inside the bucket above it / the one ending at it.
CU_P99 = int(float(PARAMS["compute_units_p99"]))
CU_LIMIT = int(float(PARAMS["compute_units_limit"]))
_CU_NEXT = min(b for b in CU_BUCKETS if b > CU_P99)
_CU_PREV = max([0, *(b for b in CU_BUCKETS if b < CU_P99)])
_CU_OVER = (CU_P99 + _CU_NEXT) // 2  # in the bucket above the threshold
_CU_P99_OVER = round(CU_P99 + 0.99 * (_CU_NEXT - CU_P99))
_CU_P99_AT = round(_CU_PREV + 0.99 * (CU_P99 - _CU_PREV))


def cu_buckets(calls_per_minute: dict[int, int]) -> dict[str, str]:
    """The exporter's histogram (its own buckets, exporter/ingest/totals.py) for ``calls`` calls a
    minute using ``units`` compute units each."""
    per_bucket = Counter({bucket_label(units): calls for units, calls in calls_per_minute.items()})
    out, running = {}, 0
    for le in [*(str(b) for b in CU_BUCKETS), "+Inf"]:
        running += per_bucket[le]
        out[CU % le] = f"0+{running}x40" if running else "0x40"
    return out


# ---- EscrowMoneyInstructionFailures: one money instruction failing among many healthy joins -------
_MIX = "EscrowMoneyInstructionFailures"
_MIX_HIGH = float(PARAMS["money_ix_failure_ratio_high"])
_MIX_CRIT = float(PARAMS["money_ix_failure_ratio_critical"])
_MIX_MIN = int(PARAMS["money_ix_failure_min_count"])
_SETTLE_FAIL = f'escrow_transaction_failures_total{{{J},program="paid_match",instruction="{MONEY_IX}"}}'
_SETTLE_IX = f'escrow_instructions_total{{{J},program="paid_match",instruction="{MONEY_IX}"}}'
_JOIN_IX = f'escrow_instructions_total{{{J},program="paid_match",instruction="join_match"}}'
_SETTLE = {"program": "paid_match", "instruction": MONEY_IX}
_SETTLES_PER_MIN = 20


def _settles(
    failed_per_min: float, minutes: int = 40, settles_per_min: float = _SETTLES_PER_MIN
) -> dict[str, str]:
    """Settlements failing at ``failed_per_min`` beside 200 successful joins a minute (the whole
    program's failure ratio stays low: EscrowTransactionFailureRatio is quiet)."""
    ok = 200 + settles_per_min - failed_per_min
    return {
        _SETTLE_FAIL: f"0+{failed_per_min:g}x{minutes}",
        _SETTLE_IX: f"0+{settles_per_min:g}x{minutes}",
        _JOIN_IX: f"0+200x{minutes}",
        TX_OK: f"0+{ok:g}x{minutes}",
        TX_FAIL: f"0+{failed_per_min:g}x{minutes}",
    }


def _pct(failed_per_min: float) -> str:
    return f"{failed_per_min / _SETTLES_PER_MIN * 100:.4g}%"


_MIX_MID = math.ceil(_SETTLES_PER_MIN * (_MIX_HIGH + _MIX_CRIT) / 2)  # failures a minute
_MIX_OVER = math.ceil(_SETTLES_PER_MIN * (_MIX_CRIT + 1) / 2)
_MIX_UNDER = math.floor(_SETTLES_PER_MIN * _MIX_HIGH / 2)
# Paused from 11m to 31m: every settlement fails with the pause error, then resumed.
_PAUSED_SETTLES = {
    _SETTLE_FAIL: f"0x10 0+{_SETTLES_PER_MIN}x20 {_SETTLES_PER_MIN * 20}x20",
    _SETTLE_IX: f"0+{_SETTLES_PER_MIN}x50",
    _JOIN_IX: "0+200x50",
    TX_OK: f"0+{200 + _SETTLES_PER_MIN}x10 {(200 + _SETTLES_PER_MIN) * 10}x20 "
    f"{(200 + _SETTLES_PER_MIN) * 10}+{200 + _SETTLES_PER_MIN}x20",
    TX_FAIL: f"0x10 0+{200 + _SETTLES_PER_MIN}x20 {(200 + _SETTLES_PER_MIN) * 20}x20",
    TX_PAUSED: f"0x10 0+{200 + _SETTLES_PER_MIN}x20 {(200 + _SETTLES_PER_MIN) * 20}x20",
}
MONEY_IX_CASES: list[Case] = [
    Case(
        _MIX,
        f"{_pct(_MIX_MID)} of settlements failing beside healthy joins fires high",
        _settles(_MIX_MID),
        "20m",
        [Fired("high", _SETTLE, _pct(_MIX_MID))],
    ),
    Case(
        "EscrowTransactionFailureRatio",
        f"the same settlement failures are under 10% of all transactions: quiet ({_MIX} reports them)",
        _settles(_MIX_MID),
        "20m",
    ),
    Case(
        _MIX,
        f"{_pct(_MIX_OVER)} of settlements failing fires critical (and high)",
        _settles(_MIX_OVER),
        "20m",
        [Fired("critical", _SETTLE, _pct(_MIX_OVER)), Fired("high", _SETTLE, _pct(_MIX_OVER))],
    ),
    Case(_MIX, f"{_pct(_MIX_UNDER)} failing is quiet", _settles(_MIX_UNDER), "20m"),
    Case(
        _MIX,
        f"half of a few settlements failing ({_MIX_MIN - 2} failures in 10m, under {_MIX_MIN}) is quiet",
        _settles((_MIX_MIN - 2) / 10, settles_per_min=2 * (_MIX_MIN - 2) / 10),
        "20m",
    ),
    Case(_MIX, "every settlement rejected while paused is quiet", _PAUSED_SETTLES, "28m"),
    Case(
        _MIX,
        "5 minutes after the resume (the window still holds the pause's rejections) is quiet",
        _PAUSED_SETTLES,
        "36m",
    ),
]

CHAIN_CASES: list[Case] = [
    Case(
        "EscrowTransactionFailureRatio",
        f"{FAIL_MID}% failing fires medium",
        {TX_OK: f"0+{100 - FAIL_MID}x40", TX_FAIL: f"0+{FAIL_MID}x40"},
        "25m",
        [Fired("medium", PROG, f"{FAIL_MID}%")],
    ),
    Case(
        "EscrowTransactionFailureRatio",
        f"{FAIL_HIGH}% failing fires medium and high",
        {TX_OK: f"0+{100 - FAIL_HIGH}x40", TX_FAIL: f"0+{FAIL_HIGH}x40"},
        "25m",
        [Fired("high", PROG, f"{FAIL_HIGH}%"), Fired("medium", PROG, f"{FAIL_HIGH}%")],
    ),
    Case(
        "EscrowTransactionFailureRatio",
        f"{FAIL_LOW}% failing is quiet",
        {TX_OK: f"0+{100 - FAIL_LOW}x40", TX_FAIL: f"0+{FAIL_LOW}x40"},
        "25m",
    ),
    Case(
        "EscrowTransactionFailureRatio",
        "half failing at 2 tx/min is quiet (too few)",
        {TX_OK: "0+1x40", TX_FAIL: "0+1x40"},
        "25m",
    ),
    *MONEY_IX_CASES,
    Case(
        "EscrowComputeUnitsNearLimit",
        f"every call at {_CU_OVER // 1000}k CU (p99 {_CU_P99_OVER}) fires",
        cu_buckets({_CU_OVER: 10}),
        "32m",
        [Fired("medium", {"program": "paid_match", "instruction": "settle_match"}, str(_CU_P99_OVER))],
    ),
    Case(
        "EscrowComputeUnitsNearLimit",
        f"every call at exactly {CU_P99 // 1000}k CU (p99 {_CU_P99_AT}) is quiet",
        cu_buckets({CU_P99: 10}),
        "32m",
    ),
    Case(
        "EscrowComputeUnitsNearLimit",
        f"every call at 110k CU ({110_000 * 100 // CU_LIMIT}% of the budget) is quiet",
        cu_buckets({110_000: 10}),
        "32m",
    ),
    Case(
        "EscrowComputeUnitsNearLimit",
        "6% of calls at 110k CU, the rest at 60k, is quiet",
        cu_buckets({60_000: 94, 110_000: 6}),
        "32m",
    ),
    Case(
        "EscrowIngestLag",
        f"{LAG_HIGH + 100}s behind fires high and medium",
        {LAG: f"{LAG_HIGH + 100}x20"},
        "7m",
        [
            Fired("high", {**JL, **PROG}, humanize_duration(LAG_HIGH + 100)),
            Fired("medium", {**JL, **PROG}, humanize_duration(LAG_HIGH + 100)),
        ],
    ),
    Case(
        "EscrowIngestLag",
        f"{(LAG_HIGH + LAG_MEDIUM) // 2}s behind fires medium only",
        {LAG: f"{(LAG_HIGH + LAG_MEDIUM) // 2}x20"},
        "7m",
        [Fired("medium", {**JL, **PROG}, humanize_duration((LAG_HIGH + LAG_MEDIUM) // 2))],
    ),
    Case("EscrowIngestLag", f"{LAG_MEDIUM}s behind is quiet", {LAG: f"{LAG_MEDIUM}x20"}, "7m"),
    # Caught up, then every cycle fails from 6m: the lag gauge stays 0 (exporter/ingest/ingester.py).
    Case(
        "EscrowIngestLag",
        "every cycle failing from a caught-up state (lag stays 0) fires high and medium",
        {
            LAG: f"0x{LAG_AT}",
            INGEST_UP: f"1x5 0x{LAG_AT}",
            INGEST_OK: f"0+60x5 300x{LAG_AT}",
            PST: f"0x{LAG_AT}",
        },
        f"{LAG_AT}m",
        [
            Fired("high", {**JL, **PROG}, humanize_duration(LAG_AT * 60 - 300)),
            Fired("medium", {**JL, **PROG}, humanize_duration(LAG_AT * 60 - 300)),
        ],
    ),
    Case(
        "EscrowIngestLag",
        f"last successful cycle exactly {LAG_MEDIUM}s ago is quiet",
        {LAG: "0x30", INGEST_UP: "1x30", INGEST_OK: f"-{LAG_MEDIUM}+60x30", PST: "0x30"},
        "22m",
    ),
    Case(
        "EscrowIngestLag",
        "no successful cycle since the exporter started 22m ago fires high and medium",
        {INGEST_UP: "0x30", PST: "0x30"},
        "22m",
        [Fired("high", {**JL, **PROG}, "22m 0s"), Fired("medium", {**JL, **PROG}, "22m 0s")],
    ),
    *new_counter(
        "EscrowEventDecodeErrors",
        "escrow_event_decode_errors_total",
        {"program": "paid_match", "reason": "unknown_discriminator"},
        "medium",
        created_by_increment=True,
    ),
    *new_counter(
        "EscrowLogsTruncated",
        "escrow_logs_truncated_total",
        {"program": "paid_match"},
        "low",
        created_by_increment=False,
    ),
    Case(
        "EscrowProgramPaused",
        "PlatformConfig paused fires",
        {PAUSED_STATE: "0x5 1x10"},
        "8m",
        [Fired("high", PROG, "1")],
    ),
    Case(
        "EscrowProgramPaused",
        "a ProgramPaused event fires",
        {PAUSED_EVENTS: "0x5 1x10"},
        "8m",
        [Fired("high", PROG, "1")],
    ),
    # Paused and resumed between two PlatformConfig surveys; the event's series is created at 1.
    Case(
        "EscrowProgramPaused",
        "the first ProgramPaused with a new reason fires",
        {PAUSED_STATE: "0x40", PAUSED_INCIDENT: "_x20 1x15", PST: "0x40"},
        "23m",
        [Fired("high", PROG, "1")],
    ),
    Case(
        "EscrowProgramPaused",
        "a pause counted before a 20-minute downtime is quiet after the restart",
        {PAUSED_STATE: "0x10 _x19 0x20", PAUSED_INCIDENT: "1x10 _x19 1x20", PST: "0x10 _x19 1800x20"},
        "35m",
    ),
    Case(
        "EscrowProgramPaused",
        "running and no pause event is quiet",
        {PAUSED_STATE: "0x20", PAUSED_EVENTS: "0x20"},
        "8m",
    ),
    # Ordinary days that used to page (issue 13). Each case fails on the rules it replaced.
    # Prometheus-side gaps (as new_counter's cases for the counter alerts): the exporter kept
    # running and the program stayed paused since before the gap.
    Case(
        "EscrowProgramPaused",
        "a 3-minute scrape failure (stale markers) is quiet",
        {
            PAUSED_STATE: "0x10 stale _x2 0x20",
            PAUSED_INCIDENT: "1x10 stale _x2 1x20",
            PST: "0x10 stale _x2 0x20",
        },
        "23m",
    ),
    Case(
        "EscrowProgramPaused",
        "Prometheus down for 10 minutes is quiet",
        {PAUSED_STATE: "0x10 _x10 0x20", PAUSED_INCIDENT: "1x10 _x10 1x20", PST: "0x10 _x10 0x20"},
        "28m",
    ),
    # Paused from 11m to 31m (every transaction rejected with ProgramPaused), resumed at 32m.
    Case(
        "EscrowTransactionFailureRatio",
        "2 minutes after a resume (the window still holds the pause's rejections) is quiet",
        {
            TX_OK: "0+60x10 600x20 600+60x20",
            TX_FAIL: "0x10 0+30x20 600x20",
            TX_PAUSED: "0x10 0+30x20 600x20",
        },
        "34m",
    ),
    Case(
        "EscrowTransactionFailureRatio",
        "real failures beside ProgramPaused rejections still fire medium",
        {TX_OK: f"0+{100 - FAIL_MID}x40", TX_FAIL: f"0+{FAIL_MID + 30}x40", TX_PAUSED: "0+30x40"},
        "25m",
        [Fired("medium", PROG, f"{FAIL_MID}%")],
    ),
]
