"""promtool unit-test cases for every alert: it fires, it stays quiet just below the threshold.

Each case gives input series, an evaluation time and the alerts expected then, with their labels
and the rendered value. ``bundle.render`` turns them into ``prometheus/tests/*.yml``; the expected
description is the rule's template with ``$labels``/``$value`` substituted, so promtool checks
both the rule and what the description really says.
"""

from __future__ import annotations

from dataclasses import dataclass, field

J = 'job="escrow-exporter",instance="exporter:10190"'
JL = {"job": "escrow-exporter", "instance": "exporter:10190"}
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


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


def new_counter(alert: str, metric: str, labels: dict[str, str], severity: str) -> list[Case]:
    sel = ",".join([J] + [f'{k}="{v}"' for k, v in labels.items()])
    s = f"{metric}{{{sel}}}"
    return [
        Case(
            alert,
            "counter grows by 1 fires",
            {s: "0x20 1x10"},
            "22m",
            [Fired(severity, {**JL, **labels}, "1")],
        ),
        Case(
            alert,
            "a new series starting at 3 fires",
            {s: "_x19 3x10"},
            "22m",
            [Fired(severity, {**JL, **labels}, "3")],
        ),
        Case(alert, "a flat counter is quiet", {s: "2x40"}, "22m"),
    ]


PROG = {"program": "paid_match"}
WD = f'escrow_events_total{{{J},program="paid_match",event="WithdrawalProcessed"}}'
TX_OK = f'escrow_transactions_total{{{J},program="paid_match",status="success"}}'
TX_FAIL = f'escrow_transactions_total{{{J},program="paid_match",status="failed"}}'
CU = f'escrow_compute_units_bucket{{{J},program="paid_match",instruction="settle_match",le="%s"}}'
BAL = f'escrow_account_balance{{{J},account="%s",mint="%s"}}'
INFO = f'escrow_account_info{{{J},account="%s",role="%s",kind="%s",address="Addr%s"}}'
TS = f'escrow_account_balance_updated_timestamp_seconds{{{J},account="escrow_usdc"}}'
RECON = f"escrow_business_reconciliation_last_success_timestamp_seconds{{{J}}}"
LAG = f'escrow_ingest_lag_seconds{{{J},program="paid_match"}}'


def cu_buckets(bucket_with_observations: str) -> dict[str, str]:
    """Ten observations a minute, all in one bucket (cumulative counts above it)."""
    les = ["100000", "180000", "200000", "+Inf"]
    start = les.index(bucket_with_observations)
    return {CU % le: ("0+10x40" if i >= start else "0x40") for i, le in enumerate(les)}


