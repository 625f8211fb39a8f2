"""promtool unit-test cases for every alert: it fires, it stays quiet just below the threshold.

Each case gives input series, an evaluation time and the alerts expected then, with their labels
and the rendered value. ``bundle.render`` turns them into ``prometheus/tests/*.yml``; the expected
description is the rule's template with ``$labels``/``$value`` substituted, so promtool checks
both the rule and what the description really says.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from bundle.config import (
    ACCOUNT_FLOORS,
    EXPORTER_JOB,
    MINT_FLOORS,
    MINT_TOLERANCES,
    PARAMS,
    PROBE_JOB,
    SITE,
)
from exporter.ingest.totals import CU_BUCKETS, bucket_label
from exporter.rpc.metrics import _LATENCY_BUCKETS

RPC_BUCKETS = [str(b) for b in _LATENCY_BUCKETS]
PROMETHEUS_JOB, ALERTMANAGER_JOB = SITE.prometheus_job, SITE.alertmanager_job

# Boundary values come from the site's thresholds (bundle/site.yml), so a site with other
# thresholds still has cases just above (fires) and exactly at (quiet) each of these.
SLOT_LAG = int(PARAMS["rpc_slot_lag"])
WEBHOOK_S = int(PARAMS["webhook_latency_seconds"])
OUTBOX = int(PARAMS["outbox_depth"])
LAG_HIGH = int(PARAMS["ingest_lag_high_seconds"])
LAG_MEDIUM = int(PARAMS["ingest_lag_medium_seconds"])
STALE_S = int(PARAMS["balance_stale_seconds"])
# When ingestion failing since 5m (or never succeeding) has been over the high threshold for
# EscrowIngestLag's 5m `for:`.
LAG_AT = max(22, -(-(300 + LAG_HIGH) // 60) + 7)
FAILOVERS_MAX = int(PARAMS["failovers_per_30m"])
# Failed transactions per 100: between the tiers, above high, and just under medium.
_MED, _HIGH = (
    round(float(PARAMS["tx_failure_ratio_medium"]) * 100),
    round(float(PARAMS["tx_failure_ratio_high"]) * 100),
)
FAIL_MID, FAIL_HIGH, FAIL_LOW = (_MED + _HIGH) // 2 + 1, (_HIGH + 100) // 2 + 1, _MED - 1


def failovers(n: int) -> str:
    """10 failovers long ago, then ``n`` more 1 minute apart (15 s scrapes), then none."""
    steps = " ".join(f"{10 + i}x4" for i in range(1, n))
    return f"10x240 {steps} {10 + n}x200".replace("  ", " ")


def humanize_duration(seconds: float) -> str:
    """Prometheus' humanizeDuration for whole seconds of a minute or more."""
    s = int(seconds)
    d, h, m, sec = s // 86400, s % 86400 // 3600, s % 3600 // 60, s % 60
    if d:
        return f"{d}d {h}h {m}m {sec}s"
    if h:
        return f"{h}h {m}m {sec}s"
    return f"{m}m {sec}s"


def under(floor: str) -> str:
    """A balance half a unit under ``floor``, as Prometheus prints it."""
    return f"{float(floor) - 0.5:g}"


J = f'job="{EXPORTER_JOB}",instance="exporter:10190"'
JL = {"job": EXPORTER_JOB, "instance": "exporter:10190"}
# The same exporter restarted under another instance (a Kubernetes pod gets a new IP).
J2 = f'job="{EXPORTER_JOB}",instance="exporter-2:10190"'
# The exporter serves process_start_time_seconds; the restart-aware clauses read it.
PST = f"process_start_time_seconds{{{J}}}"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
SOL_FLOOR, USDC_FLOOR = MINT_FLOORS["SOL"], MINT_FLOORS[USDC]
SOL_WALLET = {"account": "treasury_sol", "mint": "SOL", "role": "treasury"}
USDC_WALLET = {"account": "treasury_usdc", "mint": USDC, "role": "treasury"}
HV_FLOOR = ACCOUNT_FLOORS["treasury_hv"]


@dataclass(frozen=True)
class Fired:
    severity: str
    labels: dict[str, str]
    value: str  # how the description renders {{ $value ... }}


@dataclass(frozen=True)
class Case:
    alert: str
    title: str
    series: dict[str, str]
    at: str
    fires: list[Fired] = field(default_factory=list)
    interval: str = "1m"
    evaluation_interval: str = "1m"


def held(alert: str, series: str, for_min: int, severity: str, labels: dict[str, str]) -> list[Case]:
    """A boolean condition (the series turns 0 at t=1m): fires after ``for``, quiet one minute before."""
    return [
        Case(
            alert,
            f"down for {for_min + 1}m fires",
            {series: "1 0x30"},
            f"{for_min + 2}m",
            [Fired(severity, labels, "0")],
        ),
        Case(
            alert,
            f"down for {max(for_min - 1, 0)}m (just under for) is quiet",
            {series: "1 0x30"},
            f"{for_min}m",
        ),
    ]


def gauge(alert: str, series: str, above: str, at_limit: str, at: str, fired: list[Fired]) -> list[Case]:
    """A gauge compared with a threshold: fires above it, quiet exactly at it."""
    return [
        Case(alert, f"{above} fires", {series: f"{above}x40"}, at, fired),
        Case(alert, f"{at_limit} (at the threshold) is quiet", {series: f"{at_limit}x40"}, at),
    ]


def new_counter(
    alert: str, metric: str, labels: dict[str, str], severity: str, *, created_by_increment: bool
) -> list[Case]:
    """A counter alert. ``created_by_increment``: the exporter renders the series only once it
    counts something (so it appears at 1 or more), rather than from 0."""
    sel = ",".join([J] + [f'{k}="{v}"' for k, v in labels.items()])
    s = f"{metric}{{{sel}}}"
    cases = [
        Case(
            alert,
            "counter grows by 1 fires",
            {s: "0x20 1x10", PST: "0x40"},
            "22m",
            [Fired(severity, {**JL, **labels}, "1")],
        ),
        # The exporter restores its totals from the state file: after 20 minutes down, the
        # series is back at its old value and nothing new happened.
        Case(
            alert,
            "totals restored after a 20-minute downtime are quiet",
            {s: "7x10 _x19 7x20", PST: "0x10 _x19 1800x20"},
            "35m",
        ),
        Case(alert, "a flat counter is quiet", {s: "2x40", PST: "0x40"}, "22m"),
    ]
    if created_by_increment:
        cases.append(
            Case(
                alert,
                "a new series starting at 3 (exporter up for 22m) fires",
                {s: "_x19 3x10", PST: "0x40"},
                "22m",
                [Fired(severity, {**JL, **labels}, "3")],
            )
        )
    return cases


PROG = {"program": "paid_match"}
# The site's names for the events, errors and instructions the rules watch (bundle/site.yml).
WITHDRAWAL, PAUSE = PARAMS["withdrawal_event"], PARAMS["pause_event"]
PAUSE_ERROR, MONEY_IX = SITE.pause_errors[0], SITE.money_instructions[0]
WD = f'escrow_events_total{{{J},program="paid_match",event="{WITHDRAWAL}"}}'
TX_OK = f'escrow_transactions_total{{{J},program="paid_match",status="success"}}'
TX_FAIL = f'escrow_transactions_total{{{J},program="paid_match",status="failed"}}'
CU = f'escrow_compute_units_bucket{{{J},program="paid_match",instruction="settle_match",le="%s"}}'
BAL = f'escrow_account_balance{{{J},account="%s",mint="%s"}}'
INFO = f'escrow_account_info{{{J},account="%s",role="%s",kind="%s",address="Addr%s"}}'
EXISTS = f'escrow_account_exists{{{J},account="%s"}}'
LEDGER = f'escrow_ledger_escrow_balance{{{J},account="%s",mint="%s"}}'
TS = f'escrow_account_balance_updated_timestamp_seconds{{{J},account="escrow_usdc"}}'
ESCROW_INFO = INFO % ("escrow_usdc", "escrow", "token", "3")
STALE_LABELS = {**JL, "account": "escrow_usdc"}
RECON = f"escrow_business_reconciliation_last_success_timestamp_seconds{{{J}}}"
RECON_UP = f'escrow_sql_query_up{{{J},query="reconciliation_last_success"}}'
LAG = f'escrow_ingest_lag_seconds{{{J},program="paid_match"}}'
INGEST_UP = f'escrow_exporter_collector_up{{{J},collector="ingest:paid_match"}}'
INGEST_OK = f'escrow_exporter_collector_last_success_timestamp_seconds{{{J},collector="ingest:paid_match"}}'
PAUSED_STATE = f'escrow_program_accounts{{{J},program="paid_match",account="PlatformConfig",state="paused"}}'
PAUSED_EVENTS = f'escrow_events_total{{{J},program="paid_match",event="{PAUSE}"}}'
# ProgramPaused configured with labels: [reason] (examples/config.yml): one series per reason.
PAUSED_INCIDENT = f'escrow_events_total{{{J},program="paid_match",event="{PAUSE}",reason="Incident"}}'
FAILOVERS = f"escrow_rpc_failovers_total{{{J}}}"
TX_PAUSED = f'escrow_transaction_errors_total{{{J},program="paid_match",error="{PAUSE_ERROR}"}}'
DECODE_ERR = f'escrow_event_decode_errors_total{{{J},program="paid_match",reason="unknown_discriminator"}}'
PROBE = f'job="{PROBE_JOB}",instance="http://app:8080/readyz"'
PROBE_LABELS = {"job": PROBE_JOB, "instance": "http://app:8080/readyz"}
# Balances read every 15 s until 60m; then every read fails, and the exporter serves the last
# value (and its timestamp) for interval x staleness_intervals = 75 s before dropping both.
TS_READS_FAIL_AT_60M = "0+15x240 3600x4"


# Ingestion caught up and the exporter up since 0, for the 8-day withdrawal cases (10m samples).
SETTLED = {LAG: "0x1200", PST: "0x1200"}


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


# EscrowBalanceMismatch: per mint, its own tolerance (else the site default), all derived from
# the site config. Balances as Prometheus reads them: float(text); the drift is their float
# difference, rendered with printf "%.6f" (Python's and Go's rounding agree).
USDC_TOL = MINT_TOLERANCES.get(USDC, PARAMS["mismatch_tolerance"])
SOL_TOL = MINT_TOLERANCES.get("SOL", PARAMS["mismatch_tolerance"])
DEFAULT_TOL = PARAMS["mismatch_tolerance"]
MISMATCH_TOKEN = "MisTok111111111111111111111111111111111111"  # a mint without its own tolerance
assert MISMATCH_TOKEN not in MINT_TOLERANCES


def plus(base: str, delta: str | Decimal) -> str:
    """``base + delta`` written exactly (no binary rounding in the test's input)."""
    return str(Decimal(base) + Decimal(delta))


def drift(chain: str, ledger: str) -> str:
    return f"{float(chain) - float(ledger):.6f}"


def mismatch_cases(mint: str, tolerance: str, what: str) -> list[Case]:
    """Just over ``tolerance`` (one micro-unit) fires, exactly at it and half of it are quiet."""
    series = {BAL % ("escrow_x", mint): "", LEDGER % ("escrow_x", mint): "100x20"}
    over = plus("100", Decimal(tolerance) + Decimal("0.000001"))
    labels = {"account": "escrow_x", "mint": mint, "tolerance": tolerance}

    def at(chain: str) -> dict[str, str]:
        return {**series, BAL % ("escrow_x", mint): f"{chain}x20"}

    return [
        Case(
            "EscrowBalanceMismatch",
            f"{what}: a drift of one micro-unit over its tolerance {tolerance} fires",
            at(over),
            "12m",
            [Fired("critical", labels, drift(over, "100"))],
        ),
        Case(
            "EscrowBalanceMismatch",
            f"{what}: a drift of exactly its tolerance {tolerance} is quiet",
            at(plus("100", tolerance)),
            "12m",
        ),
        Case(
            "EscrowBalanceMismatch",
            f"{what}: half its tolerance missing on chain is quiet",
            at(plus("100", -Decimal(tolerance) / 2)),
            "12m",
        ),
    ]


_USDC_MISSING = plus("100", Decimal(USDC_TOL) * 50)  # 0.5 USDC missing at the default 0.01
_USDC_LABELS = {"account": "escrow_usdc", "mint": USDC, "tolerance": USDC_TOL}
MISMATCH_CASES: list[Case] = [
    Case(
        "EscrowBalanceMismatch",
        f"{Decimal(USDC_TOL) * 50} USDC missing on chain for 11m fires",
        {BAL % ("escrow_usdc", USDC): "100x20", LEDGER % ("escrow_usdc", USDC): f"{_USDC_MISSING}x20"},
        "12m",
        [Fired("critical", _USDC_LABELS, drift("100", _USDC_MISSING))],
    ),
    Case(
        "EscrowBalanceMismatch",
        "more on chain than booked fires",
        {BAL % ("escrow_usdc", USDC): f"{_USDC_MISSING}x20", LEDGER % ("escrow_usdc", USDC): "100x20"},
        "12m",
        [Fired("critical", _USDC_LABELS, drift(_USDC_MISSING, "100"))],
    ),
    Case(
        "EscrowBalanceMismatch",
        "chain and ledger read at different moments (disagree every other minute) is quiet",
        {
            BAL % ("escrow_usdc", USDC): " ".join([f"100 {plus('100', Decimal(USDC_TOL) * 500)}"] * 10),
            LEDGER % ("escrow_usdc", USDC): "100x20",
        },
        "12m",
    ),
    *mismatch_cases(USDC, USDC_TOL, "USDC"),
    *mismatch_cases("SOL", SOL_TOL, "SOL (its own tolerance)"),
    *mismatch_cases(MISMATCH_TOKEN, DEFAULT_TOL, "a mint without its own tolerance"),
    # Drained to 0 and closed at 10m: the exporter sets exists=0 and drops the balance series
    # (exporter/collectors/balances.py); the books still hold 250k.
    Case(
        "EscrowBalanceMismatch",
        "a drained-and-closed escrow with 250k on the books fires",
        {
            BAL % ("escrow_usdc", USDC): "250000x9",
            EXISTS % "escrow_usdc": "1x9 0x40",
            LEDGER % ("escrow_usdc", USDC): "250000x50",
        },
        "30m",
        [Fired("critical", _USDC_LABELS, "-250000.000000")],
    ),
    Case(
        "EscrowBalanceMismatch",
        "a closed escrow the books also say is empty is quiet",
        {
            BAL % ("escrow_usdc", USDC): "0x9",
            EXISTS % "escrow_usdc": "1x9 0x40",
            LEDGER % ("escrow_usdc", USDC): "0x50",
        },
        "30m",
    ),
]
if Decimal(SOL_TOL) < Decimal(DEFAULT_TOL):
    # The issue's "one tolerance for every mint": a SOL drift the default would let through.
    _SOL_OVER = plus("100", (Decimal(SOL_TOL) + Decimal(DEFAULT_TOL)) / 2)
    MISMATCH_CASES.append(
        Case(
            "EscrowBalanceMismatch",
            "a SOL drift over its own tolerance but under the default fires",
            {BAL % ("escrow_x", "SOL"): f"{_SOL_OVER}x20", LEDGER % ("escrow_x", "SOL"): "100x20"},
            "12m",
            [
                Fired(
                    "critical",
                    {"account": "escrow_x", "mint": "SOL", "tolerance": SOL_TOL},
                    drift(_SOL_OVER, "100"),
                )
            ],
        )
    )


# EscrowReconciliationOverdue, in minutes from the site's thresholds (both under the 1d lookback).
RECON_MED_M = int(float(PARAMS["reconciliation_medium_seconds"])) // 60
RECON_HIGH_M = int(float(PARAMS["reconciliation_high_seconds"])) // 60
_RECON_LEN = RECON_HIGH_M + 200  # samples (1m) covering every case


def hm(minutes: int) -> str:
    """``140`` -> ``2h20m``, ``120`` -> ``2h``, ``40`` -> ``40m`` (case titles)."""
    h, m = divmod(minutes, 60)
    return (f"{h}h" if h else "") + (f"{m}m" if m or not h else "")


OVERDUE_CASES: list[Case] = [
    Case(
        "EscrowReconciliationOverdue",
        f"{hm(RECON_MED_M + 20)} since the last run fires medium",
        {RECON: f"0x{_RECON_LEN}", RECON_UP: f"1x{_RECON_LEN}"},
        f"{RECON_MED_M + 20}m",
        [Fired("medium", JL, humanize_duration((RECON_MED_M + 20) * 60))],
    ),
    Case(
        "EscrowReconciliationOverdue",
        f"{hm(RECON_HIGH_M + 20)} since the last run fires high and medium",
        {RECON: f"0x{_RECON_LEN}", RECON_UP: f"1x{_RECON_LEN}"},
        f"{RECON_HIGH_M + 20}m",
        [
            Fired("high", JL, humanize_duration((RECON_HIGH_M + 20) * 60)),
            Fired("medium", JL, humanize_duration((RECON_HIGH_M + 20) * 60)),
        ],
    ),
    Case(
        "EscrowReconciliationOverdue",
        f"exactly {hm(RECON_MED_M)} since the last run is quiet",
        {RECON: f"-{RECON_MED_M * 60}+60x{_RECON_LEN}", RECON_UP: f"1x{_RECON_LEN}"},
        f"{RECON_MED_M + 20}m",
    ),
    # No successful run in the business DB: the query answers with no row, so no timestamp.
    Case(
        "EscrowReconciliationOverdue",
        f"no successful run recorded while the query works for {hm(RECON_HIGH_M + 120)} fires high and medium",
        {RECON_UP: f"1x{_RECON_LEN}"},
        f"{RECON_HIGH_M + 120}m",
        [
            Fired("high", JL, humanize_duration(RECON_HIGH_M * 60)),
            Fired("medium", JL, humanize_duration(RECON_MED_M * 60)),
        ],
    ),
    Case(
        "EscrowReconciliationOverdue",
        f"no successful run recorded, query answering for {hm(RECON_MED_M - 20)}, is quiet",
        {RECON_UP: f"1x{_RECON_LEN}"},
        f"{RECON_MED_M - 20}m",
    ),
    Case(
        "EscrowReconciliationOverdue",
        f"the timestamp row disappearing (after {hm(RECON_HIGH_M + 20)}) keeps it firing",
        {RECON: f"0x{RECON_HIGH_M + 20}", RECON_UP: f"1x{_RECON_LEN}"},
        f"{RECON_HIGH_M + 40}m",
        [
            Fired("high", JL, humanize_duration((RECON_HIGH_M + 40) * 60)),
            Fired("medium", JL, humanize_duration((RECON_HIGH_M + 40) * 60)),
        ],
    ),
]