CASES: list[Case] = [
    *held("EscrowExporterDown", f"up{{{J}}}", 2, "high", JL),
    Case(
        "EscrowExporterAbsent",
        "no target for 6m fires",
        {'up{job="other",instance="x:1"}': "1x10"},
        "6m",
        [Fired("high", {"job": "escrow-exporter"}, "1")],
    ),
    Case("EscrowExporterAbsent", "a target that is up is quiet", {f"up{{{J}}}": "1x10"}, "6m"),
    *held(
        "EscrowCollectorFailing",
        f'escrow_exporter_collector_up{{{J},collector="balances"}}',
        5,
        "medium",
        {**JL, "collector": "balances"},
    ),
    *held(
        "EscrowAppProbeFailed",
        'probe_success{job="escrow-app-health",instance="http://app:8080/readyz"}',
        2,
        "high",
        {"job": "escrow-app-health", "instance": "http://app:8080/readyz"},
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
        "151 slots behind fires",
        {
            f'escrow_rpc_slot{{{J},endpoint="a"}}': "10000x20",
            f'escrow_rpc_slot{{{J},endpoint="b"}}': "9849x20",
        },
        "7m",
        [Fired("low", {**JL, "endpoint": "b"}, "151")],
    ),
    Case(
        "EscrowRpcEndpointLagging",
        "150 slots behind is quiet",
        {
            f'escrow_rpc_slot{{{J},endpoint="a"}}': "10000x20",
            f'escrow_rpc_slot{{{J},endpoint="b"}}': "9850x20",
        },
        "7m",
    ),
    Case(
        "EscrowRpcFailoverFlapping",
        "5 failovers in 30m fires",
        {f"escrow_rpc_failovers_total{{{J}}}": "0x40 1 2 3 4 5x10"},
        "50m",
        [Fired("medium", JL, "5")],
    ),
    Case(
        "EscrowRpcFailoverFlapping",
        "4 failovers in 30m is quiet",
        {f"escrow_rpc_failovers_total{{{J}}}": "0x40 1 2 3 4x10"},
        "50m",
    ),
    Case(
        "EscrowBalanceMismatch",
        "0.5 USDC missing on chain for 11m fires",
        {
            BAL % ("escrow_usdc", USDC): "100x20",
            f'escrow_ledger_escrow_balance{{{J},account="escrow_usdc",mint="{USDC}"}}': "100.5x20",
        },
        "12m",
        [Fired("critical", {"account": "escrow_usdc", "mint": USDC}, "-0.5")],
    ),
    Case(
        "EscrowBalanceMismatch",
        "0.5 more on chain than booked fires",
        {
            BAL % ("escrow_usdc", USDC): "101x20",
            f'escrow_ledger_escrow_balance{{{J},account="escrow_usdc",mint="{USDC}"}}': "100.5x20",
        },
        "12m",
        [Fired("critical", {"account": "escrow_usdc", "mint": USDC}, "0.5")],
    ),
    Case(
        "EscrowBalanceMismatch",
        "chain and ledger read at different moments (disagree every other minute) is quiet",
        {
            BAL % ("escrow_usdc", USDC): " ".join(["100 105"] * 10),
            f'escrow_ledger_escrow_balance{{{J},account="escrow_usdc",mint="{USDC}"}}': "100x20",
        },
        "12m",
    ),
    Case(
        "EscrowBalanceMismatch",
        "a drift under the tolerance is quiet",
        {
            BAL % ("escrow_usdc", USDC): "100x20",
            f'escrow_ledger_escrow_balance{{{J},account="escrow_usdc",mint="{USDC}"}}': "100.0078125x20",
        },
        "12m",
    ),
    Case(
        "EscrowBalanceStale",
        "not refreshed for 17m fires",
        {TS: "0+60x5 300x30"},
        "22m",
        [Fired("high", {"account": "escrow_usdc"}, "17m 0s")],
    ),
    Case("EscrowBalanceStale", "refreshed exactly 600s ago is quiet", {TS: "-600+60x40"}, "22m"),
    Case(
        "EscrowBalanceStale",
        "a balance series that vanished fires",
        {TS: "0+60x10"},
        "36m",
        [Fired("high", {"account": "escrow_usdc"}, "30m 0s")],
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
        "treasury 0.5 SOL and fee 99.5 USDC fire; escrow role ignored",
        {
            BAL % ("treasury_sol", "SOL"): "0.5x20",
            INFO % ("treasury_sol", "treasury", "sol", "1"): "1x20",
            BAL % ("fee_usdc", USDC): "99.5x20",
            INFO % ("fee_usdc", "fee", "token", "2"): "1x20",
            BAL % ("escrow_usdc", USDC): "0x20",
            INFO % ("escrow_usdc", "escrow", "token", "3"): "1x20",
        },
        "12m",
        [
            Fired("high", {"account": "treasury_sol", "mint": "SOL", "role": "treasury"}, "0.5"),
            Fired("high", {"account": "fee_usdc", "mint": USDC, "role": "fee"}, "99.5"),
        ],
    ),
    Case(
        "EscrowWalletBelowFloor",
        "exactly at the floors is quiet",
        {
            BAL % ("treasury_sol", "SOL"): "1x20",
            INFO % ("treasury_sol", "treasury", "sol", "1"): "1x20",
            BAL % ("fee_usdc", USDC): "100x20",
            INFO % ("fee_usdc", "fee", "token", "2"): "1x20",
        },
        "12m",
    ),
    # 8 days at 30 withdrawals/h, then 120/h (4x the same hour's average) fires; 90/h (3x) does not.
    Case(
        "EscrowWithdrawalSpike",
        "120/h against a 30/h baseline fires",
        {WD: "0+5x1152 5780+20x20"},
        "11590m",
        [Fired("high", PROG, "120")],
        interval="10m",
        evaluation_interval="10m",
    ),
    Case(
        "EscrowWithdrawalSpike",
        "90/h (3x baseline) is quiet",
        {WD: "0+5x1152 5775+15x20"},
        "11590m",
        interval="10m",
        evaluation_interval="10m",
    ),
    Case(
        "EscrowWithdrawalSpike",
        "without history, 120/h fires",
        {WD: "0+20x20"},
        "90m",
        [Fired("high", PROG, "120")],
        interval="10m",
        evaluation_interval="10m",
    ),
    Case(
        "EscrowWithdrawalSpike",
        "without history, 96/h is quiet",
        {WD: "0+16x20"},
        "90m",
        interval="10m",
        evaluation_interval="10m",
    ),
    Case(
        "EscrowWithdrawalSpike",
        "18/h after a week of none is under the floor",
        {WD: "0x1152 3+3x20"},
        "11590m",
        interval="10m",
        evaluation_interval="10m",
    ),
    Case(
        "EscrowTransactionFailureRatio",
        "1 in 3 failing fires medium",
        {TX_OK: "0+60x40", TX_FAIL: "0+30x40"},
        "25m",
        [Fired("medium", PROG, "33.33%")],
    ),
    Case(
        "EscrowTransactionFailureRatio",
        "7 in 10 failing fires medium and high",
        {TX_OK: "0+30x40", TX_FAIL: "0+70x40"},
        "25m",
        [Fired("high", PROG, "70%"), Fired("medium", PROG, "70%")],
    ),
    Case(
        "EscrowTransactionFailureRatio", "19% failing is quiet", {TX_OK: "0+81x40", TX_FAIL: "0+19x40"}, "25m"
    ),
    Case(
        "EscrowTransactionFailureRatio",
        "half failing at 2 tx/min is quiet (too few)",
        {TX_OK: "0+1x40", TX_FAIL: "0+1x40"},
        "25m",
    ),
    Case(
        "EscrowComputeUnitsNearLimit",
        "p99 199800 CU fires",
        cu_buckets("200000"),
        "32m",
        [Fired("medium", {"program": "paid_match", "instruction": "settle_match"}, "199800")],
    ),
    Case("EscrowComputeUnitsNearLimit", "p99 179200 CU is quiet", cu_buckets("180000"), "32m"),
    Case(
        "EscrowIngestLag",
        "700s behind fires high and medium",
        {LAG: "700x20"},
        "7m",
        [Fired("high", {**JL, **PROG}, "11m 40s"), Fired("medium", {**JL, **PROG}, "11m 40s")],
    ),
    Case(
        "EscrowIngestLag",
        "300s behind fires medium only",
        {LAG: "300x20"},
        "7m",
        [Fired("medium", {**JL, **PROG}, "5m 0s")],
    ),
    Case("EscrowIngestLag", "120s behind is quiet", {LAG: "120x20"}, "7m"),
    *new_counter(
        "EscrowEventDecodeErrors",
        "escrow_event_decode_errors_total",
        {"program": "paid_match", "reason": "unknown_discriminator"},
        "medium",
    ),
    *new_counter("EscrowLogsTruncated", "escrow_logs_truncated_total", {"program": "paid_match"}, "low"),
    Case(
        "EscrowProgramPaused",
        "PlatformConfig paused fires",
        {
            f'escrow_program_accounts{{{J},program="paid_match",account="PlatformConfig",state="paused"}}': "0x5 1x10"
        },
        "8m",
        [Fired("high", PROG, "1")],
    ),
    Case(
        "EscrowProgramPaused",
        "a ProgramPaused event fires",
        {f'escrow_events_total{{{J},program="paid_match",event="ProgramPaused"}}': "0x5 1x10"},
        "8m",
        [Fired("high", PROG, "1")],
    ),
    Case(
        "EscrowProgramPaused",
        "running and no pause event is quiet",
        {
            f'escrow_program_accounts{{{J},program="paid_match",account="PlatformConfig",state="paused"}}': "0x20",
            f'escrow_events_total{{{J},program="paid_match",event="ProgramPaused"}}': "0x20",
        },
        "8m",
    ),
    *gauge(
        "EscrowAuditLogGap",
        f"escrow_business_audit_log_missing_entries{{{J}}}",
        "3",
        "0",
        "7m",
        [Fired("high", JL, "3")],
    ),
    Case(
        "EscrowReconciliationOverdue",
        "2h20m since the last run fires medium",
        {RECON: "0x400"},
        "140m",
        [Fired("medium", JL, "2h 20m 0s")],
    ),
    Case(
        "EscrowReconciliationOverdue",
        "6h20m since the last run fires high and medium",
        {RECON: "0x400"},
        "380m",
        [Fired("high", JL, "6h 20m 0s"), Fired("medium", JL, "6h 20m 0s")],
    ),
    Case(
        "EscrowReconciliationOverdue",
        "exactly 2h since the last run is quiet",
        {RECON: "-7200+60x400"},
        "140m",
    ),
    *gauge(
        "EscrowPaymentWebhookLatencyHigh",
        f'escrow_business_payment_webhook_latency_seconds{{{J},provider="stripe"}}',
        "121",
        "120",
        "12m",
        [Fired("medium", {**JL, "provider": "stripe"}, "2m 1s")],
    ),
    *gauge(
        "EscrowOutboxBacklog",
        f'escrow_business_outbox_depth{{{J},queue="payouts"}}',
        "1001",
        "1000",
        "17m",
        [Fired("medium", {**JL, "queue": "payouts"}, "1001")],
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