# EscrowWithdrawalSpike from the site's factor and floor, in withdrawals per 10 minutes (the
# cases' scrape interval; x6 per hour). At the defaults (3x, 20/h): a 30/h baseline, 120/h fires,
# 90/h (exactly 3x) is quiet, 300/h without 7-day history fires, 18/h is under the floor.
SPIKE_FACTOR = float(PARAMS["withdrawal_spike_factor"])
SPIKE_FLOOR = float(PARAMS["withdrawal_spike_floor"])
_BASE = max(5, int(SPIKE_FLOOR // (6 * SPIKE_FACTOR)) + 1)  # baseline x factor above the floor
_AT_FACTOR = int(SPIKE_FACTOR * _BASE)  # at most factor x baseline: quiet
_OVER = _AT_FACTOR + _BASE  # above factor x baseline
_NO_HISTORY = _BASE * int(2 * SPIKE_FACTOR + 4)  # far above the 6-hour average
_UNDER_FLOOR = int((SPIKE_FLOOR - 1) // 6)


# The withdrawal alerts read the exporter's block-time window (escrow_events_block_time_window,
# window="1h"): what happened on chain in the trailing hour among what was ingested by then. The
# cases describe withdrawals by the sample they happened in and the sample they were ingested in,
# and derive from that both the window and the ingestion-time counter the exporter serves.
WD_BT = f'escrow_events_block_time_window{{{J},program="paid_match",event="{WITHDRAWAL}",window="1h"}}'
WD_AMOUNT_BT = (
    f'escrow_event_amount_block_time_window{{{J},program="paid_match",event="{WITHDRAWAL}",'
    f'field="amount",mint="{USDC}",window="1h"}}'
)


def promtool_values(values: list[float | None]) -> str:
    """promtool's series notation for ``values``: runs of a constant step as ``a+dxN``, gaps as ``_``."""
    out: list[str] = []
    i = 0
    while i < len(values):
        v = values[i]
        if v is None:
            out.append("_")
            i += 1
            continue
        run = [v]
        for nxt in values[i + 1 :]:
            if nxt is None or (len(run) > 1 and nxt - run[-1] != run[1] - run[0]):
                break
            run.append(nxt)
        step = run[1] - run[0] if len(run) > 1 else 0.0
        n = len(run) - 1
        text = f"{v:.15g}"
        out.append(text if n == 0 else f"{text}{'+' if step >= 0 else '-'}{abs(step):.15g}x{n}")
        i += n + 1
    return " ".join(out)


def on_chain(
    happened: dict[int, float],
    samples: int,
    per_hour: int,
    ingested_at: dict[int, int] | None = None,
    backfilled: tuple[float, int] = (0, 0),
    down: tuple[int, ...] = (),
) -> tuple[str, str]:
    """(ingestion-time counter, 1h block-time window) for withdrawals ``happened`` (sample ->
    count), each ingested at its own sample unless ``ingested_at`` says later; ``backfilled``:
    (count, sample) of withdrawals far older than the window, counted at that sample; the
    exporter is not scraped at ``down``."""
    late = ingested_at or {}
    added = [0.0] * (samples + 1)
    for j, n in happened.items():
        added[late.get(j, j)] += n
    added[backfilled[1]] += backfilled[0]
    counter: list[float | None] = []
    window: list[float | None] = []
    total = 0.0
    for i in range(samples + 1):
        total += added[i]
        seen = sum(n for j, n in happened.items() if i - per_hour < j <= i and late.get(j, j) <= i)
        counter.append(None if i in down else total)
        window.append(None if i in down else seen)
    return promtool_values(counter), promtool_values(window)


def withdrawals(per_hour: int = 6, **kwargs: object) -> dict[str, str]:
    counter, window = on_chain(per_hour=per_hour, **kwargs)  # type: ignore[arg-type]
    return {WD: counter, WD_BT: window}


def _spike_after_8_days(per_10m: int) -> dict[str, str]:
    happened = {j: float(_BASE if j <= 1152 else per_10m) for j in range(1, 1173)}
    return withdrawals(happened=happened, samples=1172)


SPIKE_CASES: list[Case] = [
    # Ingestion caught up and the exporter up throughout (SETTLED).
    Case(
        "EscrowWithdrawalSpike",
        f"{6 * _OVER}/h against a {6 * _BASE}/h baseline fires",
        {**_spike_after_8_days(_OVER), **SETTLED},
        "11590m",
        [Fired("critical", PROG, str(6 * _OVER))],
        interval="10m",
        evaluation_interval="10m",
    ),
    Case(
        "EscrowWithdrawalSpike",
        f"{6 * _AT_FACTOR}/h ({PARAMS['withdrawal_spike_factor']}x baseline) is quiet",
        {**_spike_after_8_days(_AT_FACTOR), **SETTLED},
        "11590m",
        interval="10m",
        evaluation_interval="10m",
    ),
    Case(
        "EscrowWithdrawalSpike",
        f"without 7-day history, {6 * _NO_HISTORY}/h after 5 hours at {6 * _BASE}/h fires",
        {
            **withdrawals(
                happened={j: float(_BASE if j <= 30 else _NO_HISTORY) for j in range(1, 43)}, samples=42
            ),
            **SETTLED,
        },
        "410m",
        [Fired("critical", PROG, str(6 * _NO_HISTORY))],
        interval="10m",
        evaluation_interval="10m",
    ),
    Case(
        "EscrowWithdrawalSpike",
        f"{6 * _UNDER_FLOOR}/h after a week of none is under the floor",
        {
            **withdrawals(happened={j: float(_UNDER_FLOOR) for j in range(1153, 1173)}, samples=1172),
            **SETTLED,
        },
        "11590m",
        interval="10m",
        evaluation_interval="10m",
    ),
]


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

CASES: list[Case] = [
    *held("EscrowExporterDown", f"up{{{J}}}", 2, "high", JL),
    Case(
        "EscrowExporterAbsent",
        "no target for 6m fires",
        {'up{job="other",instance="x:1"}': "1x10"},
        "6m",
        [Fired("high", {"job": EXPORTER_JOB}, "1")],
    ),
    Case("EscrowExporterAbsent", "a target that is up is quiet", {f"up{{{J}}}": "1x10"}, "6m"),
    *held(
        "EscrowCollectorFailing",
        f'escrow_exporter_collector_up{{{J},collector="balances"}}',
        5,
        "medium",
        {**JL, "collector": "balances"},
    ),
    *held("EscrowAppProbeFailed", f"probe_success{{{PROBE}}}", 2, "critical", PROBE_LABELS),
    Case(
        "EscrowAppProbeFailed",
        "blackbox_exporter down (probe scrape fails, no probe_success) fires",
        {f"up{{{PROBE}}}": "1x5 0x40", f"probe_success{{{PROBE}}}": "1x5"},
        "30m",
        [Fired("critical", PROBE_LABELS, "0")],
    ),
    Case(
        "EscrowAppProbeFailed",
        "every probe target vanished fires",
        {f"up{{{PROBE}}}": "1x5", f"probe_success{{{PROBE}}}": "1x5"},
        "20m",
        [Fired("critical", {"job": PROBE_JOB}, "1")],
    ),
    Case(
        "EscrowAppProbeFailed",
        "probes answering is quiet",
        {f"up{{{PROBE}}}": "1x40", f"probe_success{{{PROBE}}}": "1x40"},
        "30m",
    ),
    Case(
        "EscrowAppProbeFailed",
        "a deployment without probe targets is quiet",
        {f"up{{{J}}}": "1x40"},
        "30m",
    ),
    Case(
        "EscrowRpcOutage",
        "both endpoints down fires",
        {f'escrow_rpc_up{{{J},endpoint="a"}}': "1 0x10", f'escrow_rpc_up{{{J},endpoint="b"}}': "1 0x10"},
        "3m",
        [Fired("critical", JL, "0")],
    ),
    Case(
        "EscrowRpcOutage",
        "one of two endpoints up is quiet",
        {f'escrow_rpc_up{{{J},endpoint="a"}}': "1 0x10", f'escrow_rpc_up{{{J},endpoint="b"}}': "1x10"},
        "3m",
    ),
    *held(
        "EscrowRpcEndpointDown", f'escrow_rpc_up{{{J},endpoint="b"}}', 5, "medium", {**JL, "endpoint": "b"}
    ),
    Case(
        "EscrowRpcEndpointLagging",
        f"{SLOT_LAG + 1} slots behind fires",
        {
            f'escrow_rpc_slot{{{J},endpoint="a"}}': "10000x20",
            f'escrow_rpc_slot{{{J},endpoint="b"}}': f"{10000 - SLOT_LAG - 1}x20",
        },
        "7m",
        [Fired("low", {**JL, "endpoint": "b"}, str(SLOT_LAG + 1))],
    ),
    Case(
        "EscrowRpcEndpointLagging",
        f"{SLOT_LAG} slots behind is quiet",
        {
            f'escrow_rpc_slot{{{J},endpoint="a"}}': "10000x20",
            f'escrow_rpc_slot{{{J},endpoint="b"}}': f"{10000 - SLOT_LAG}x20",
        },
        "7m",
    ),
    # Scrapes every 15 s, evaluations every 10 s: not aligned, as in production, so increase()
    # extrapolates (exactly 4 failovers read as 4.03).
    Case(
        "EscrowRpcFailoverFlapping",
        f"{FAILOVERS_MAX + 1} failovers in 30m (unaligned scrapes) fires",
        {FAILOVERS: failovers(FAILOVERS_MAX + 1)},
        "70m10s",
        [Fired("medium", JL, str(FAILOVERS_MAX + 1))],
        interval="15s",
        evaluation_interval="10s",
    ),
    Case(
        "EscrowRpcFailoverFlapping",
        f"exactly {FAILOVERS_MAX} failovers in 30m (unaligned scrapes) is quiet",
        {FAILOVERS: failovers(FAILOVERS_MAX)},
        "70m10s",
        interval="15s",
        evaluation_interval="10s",
    ),
    *MISMATCH_CASES,
    Case(
        "EscrowBalanceStale",
        "reads failing since 60m (series dropped 75 s later) fires at 80m",
        {TS: TS_READS_FAIL_AT_60M, ESCROW_INFO: "1x800", EXISTS % "escrow_usdc": "1x244", PST: "0x800"},
        "80m",
        [Fired("high", STALE_LABELS, "20m 0s")],
        interval="15s",
    ),
    Case(
        "EscrowBalanceStale",
        "reads failing since 60m still fire at 150m",
        {TS: TS_READS_FAIL_AT_60M, ESCROW_INFO: "1x800", EXISTS % "escrow_usdc": "1x244", PST: "0x800"},
        "150m",
        [Fired("high", STALE_LABELS, "1h 30m 0s")],
        interval="15s",
    ),
    Case(
        "EscrowBalanceStale",
        "exporter (re)started at 40m, reads failing from 50m (series younger than 30m) fires",
        {
            TS: "_x160 2400+15x40 3000x4",
            ESCROW_INFO: "_x160 1x500",
            EXISTS % "escrow_usdc": "_x160 1x44",
            PST: "_x160 2400x500",
        },
        "70m",
        [Fired("high", STALE_LABELS, "20m 0s")],
        interval="15s",
    ),
    Case(
        "EscrowBalanceStale",
        f"last read exactly {STALE_S}s ago is quiet",
        {TS: f"-{STALE_S}+15x200", ESCROW_INFO: "1x200", EXISTS % "escrow_usdc": "1x200", PST: "-3600x200"},
        "30m",
        interval="15s",
    ),
    Case(
        "EscrowBalanceStale",
        "never read since the exporter started 20m ago fires",
        {ESCROW_INFO: "1x100", PST: "0x100"},
        "20m",
        [Fired("high", STALE_LABELS, "20m 0s")],
        interval="15s",
    ),
    Case(
        "EscrowBalanceStale",
        "a closed account (exists 0, balance dropped) is quiet",
        {TS: "0+15x40", EXISTS % "escrow_usdc": "1x40 0x200", ESCROW_INFO: "1x240", PST: "0x240"},
        "40m",
        interval="15s",
    ),
    Case(
        "EscrowBalanceStale",
        "an exporter restarted under a new instance leaves no stale balance behind",
        {
            TS: "0+15x120",
            ESCROW_INFO: "1x120",
            PST: "0x120",
            f'escrow_account_balance_updated_timestamp_seconds{{{J2},account="escrow_usdc"}}': "_x120 1800+15x240",
            f'escrow_account_info{{{J2},account="escrow_usdc",role="escrow",kind="token",address="Addr3"}}': "_x120 1x240",
            f"process_start_time_seconds{{{J2}}}": "_x120 1800x240",
        },
        "60m",
        interval="15s",
    ),
    *held(
        "EscrowAccountMissing",
        f'escrow_account_exists{{{J},account="escrow_pyusd"}}',
        5,
        "high",
        {**JL, "account": "escrow_pyusd"},
    ),
    Case(
        "EscrowWalletBelowFloor",
        "treasury 0.5 SOL and treasury 99.5 USDC fire; escrow role ignored",
        {
            BAL % ("treasury_sol", "SOL"): f"{under(SOL_FLOOR)}x20",
            INFO % ("treasury_sol", "treasury", "sol", "1"): "1x20",
            BAL % ("treasury_usdc", USDC): f"{under(USDC_FLOOR)}x20",
            INFO % ("treasury_usdc", "treasury", "token", "2"): "1x20",
            BAL % ("escrow_usdc", USDC): "0x20",
            INFO % ("escrow_usdc", "escrow", "token", "3"): "1x20",
        },
        "12m",
        [
            Fired("high", {**SOL_WALLET, "floor": SOL_FLOOR}, under(SOL_FLOOR)),
            Fired("high", {**USDC_WALLET, "floor": USDC_FLOOR}, under(USDC_FLOOR)),
        ],
    ),
    # Drained to 0 and closed at 10m: the exporter drops the balance series and sets exists=0.
    Case(
        "EscrowWalletBelowFloor",
        "a treasury SOL wallet and a treasury token account drained and closed fire at 0",
        {
            BAL % ("treasury_sol", "SOL"): "5x9",
            INFO % ("treasury_sol", "treasury", "sol", "1"): "1x60",
            EXISTS % "treasury_sol": "1x9 0x50",
            BAL % ("treasury_usdc", USDC): "500x9",
            INFO % ("treasury_usdc", "treasury", "token", "2"): "1x60",
            EXISTS % "treasury_usdc": "1x9 0x50",
        },
        "30m",
        [
            Fired("high", {**SOL_WALLET, "floor": SOL_FLOOR}, "0"),
            Fired("high", {**USDC_WALLET, "floor": USDC_FLOOR}, "0"),
        ],
    ),
    Case(
        "EscrowWalletBelowFloor",
        "exactly at the floors is quiet",
        {
            BAL % ("treasury_sol", "SOL"): f"{SOL_FLOOR}x20",
            INFO % ("treasury_sol", "treasury", "sol", "1"): "1x20",
            BAL % ("treasury_usdc", USDC): f"{USDC_FLOOR}x20",
            INFO % ("treasury_usdc", "treasury", "token", "2"): "1x20",
        },
        "12m",
    ),
    *SPIKE_CASES,
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
    *gauge(
        "EscrowAuditLogGap",
        f"escrow_business_audit_log_missing_entries{{{J}}}",
        "3",
        "0",
        "7m",
        [Fired("critical", JL, "3")],
    ),
    Case(
        "EscrowAuditLogGap",
        "gaps explained at 10m (audit_log_gap_explanations) and an exporter restart at 20m are quiet",
        {f"escrow_business_audit_log_missing_entries{{{J}}}": "3x10 0x9 _x3 0x20"},
        "30m",
    ),
    *OVERDUE_CASES,
    Case(
        "EscrowReconciliationOverdue",
        "an exporter restarted under a new instance leaves no overdue timestamp behind",
        {
            RECON: "0+60x100",
            RECON_UP: "1x100",
            f"escrow_business_reconciliation_last_success_timestamp_seconds{{{J2}}}": "_x100 6000+60x200",
            f'escrow_sql_query_up{{{J2},query="reconciliation_last_success"}}': "_x100 1x200",
        },
        "300m",
    ),
    *gauge(
        "EscrowPaymentWebhookLatencyHigh",
        f'escrow_business_payment_webhook_latency_seconds{{{J},provider="stripe"}}',
        str(WEBHOOK_S + 1),
        str(WEBHOOK_S),
        "12m",
        [Fired("medium", {**JL, "provider": "stripe"}, humanize_duration(WEBHOOK_S + 1))],
    ),
    *gauge(
        "EscrowOutboxBacklog",
        f'escrow_business_outbox_depth{{{J},queue="payouts"}}',
        str(OUTBOX + 1),
        str(OUTBOX),
        "17m",
        [Fired("medium", {**JL, "queue": "payouts"}, str(OUTBOX + 1))],
    ),
    *held(
        "EscrowSqlQueryFailing",
        f'escrow_sql_query_up{{{J},query="entry_volume"}}',
        10,
        "medium",
        {**JL, "query": "entry_volume"},
    ),
    *held(
        "EscrowSqlDatabaseDown",
        f'escrow_sql_up{{{J},database="business"}}',
        5,
        "high",
        {**JL, "database": "business"},
    ),
    Case("Watchdog", "always fires", {}, "1m", [Fired("low", {}, "1")]),
]

# Ordinary days that used to page (issue 13). Each case fails on the rules it replaced.
HV_TOKEN = "HvTok1111111111111111111111111111111111111"
HV_WALLET = {"account": "treasury_hv", "mint": HV_TOKEN, "role": "treasury"}
CASES += [
    # Prometheus-side gaps: the exporter kept running (same process_start_time_seconds) and
    # nothing new happened, but `X unless X offset 15m` saw the series "appear" again.
    Case(
        "EscrowEventDecodeErrors",
        "a 3-minute scrape failure (stale markers) is quiet",
        {DECODE_ERR: "2x10 stale _x2 2x20", PST: "0x10 stale _x2 0x20"},
        "27m",
    ),
    Case(
        "EscrowEventDecodeErrors",
        "Prometheus down for 10 minutes is quiet",
        {DECODE_ERR: "2x10 _x10 2x20", PST: "0x10 _x10 0x20"},
        "33m",
    ),
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
    Case(
        "EscrowWalletBelowFloor",
        "a treasury holding a token without a configured floor is quiet",
        {
            BAL % ("treasury_gov", HV_TOKEN): "0.5x20",
            INFO % ("treasury_gov", "treasury", "token", "5"): "1x20",
        },
        "12m",
    ),
    Case(
        "EscrowWalletBelowFloor",
        "a treasury holding less of a token than its account floor fires",
        {
            BAL % ("treasury_hv", HV_TOKEN): f"{under(HV_FLOOR)}x20",
            INFO % ("treasury_hv", "treasury", "token", "4"): "1x20",
        },
        "12m",
        [Fired("high", {**HV_WALLET, "floor": HV_FLOOR}, under(HV_FLOOR))],
    ),
    Case(
        "EscrowWalletBelowFloor",
        "a fee wallet emptied by a planned sweep is quiet",
        {BAL % ("fee_usdc", USDC): "0x20", INFO % ("fee_usdc", "fee", "token", "2"): "1x20"},
        "12m",
    ),
]


def spike_case(
    title: str,
    series: dict[str, str],
    at: str,
    fires: list[Fired] | None = None,
    alert: str = "EscrowWithdrawalSpike",
) -> Case:
    return Case(alert, title, series, at, fires or [], interval="10m", evaluation_interval="10m")


_STALL = range(25, 43)  # 10m samples: a 3-hour stall, caught up in one cycle at its last sample
_STEADY = {j: 5.0 for j in range(1, 71)}  # 30 withdrawals/h on chain throughout
# A real spike right after a restart or a catch-up (1m samples): 7 hours at C a minute, then S a
# minute. S is chosen so the window passes factor x baseline within 5 minutes of the spike's
# start (the `for:`), whatever the site's factor; C keeps the hourly count above the floor.
_C = int(SPIKE_FLOOR // 60) + 1
_S = _C * (2 + int(15 * (SPIKE_FACTOR - 1)) + 1)
_RESTART = 420
_SPIKE = {j: float(_C if j <= _RESTART else _S) for j in range(1, _RESTART + 16)}
_SPIKE_AT = f"{_RESTART + 10}m"
_SPIKE_VALUE = str(50 * _C + 10 * _S)  # the window 10 minutes in: 50 minutes at C, 10 at S


def spike_after(restart: bool) -> dict[str, str]:
    """``_SPIKE`` on chain; the exporter restarted at ``_RESTART`` (one scrape missed, the minute's
    withdrawals ingested the next), or ingestion stalled for the 3 hours before and caught up then."""
    n = _RESTART + 15
    if restart:
        series = withdrawals(
            60, happened=_SPIKE, samples=n, ingested_at={_RESTART: _RESTART + 1}, down=(_RESTART,)
        )
        pst = promtool_values(
            [None if i == _RESTART else (0 if i < _RESTART else _RESTART * 60) for i in range(n + 1)]
        )
        lag = promtool_values([None if i == _RESTART else 0 for i in range(n + 1)])
    else:
        stalled = range(_RESTART - 180, _RESTART)
        series = withdrawals(60, happened=_SPIKE, samples=n, ingested_at=dict.fromkeys(stalled, _RESTART))
        pst = f"0x{n}"
        lag = promtool_values(
            [float(60 * (i - stalled.start + 1)) if i in stalled else 0.0 for i in range(n + 1)]
        )
    return {**series, PST: pst, LAG: lag}


CASES += [
    # The issue's demo: a steady 300 withdrawals/h, no 7-day history, exporter up for hours.
    spike_case(
        "a steady 300/h with no 7-day history is quiet",
        {**withdrawals(happened={j: 50.0 for j in range(1, 41)}, samples=40), LAG: "0x40", PST: "0x40"},
        "290m",
    ),
    # 30/h, ingestion stalled for 3h (lag grows), then the backlog is ingested at once: the
    # window under-counts during the stall and is exact again after the catch-up.
    spike_case(
        "the catch-up after a 3-hour ingestion stall is quiet",
        {
            **withdrawals(happened=_STEADY, samples=70, ingested_at=dict.fromkeys(_STALL, _STALL.stop - 1)),
            LAG: "0x24 600+600x17 0x28",
            PST: "0x70",
        },
        "470m",
    ),
    # The same stall where the exporter's lag could not see it (its RPC node's history stopped:
    # nothing was listed as pending, lag 0; EscrowRpcEndpointLagging's case). The old rules,
    # gated on the lag, paged on the catch-up.
    spike_case(
        "the catch-up after a 3-hour stall the lag could not see is quiet",
        {
            **withdrawals(happened=_STEADY, samples=70, ingested_at=dict.fromkeys(_STALL, _STALL.stop - 1)),
            LAG: "0x70",
            PST: "0x70",
        },
        "470m",
    ),
    # A first deployment backfills 1,000 historical withdrawals (days old) in its first cycle.
    spike_case(
        "a first deployment's backfill of 1,000 withdrawals is quiet",
        {
            **withdrawals(happened={j: 5.0 for j in range(1, 21)}, samples=20, backfilled=(1000, 1)),
            LAG: "0x20",
            PST: "0x20",
        },
        "40m",
    ),
    # The old rules silenced the first hour after any restart or catch-up: a blind spot.
    Case(
        "EscrowWithdrawalSpike",
        "a real spike 10 minutes after an exporter restart fires",
        spike_after(restart=True),
        _SPIKE_AT,
        [Fired("critical", PROG, _SPIKE_VALUE)],
    ),
    Case(
        "EscrowWithdrawalSpike",
        "a real spike 10 minutes after a 3-hour stall's catch-up fires",
        spike_after(restart=False),
        _SPIKE_AT,
        [Fired("critical", PROG, _SPIKE_VALUE)],
    ),
]


# ---- blind spots closed in issue 13 --------------------------------------------------------------
MEM = int(PARAMS["exporter_memory_bytes"])
FDS_RATIO = float(PARAMS["exporter_fds_ratio"])
RPC_P95 = float(PARAMS["rpc_latency_p95_seconds"])
RPC_ERR = round(float(PARAMS["rpc_error_ratio"]) * 100)
AUDIT_SILENCE = int(PARAMS["audit_log_silence_seconds"])
NOTIFY_QUEUE = float(PARAMS["prometheus_notification_queue_ratio"])
_QUEUE_CAPACITY = 10000
_QUEUE_FULL = round((NOTIFY_QUEUE + 1) / 2 * _QUEUE_CAPACITY)  # between the threshold and a full queue
_AMOUNT_SPIKE = 100 * int(2 * SPIKE_FACTOR + 4)  # USDC per 10 minutes
_AMOUNT_COUNT = max(10, int(SPIKE_FLOOR // 6) + 1)  # withdrawals per 10 minutes, above the floor
PROM_J = f'job="{PROMETHEUS_JOB}",instance="localhost:9090"'
PROM_JL = {"job": PROMETHEUS_JOB, "instance": "localhost:9090"}
AM_J = f'job="{ALERTMANAGER_JOB}",instance="localhost:9093"'
AM_JL = {"job": ALERTMANAGER_JOB, "instance": "localhost:9093"}
RPC_LAT = f'escrow_rpc_request_duration_seconds_bucket{{{J},endpoint="a",method="getSlot",le="%s"}}'
RPC_REQ = f'escrow_rpc_requests_total{{{J},endpoint="a",method="getSlot",outcome="%s"}}'
WD_AMOUNT = (
    f'escrow_event_amount_total{{{J},program="paid_match",event="{WITHDRAWAL}",field="amount",mint="{USDC}"}}'
)
WEBHOOK = f'escrow_business_payment_webhook_latency_seconds{{{J},provider="stripe"}}'
WEBHOOK_UP = f'escrow_sql_query_up{{{J},query="payment_webhook_latency"}}'
AUDIT_TS = f"escrow_business_audit_log_last_entry_timestamp_seconds{{{J}}}"


def humanize1024(v: float) -> str:
    """Prometheus' humanize1024."""
    prefixes = ["", "ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"]
    i = 0
    while abs(v) >= 1024 and i < len(prefixes) - 1:
        v /= 1024
        i += 1
    return f"{v:.4g}{prefixes[i]}"


def percent(v: float) -> str:
    """Prometheus' humanizePercentage of a ratio."""
    return f"{v * 100:.4g}%"


def rpc_latency(seconds_bucket: float) -> dict[str, str]:
    """60 requests a minute, all in the bucket whose upper edge is ``seconds_bucket``."""
    out = {}
    for le in [*RPC_BUCKETS, "+Inf"]:
        counted = le == "+Inf" or float(le) >= seconds_bucket
        out[RPC_LAT % le] = "0+60x40" if counted else "0x40"
    return out


def rpc_latency_outage() -> dict[str, str]:
    """60 requests a minute: slow (just above the threshold) until 20m, then fast (at or under
    the bucket below it)."""
    out = {}
    for le in [*RPC_BUCKETS, "+Inf"]:
        edge = float("inf") if le == "+Inf" else float(le)
        values = []
        for t in range(41):
            slow, fast = 60 * min(t, 20), 60 * max(0, t - 20)
            values.append(str((slow if edge >= _NEXT_EDGE else 0) + (fast if edge >= _FAST_EDGE else 0)))
        out[RPC_LAT % le] = " ".join(values)
    return out


_NEXT_EDGE = min(b for b in (float(x) for x in RPC_BUCKETS) if b > RPC_P95)
_PREV_EDGE = max([0.0, *(b for b in (float(x) for x in RPC_BUCKETS) if b < RPC_P95)])
_FAST_EDGE = min(float(x) for x in RPC_BUCKETS)

CASES += [
    *gauge(
        "EscrowExporterMemoryHigh",
        f"process_resident_memory_bytes{{{J}}}",
        str(MEM + 1024),
        str(MEM),
        "17m",
        [Fired("medium", JL, humanize1024(MEM + 1024))],
    ),
    Case(
        "EscrowExporterFdsNearLimit",
        "open fds 5% above the ratio fires",
        {
            f"process_open_fds{{{J}}}": f"{round(FDS_RATIO * 1000) + 50}x20",
            f"process_max_fds{{{J}}}": "1000x20",
        },
        "12m",
        [Fired("medium", JL, percent((round(FDS_RATIO * 1000) + 50) / 1000))],
    ),
    Case(
        "EscrowExporterFdsNearLimit",
        "open fds exactly at the ratio is quiet",
        {f"process_open_fds{{{J}}}": f"{round(FDS_RATIO * 1000)}x20", f"process_max_fds{{{J}}}": "1000x20"},
        "12m",
    ),
    Case(
        "EscrowRpcLatencyHigh",
        f"every request between {RPC_P95:g}s and {_NEXT_EDGE:g}s fires",
        rpc_latency(_NEXT_EDGE),
        "22m",
        [Fired("medium", {**JL, "endpoint": "a"}, f"{RPC_P95 + 0.95 * (_NEXT_EDGE - RPC_P95):.2f}")],
    ),
    Case(
        "EscrowRpcLatencyHigh",
        f"every request between {_PREV_EDGE:g}s and {RPC_P95:g}s is quiet",
        rpc_latency(RPC_P95),
        "22m",
    ),
    Case(
        "EscrowRpcErrorRatio",
        f"{RPC_ERR + 5}% of requests timing out fires",
        {RPC_REQ % "success": f"0+{95 - RPC_ERR}x40", RPC_REQ % "timeout": f"0+{RPC_ERR + 5}x40"},
        "22m",
        [Fired("medium", {**JL, "endpoint": "a"}, percent((RPC_ERR + 5) / 100))],
    ),
    # An outage: every request timing out from 0 to 20m, then all succeed again.
    Case(
        "EscrowRpcErrorRatio",
        "5 minutes after an outage's timeouts stopped is quiet",
        {RPC_REQ % "success": "0x20 0+100x20", RPC_REQ % "timeout": "0+100x20 2000x20"},
        "25m",
    ),
    Case(
        "EscrowRpcLatencyHigh",
        "5 minutes after an outage's slow timeouts stopped is quiet",
        rpc_latency_outage(),
        "25m",
    ),
    Case(
        "EscrowRpcErrorRatio",
        f"exactly {RPC_ERR}% of requests failing is quiet",
        {RPC_REQ % "success": f"0+{100 - RPC_ERR}x40", RPC_REQ % "error": f"0+{RPC_ERR}x40"},
        "22m",
    ),
    # 600 USDC an hour for 5 hours (60 withdrawals/h, above the floor), then 10x (at the default
    # factor 3: 2 x factor + 4) as much: no 7-day history.
    spike_case(
        f"{6 * _AMOUNT_SPIKE:,} USDC/h after 5 hours at 600/h fires",
        {
            WD_AMOUNT: on_chain({j: 100.0 if j <= 30 else _AMOUNT_SPIKE for j in range(1, 43)}, 42, 6)[0],
            WD_AMOUNT_BT: on_chain({j: 100.0 if j <= 30 else _AMOUNT_SPIKE for j in range(1, 43)}, 42, 6)[1],
            **withdrawals(happened={j: float(_AMOUNT_COUNT) for j in range(1, 43)}, samples=42),
            **SETTLED,
        },
        "410m",
        [Fired("critical", {**PROG, "mint": USDC}, f"{6 * _AMOUNT_SPIKE:.2f}")],
        alert="EscrowWithdrawalAmountSpike",
    ),
    spike_case(
        "a steady 600 USDC/h is quiet",
        {
            WD_AMOUNT: "0+100x42",
            WD_AMOUNT_BT: on_chain({j: 100.0 for j in range(1, 43)}, 42, 6)[1],
            **withdrawals(happened={j: float(_AMOUNT_COUNT) for j in range(1, 43)}, samples=42),
            **SETTLED,
        },
        "410m",
        alert="EscrowWithdrawalAmountSpike",
    ),
    *new_counter(
        "EscrowLedgerWriteErrors",
        "escrow_business_write_errors_total",
        {"component": "ledger"},
        "critical",
        created_by_increment=True,
    ),
    # write_errors_total is COUNT(*) of a table: deleting old rows lowers it.
    Case(
        "EscrowLedgerWriteErrors",
        "a retention purge of old write_errors rows is quiet",
        {f'escrow_business_write_errors_total{{{J},component="ledger"}}': "50x10 20x20", PST: "0x40"},
        "15m",
    ),
    Case(
        "EscrowAuditLogStale",
        "no entry since 0 fires once older than the threshold for 5m",
        {AUDIT_TS: "0x600"},
        f"{-(-AUDIT_SILENCE // 60) + 7}m",
        [Fired("high", JL, humanize_duration((-(-AUDIT_SILENCE // 60) + 7) * 60))],
    ),
    Case(
        "EscrowAuditLogStale",
        "newest entry exactly the threshold old is quiet",
        {AUDIT_TS: f"-{AUDIT_SILENCE}+60x600"},
        f"{-(-AUDIT_SILENCE // 60) + 7}m",
    ),
    Case(
        "EscrowPaymentWebhooksStopped",
        "webhooks stopping at 20m fires at 45m",
        {WEBHOOK: "30x20", WEBHOOK_UP: "1x60"},
        "45m",
        [Fired("critical", {**JL, "provider": "stripe"}, "30")],
    ),
    Case(
        "EscrowPaymentWebhooksStopped",
        "webhooks arriving is quiet",
        {WEBHOOK: "30x60", WEBHOOK_UP: "1x60"},
        "45m",
    ),
    Case(
        "EscrowPaymentWebhooksStopped",
        "the query failing (EscrowSqlQueryFailing's case) is quiet",
        {WEBHOOK: "30x20", WEBHOOK_UP: "1x20 0x40"},
        "45m",
    ),
    Case(
        "EscrowAlertmanagerNotificationsFailing",
        "PagerDuty deliveries failing every minute fires",
        {f'alertmanager_notifications_failed_total{{{AM_J},integration="pagerduty"}}': "0x5 1+1x40"},
        "25m",
        [Fired("high", {**AM_JL, "integration": "pagerduty"}, "10")],
    ),
    Case(
        "EscrowAlertmanagerNotificationsFailing",
        "one failed delivery (retried) is quiet",
        {f'alertmanager_notifications_failed_total{{{AM_J},integration="pagerduty"}}': "0x5 1x40"},
        "20m",
    ),
    Case(
        "EscrowPrometheusRuleFailures",
        "a rule group failing every minute fires",
        {f'prometheus_rule_evaluation_failures_total{{{PROM_J},rule_group="escrow.treasury"}}': "0x5 1+1x40"},
        "20m",
        [Fired("high", {**PROM_JL, "rule_group": "escrow.treasury"}, "10")],
    ),
    Case(
        "EscrowPrometheusRuleFailures",
        "no failed evaluation is quiet",
        {f'prometheus_rule_evaluation_failures_total{{{PROM_J},rule_group="escrow.treasury"}}': "0x40"},
        "20m",
    ),
    Case(
        "EscrowPrometheusNotificationsDropped",
        "notifications dropped every minute fires",
        {
            f"prometheus_notifications_dropped_total{{{PROM_J}}}": "0x5 1+1x40",
            f"prometheus_notifications_queue_length{{{PROM_J}}}": "0x40",
            f"prometheus_notifications_queue_capacity{{{PROM_J}}}": "10000x40",
        },
        "20m",
        [Fired("high", PROM_JL, "10.00")],
    ),
    Case(
        "EscrowPrometheusNotificationsDropped",
        "a queue filled past the threshold (nothing dropped yet) fires",
        {
            f"prometheus_notifications_dropped_total{{{PROM_J}}}": "0x40",
            f"prometheus_notifications_queue_length{{{PROM_J}}}": f"{_QUEUE_FULL}x40",
            f"prometheus_notifications_queue_capacity{{{PROM_J}}}": f"{_QUEUE_CAPACITY}x40",
        },
        "20m",
        [Fired("high", PROM_JL, f"{_QUEUE_FULL / _QUEUE_CAPACITY:.2f}")],
    ),
    Case(
        "EscrowPrometheusNotificationsDropped",
        "a queue filled to the threshold (nothing dropped) is quiet",
        {
            f"prometheus_notifications_dropped_total{{{PROM_J}}}": "0x40",
            f"prometheus_notifications_queue_length{{{PROM_J}}}": f"{round(NOTIFY_QUEUE * _QUEUE_CAPACITY)}x40",
            f"prometheus_notifications_queue_capacity{{{PROM_J}}}": f"{_QUEUE_CAPACITY}x40",
        },
        "20m",
    ),
    Case(
        "EscrowPrometheusNotificationsDropped",
        "a Prometheus restart (a 3-minute gap, counters back to 0) is quiet",
        {
            f"prometheus_notifications_dropped_total{{{PROM_J}}}": "500x15 _x3 0x22",
            f"prometheus_notifications_queue_length{{{PROM_J}}}": "0x15 _x3 0x22",
            f"prometheus_notifications_queue_capacity{{{PROM_J}}}": f"{_QUEUE_CAPACITY}x15 _x3 {_QUEUE_CAPACITY}x22",
        },
        "25m",
    ),
    *held(
        "EscrowMonitoringConfigReloadFailed",
        f"prometheus_config_last_reload_successful{{{PROM_J}}}",
        10,
        "medium",
        PROM_JL,
    ),
]


# ---- Exact reconciliation (issue 12) ---------------------------------------------------------------
# Kept in one block beside bundle/config.py's reconciliation_alerts(), so the two move together.
_DRIFT = f'escrow_reconciliation_drift_raw{{{J},account="escrow_sol",mint="SOL",views="chain_events"}}'
_STREAK = f'escrow_reconciliation_mismatch_streak{{{J},account="escrow_sol",mint="SOL",views="chain_events"}}'
_MISMATCH = {"account": "escrow_sol", "mint": "SOL", "views": "chain_events"}
_UNMATCHED = f'escrow_reconciliation_unmatched{{{J},kind="%s"}}'
_AGE = f'escrow_reconciliation_slot_age_seconds{{{J},views="chain_ledger"}}'
_AGE_LABELS = {**JL, "views": "chain_ledger"}

# Boundaries from the site's thresholds: N agreeing runs; ticket and page ages in seconds.
AGREEING_RUNS = int(float(PARAMS["reconciliation_agreeing_runs"]))
BLOCKED_TICKET_S = int(float(PARAMS["reconciliation_blocked_ticket_seconds"]))
BLOCKED_PAGE_S = int(float(PARAMS["reconciliation_blocked_page_seconds"]))


def _streak_to(n: int) -> str:
    """The exporter's mismatch streak counting 0, 1, .. n one reconciliation a minute."""
    return f"0+1x{n}" if n else "0"


RECONCILIATION_CASES: list[Case] = [
    Case(
        "EscrowReconciliationMismatch",
        f"{AGREEING_RUNS} agreeing reconciliations of a 1-lamport drift fire with the drift",
        {_DRIFT: "0 -1x40", _STREAK: f"{_streak_to(AGREEING_RUNS)} {AGREEING_RUNS}x20"},
        f"{AGREEING_RUNS + 1}m",
        [Fired("critical", _MISMATCH, "-1")],
    ),
    Case(
        "EscrowReconciliationMismatch",
        f"{AGREEING_RUNS - 1} agreeing reconciliation(s), then agreement (a transient), is quiet",
        {_DRIFT: f"0 5x{max(AGREEING_RUNS - 1, 0)} 0x20", _STREAK: f"{_streak_to(AGREEING_RUNS - 1)} 0x20"},
        f"{AGREEING_RUNS - 1}m",
    ),
    Case(
        "EscrowReconciliationMismatch",
        "views that agree are quiet",
        {_DRIFT: "0x20", _STREAK: "0x20"},
        "5m",
    ),
    Case(
        "EscrowReconciliationUnmatched",
        "an escrow on chain with no ledger row fires",
        {_UNMATCHED % "chain_account_without_ledger_row": "0 1x20"},
        "3m",
        [Fired("critical", {"kind": "chain_account_without_ledger_row"}, "1")],
    ),
    Case(
        "EscrowReconciliationUnmatched",
        "every account matched is quiet",
        {
            _UNMATCHED % "chain_account_without_ledger_row": "0x20",
            _UNMATCHED % "ledger_row_without_chain_account": "0x20",
        },
        "5m",
    ),
    Case(
        "EscrowLedgerEntryNotOnChain",
        "an entry not on chain for 5m fires",
        {_UNMATCHED % "ledger_entry_not_on_chain": "0 2x20"},
        "7m",
        [Fired("high", {"kind": "ledger_entry_not_on_chain"}, "2")],
    ),
    Case(
        "EscrowLedgerEntryNotOnChain",
        "no such entry is quiet",
        {_UNMATCHED % "ledger_entry_not_on_chain": "0x20"},
        "7m",
    ),
    Case(
        "EscrowReconciliationBlocked",
        f"last reconciled {BLOCKED_TICKET_S + 1}s ago opens a ticket",
        {_AGE: f"{BLOCKED_TICKET_S + 1}x30"},
        "5m",
        [Fired("high", _AGE_LABELS, humanize_duration(BLOCKED_TICKET_S + 1))],
    ),
    Case(
        "EscrowReconciliationBlocked",
        f"last reconciled exactly {BLOCKED_TICKET_S}s ago (the ticket threshold) is quiet",
        {_AGE: f"{BLOCKED_TICKET_S}x30"},
        "5m",
    ),
    Case(
        "EscrowReconciliationBlocked",
        f"last reconciled {BLOCKED_PAGE_S + 1}s ago pages",
        {_AGE: f"{BLOCKED_PAGE_S + 1}x30"},
        "5m",
        [
            Fired("critical", _AGE_LABELS, humanize_duration(BLOCKED_PAGE_S + 1)),
            Fired("high", _AGE_LABELS, humanize_duration(BLOCKED_PAGE_S + 1)),
        ],
    ),
    Case(
        "EscrowReconciliationBlocked",
        f"last reconciled exactly {BLOCKED_PAGE_S}s ago (the page threshold) only tickets",
        {_AGE: f"{BLOCKED_PAGE_S}x30"},
        "5m",
        [Fired("high", _AGE_LABELS, humanize_duration(BLOCKED_PAGE_S))],
    ),
    # Blocked from 0 (the age grows a minute a minute): the ticket, then the page, on time.
    Case(
        "EscrowReconciliationBlocked",
        "blocked and growing: pages once past the page threshold",
        {_AGE: f"0+60x{BLOCKED_PAGE_S // 60 + 10}"},
        f"{BLOCKED_PAGE_S // 60 + 1}m",
        [
            Fired("critical", _AGE_LABELS, humanize_duration((BLOCKED_PAGE_S // 60 + 1) * 60)),
            Fired("high", _AGE_LABELS, humanize_duration((BLOCKED_PAGE_S // 60 + 1) * 60)),
        ],
    ),
    Case(
        "EscrowReconciliationBlocked",
        "reconciling every 30 seconds is quiet",
        {_AGE: "30x30"},
        "20m",
    ),
]
RECONCILIATION_CASES.append(
    Case(
        "EscrowBalanceMismatch",
        "a skew where exact reconciliation runs in mode slot is quiet (the exact alert decides)",
        {
            BAL % ("escrow_usdc", USDC): "100x20",
            LEDGER % ("escrow_usdc", USDC): "100.5x20",
            f'escrow_reconciliation_info{{{J},mode="slot",program="paid_match"}}': "1x20",
        },
        "12m",
    )
)
CASES.extend(RECONCILIATION_CASES)
# ---- end of exact reconciliation -------------------------------------------------------------------


# ---- Capacity forecasts: a linear growth whose forecast passes the budget fires after 3h of history
# and 1h pending; the same size without growth, exactly at the budget, is quiet; so is fast growth
# with less than 3h of history (a fresh file or TSDB grows fastest at first).
FORECAST_MIN = int(PARAMS["capacity_forecast_seconds"]) // 60
STATE_BUDGET = int(PARAMS["state_file_budget_bytes"])
TSDB_BUDGET = int(PARAMS["prometheus_tsdb_budget_bytes"])
STATE = f"escrow_exporter_state_file_bytes{{{J}}}"
TSDB_PARTS = (
    f"prometheus_tsdb_storage_blocks_bytes{{{PROM_J}}}",
    f"prometheus_tsdb_wal_storage_size_bytes{{{PROM_J}}}",
    f"prometheus_tsdb_head_chunks_storage_size_bytes{{{PROM_J}}}",
)


def _growth(budget: int) -> int:
    """Bytes per minute that reach twice the budget over the forecast horizon."""
    return -(-2 * budget // FORECAST_MIN)


def _forecast_at(start: int, per_min: int, minute: int) -> str:
    return humanize1024(start + per_min * (minute + FORECAST_MIN))


def _tsdb(blocks: str) -> dict[str, str]:
    return {TSDB_PARTS[0]: blocks, TSDB_PARTS[1]: "100000000x300", TSDB_PARTS[2]: "10000000x300"}


_STATE_G, _TSDB_G = _growth(STATE_BUDGET), _growth(TSDB_BUDGET)
CASES += [
    Case(
        "EscrowCapacityForecast",
        "a state file growing past its budget within the horizon fires",
        {STATE: f"1000000+{_STATE_G}x300"},
        "250m",
        [
            Fired(
                "low",
                {**JL, "resource": "state_file", "budget": str(STATE_BUDGET)},
                _forecast_at(1000000, _STATE_G, 250),
            )
        ],
    ),
    Case(
        "EscrowCapacityForecast",
        "a state file exactly at its budget, not growing, is quiet",
        {STATE: f"{STATE_BUDGET}x300"},
        "250m",
    ),
    Case(
        "EscrowCapacityForecast",
        "a state file growing fast with under 3h of history is quiet",
        {STATE: f"1000000+{_STATE_G}x300"},
        "170m",
    ),
    Case(
        "EscrowCapacityForecast",
        "a Prometheus TSDB growing past its budget within the horizon fires",
        _tsdb(f"1000000000+{_TSDB_G}x300"),
        "250m",
        [
            Fired(
                "low",
                {**PROM_JL, "resource": "prometheus_tsdb", "budget": str(TSDB_BUDGET)},
                _forecast_at(1110000000, _TSDB_G, 250),
            )
        ],
    ),
    Case(
        "EscrowCapacityForecast",
        "a Prometheus TSDB exactly at its budget, not growing, is quiet",
        _tsdb(f"{TSDB_BUDGET - 110000000}x300"),
        "250m",
    ),
]


# The ledger database (postgres_exporter): the same forecast per database; PostgreSQL's own
# databases are never forecast.
LEDGER_BUDGET = int(PARAMS["ledger_database_budget_bytes"])
_PG = f'job="{SITE.postgres_job}",instance="db:9187"'
_PG_L = {"job": SITE.postgres_job, "instance": "db:9187"}
LEDGER_DB = f'pg_database_size_bytes{{{_PG},datname="escrow"}}'
_LEDGER_G = _growth(LEDGER_BUDGET)
CASES += [
    Case(
        "EscrowCapacityForecast",
        "a ledger database growing past its budget within the horizon fires",
        {LEDGER_DB: f"1000000+{_LEDGER_G}x300", f'pg_database_size_bytes{{{_PG},datname="postgres"}}': "8000000x300"},
        "250m",
        [
            Fired(
                "low",
                {**_PG_L, "datname": "escrow", "resource": "ledger_database", "budget": str(LEDGER_BUDGET)},
                _forecast_at(1000000, _LEDGER_G, 250),
            )
        ],
    ),
    Case(
        "EscrowCapacityForecast",
        "a ledger database exactly at its budget, not growing, is quiet",
        {LEDGER_DB: f"{LEDGER_BUDGET}x300"},
        "250m",
    ),
    Case(
        "EscrowCapacityForecast",
        "a ledger database growing fast with under 3h of history is quiet",
        {LEDGER_DB: f"1000000+{_LEDGER_G}x300"},
        "170m",
    ),
    Case(
        "EscrowCapacityForecast",
        "PostgreSQL's own database growing fast is quiet",
        {f'pg_database_size_bytes{{{_PG},datname="postgres"}}': f"1000000+{_LEDGER_G}x300"},
        "250m",
    ),
]  # fmt: skip


# ---- Uptime, SLOs and platform health (issue 17): bundle/slo_cases.py ------------------------------
def _issue17_cases() -> list[Case]:
    from bundle.slo_cases import cases

    return cases()


CASES.extend(_issue17_cases())
# ---- Payments and business (issue 17): bundle/payments.py -----------------------------------------
_PAY = f'escrow_business_payment_attempts_total{{{J},provider="stripe",outcome="%s"}}'
_DISPUTES = f'escrow_business_disputes_total{{{J},provider="%s",kind="%s"}}'
_STRIPE = {"provider": "stripe"}
_CB = {"kind": "chargeback"}
_PAY_MED = round(float(PARAMS["failed_payment_ratio_medium"]) * 100)  # in %, e.g. 2
_PAY_HIGH = round(float(PARAMS["failed_payment_ratio_high"]) * 100)
_PAY_MID, _PAY_OVER = _PAY_MED + 1, _PAY_HIGH + 5
_CB_HIGH = int(PARAMS["chargebacks_per_hour_high"])
_CB_CRIT = int(PARAMS["chargebacks_per_hour_critical"])
_CB_RATIO = float(PARAMS["chargeback_payment_ratio"])
# A busy hour, steady for 70 minutes: _CB_BUSY chargebacks (past the critical count, a multiple of
# 60 so the per-minute steps are whole) among payments that make them half the allowed share.
_CB_BUSY = 60 * -(-(_CB_CRIT + 1) // 60)
_CB_PAYMENTS_PER_MIN = math.ceil(round(2 * _CB_BUSY / (_CB_RATIO * 60), 6))


def _payments(failed_per_min: float, succeeded_per_min: float) -> dict[str, str]:
    return {_PAY % "failed": f"0+{failed_per_min}x15", _PAY % "succeeded": f"0+{succeeded_per_min}x15"}


PAYMENT_CASES: list[Case] = [
    Case(
        "EscrowFailedPaymentsHigh",
        f"{_PAY_MID}% of stripe's attempts failing for 12 minutes fires medium",
        _payments(_PAY_MID, 100 - _PAY_MID),
        "12m",
        [Fired("medium", _STRIPE, f"{_PAY_MID}%")],
    ),
    Case(
        "EscrowFailedPaymentsHigh",
        f"{_PAY_OVER}% failing fires high and medium",
        _payments(_PAY_OVER, 100 - _PAY_OVER),
        "12m",
        [Fired("high", _STRIPE, f"{_PAY_OVER}%"), Fired("medium", _STRIPE, f"{_PAY_OVER}%")],
    ),
    Case(
        "EscrowFailedPaymentsHigh",
        f"{max(_PAY_MED - 1, 0)}% failing (under the {_PAY_MED}% threshold) is quiet",
        _payments(max(_PAY_MED - 1, 0), 100 - max(_PAY_MED - 1, 0)),
        "12m",
    ),
    Case(
        "EscrowFailedPaymentsHigh",
        "half failing at 12 attempts an hour is quiet (too few to judge)",
        _payments(0.1, 0.1),
        "12m",
    ),
    Case(
        "EscrowChargebackSpike",
        f"{_CB_HIGH + 2} chargebacks in a minute page high (no payment series: the count alone decides)",
        {_DISPUTES % ("stripe", "chargeback"): f"0x5 {_CB_HIGH + 2}x10"},
        "8m",
        [Fired("high", _CB, str(_CB_HIGH + 2))],
    ),
    Case(
        "EscrowChargebackSpike",
        f"{_CB_CRIT + 5} chargebacks across two providers page critical (and high)",
        {
            _DISPUTES % ("stripe", "chargeback"): f"0x5 {_CB_CRIT}x10",
            _DISPUTES % ("moonpay", "chargeback"): "0x5 5x10",
        },
        "8m",
        [Fired("critical", _CB, str(_CB_CRIT + 5)), Fired("high", _CB, str(_CB_CRIT + 5))],
    ),
    Case(
        "EscrowChargebackSpike",
        f"{_CB_HIGH} chargebacks (at the threshold) are quiet",
        {_DISPUTES % ("stripe", "chargeback"): f"0x5 {_CB_HIGH}x10"},
        "8m",
    ),
    Case(
        "EscrowChargebackSpike",
        "many inquiries (not chargebacks) are quiet",
        {_DISPUTES % ("stripe", "inquiry"): f"0x5 {_CB_CRIT * 2}x10"},
        "8m",
    ),
    Case(
        "EscrowChargebackSpike",
        f"a busy hour: {_CB_BUSY} chargebacks among {_CB_PAYMENTS_PER_MIN * 60} succeeded payments "
        f"(half of {_CB_RATIO}) are quiet",
        {
            _DISPUTES % ("stripe", "chargeback"): f"0+{_CB_BUSY // 60}x70",
            _PAY % "succeeded": f"0+{_CB_PAYMENTS_PER_MIN}x70",
        },
        "65m",
    ),
    Case(
        "EscrowChargebackSpike",
        f"the same busy hour with {_CB_BUSY * 4} chargebacks (twice the share) pages critical (and high)",
        {
            _DISPUTES % ("stripe", "chargeback"): f"0+{_CB_BUSY * 4 // 60}x70",
            _PAY % "succeeded": f"0+{_CB_PAYMENTS_PER_MIN}x70",
        },
        "65m",
        [Fired("critical", _CB, str(_CB_BUSY * 4)), Fired("high", _CB, str(_CB_BUSY * 4))],
    ),
    Case(
        "EscrowChargebackSpike",
        "a wave that ended more than an hour ago is quiet again",
        {_DISPUTES % ("stripe", "chargeback"): f"0 {_CB_CRIT * 2}x66"},
        "65m",
    ),
]
CASES.extend(PAYMENT_CASES)
_BACKUP = 'escrow_backup_last_success_timestamp_seconds{job="node",instance="host:9100",source="state"}'
_BACKUP_AGE = int(PARAMS["backup_max_age_seconds"])
_KSM_BACKUP = (
    'kube_cronjob_status_last_successful_time{job="kube-state-metrics",namespace="escrow-monitoring",'
    'cronjob="escrow-exporter-backup"}'
)
# The last backup finished at Unix time 0 (the test's start): its age is the evaluation time.
# Evaluated every 10m: pending at the first evaluation past the threshold, firing 10m later.
_BACKUP_OVER_M = (_BACKUP_AGE // 600 + 2) * 10
CASES += [
    Case(
        "EscrowBackupStale",
        f"no backup for {_BACKUP_OVER_M}m fires",
        {_BACKUP: f"0x{_BACKUP_OVER_M + 5}"},
        f"{_BACKUP_OVER_M}m",
        [Fired("high", {"source": "state"}, humanize_duration(_BACKUP_OVER_M * 60))],
        interval="10m",
        evaluation_interval="10m",
    ),
    Case(
        "EscrowBackupStale",
        "a backup every 6 hours is quiet",
        {_BACKUP: " ".join(f"{6 * 3600 * (i // 36)}" for i in range(_BACKUP_OVER_M // 10 + 5))},
        f"{_BACKUP_OVER_M}m",
        interval="10m",
        evaluation_interval="10m",
    ),
    # Kubernetes: the CronJob's last success from kube-state-metrics, no textfile at all.
    Case(
        "EscrowBackupStale",
        f"the backup CronJob's last success {_BACKUP_OVER_M}m ago (kube-state-metrics) fires",
        {_KSM_BACKUP: f"0x{_BACKUP_OVER_M + 5}"},
        f"{_BACKUP_OVER_M}m",
        [Fired("high", {"source": "state"}, humanize_duration(_BACKUP_OVER_M * 60))],
        interval="10m",
        evaluation_interval="10m",
    ),
    Case(
        "EscrowBackupStale",
        f"the ledger's pg_dump CronJob failing for {_BACKUP_OVER_M}m fires as source=ledger, the state's quiet",
        {
            _KSM_BACKUP.replace("escrow-exporter-backup", "escrow-ledger-backup"): f"0x{_BACKUP_OVER_M + 5}",
            _KSM_BACKUP: " ".join(f"{6 * 3600 * (i // 36)}" for i in range(_BACKUP_OVER_M // 10 + 5)),
        },
        f"{_BACKUP_OVER_M}m",
        [Fired("high", {"source": "ledger"}, humanize_duration(_BACKUP_OVER_M * 60))],
        interval="10m",
        evaluation_interval="10m",
    ),
    Case(
        "EscrowBackupStale",
        "the backup CronJob succeeding every 6 hours (kube-state-metrics) is quiet",
        {_KSM_BACKUP: " ".join(f"{6 * 3600 * (i // 36)}" for i in range(_BACKUP_OVER_M // 10 + 5))},
        f"{_BACKUP_OVER_M}m",
        interval="10m",
        evaluation_interval="10m",
    ),
]
# ---- end of payments and business ------------------------------------------------------------------
