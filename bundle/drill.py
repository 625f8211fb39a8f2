"""A day in the life, compressed into four hours of promtool input (issue 13).

One healthy platform (steady traffic, every source answering) goes through, in one run: a first
deployment's backfill, an exporter restart, a 3-minute scrape failure, a 10-minute Prometheus
outage, a planned pause and resume, a planned fee sweep, a database restart and an RPC failover.
At checkpoints after each step every alert of the bundle is evaluated: nothing fires except
Watchdog and what the step must cause (``EXPECTED``). Time is compressed by keeping each step
as long as its real counterpart but packing them a few minutes apart, so every rule window
(1h spike window, 10m ratios, 15m counters) still spans several steps at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bundle.cases.common import Fired
from bundle.cases.series import (
    BAL,
    ESCROW_INFO,
    EXISTS,
    INFO,
    INGEST_OK,
    INGEST_UP,
    JL,
    LAG,
    LEDGER,
    PAUSED_STATE,
    PROBE,
    PST,
    RECON,
    RECON_UP,
    TX_FAIL,
    TX_OK,
    TX_PAUSED,
    USDC,
    WD,
    WD_BT,
    J,
)
from bundle.config import PARAMS

MINUTES = 240
BACKFILL = 2  # a first deployment counts 1,000 old withdrawals in its first cycles
EXPORTER_RESTART = 60  # one missed scrape, a new process_start_time_seconds
SCRAPE_FAILURE = range(90, 93)  # stale markers, then missing
PROMETHEUS_DOWN = range(120, 130)  # nothing recorded at all
PAUSED = range(150, 170)  # planned: PlatformConfig paused, every transaction rejected
FEE_SWEEP = 200  # the fee wallet emptied on purpose
DB_RESTART = range(210, 212)  # the business database unreachable for 2 minutes
RPC_FAILOVER = range(220, 223)  # endpoint a down, b takes over

PAUSED_INCIDENT = (
    f'escrow_events_total{{{J},program="paid_match",event="{PARAMS["pause_event"]}",reason="Maintenance"}}'
)
ENDPOINT_UP = f'escrow_rpc_up{{{J},endpoint="%s"}}'
ENDPOINT_SLOT = f'escrow_rpc_slot{{{J},endpoint="%s"}}'
SQL_UP = f'escrow_sql_up{{{J},database="business"}}'
WEBHOOK = f'escrow_business_payment_webhook_latency_seconds{{{J},provider="stripe"}}'
WEBHOOK_UP = f'escrow_sql_query_up{{{J},query="payment_webhook_latency"}}'
AUDIT_TS = f"escrow_business_audit_log_last_entry_timestamp_seconds{{{J}}}"
# Exact reconciliation (issue 12), per view pair, of one escrow.
VIEWS = ("chain_ledger", "chain_events")
SLOT_AGE = f'escrow_reconciliation_slot_age_seconds{{{J},views="%s"}}'
DRIFT = f'escrow_reconciliation_drift_raw{{{J},account="escrow_usdc",mint="{USDC}",views="%s"}}'
STREAK = f'escrow_reconciliation_mismatch_streak{{{J},account="escrow_usdc",mint="{USDC}",views="%s"}}'
UNMATCHED = f'escrow_reconciliation_unmatched{{{J},kind="%s"}}'
UNMATCHED_KINDS = (
    "chain_account_without_ledger_row",
    "ledger_row_without_chain_account",
    "ledger_entry_not_on_chain",
    "chain_change_without_event",
)
BUSY_MINUTE = SCRAPE_FAILURE.stop + 15  # at a checkpoint: the books trail the chain once (streak 1)
AUDIT_GAP = f"escrow_business_audit_log_missing_entries{{{J}}}"
DECODE = f'escrow_event_decode_errors_total{{{J},program="paid_match",reason="unknown_discriminator"}}'
TRUNCATED = f'escrow_logs_truncated_total{{{J},program="paid_match"}}'
FAILOVERS = f"escrow_rpc_failovers_total{{{J}}}"
COLLECTOR_UP = f'escrow_exporter_collector_up{{{J},collector="%s"}}'
LAST_SUCCESS = f'escrow_exporter_collector_last_success_timestamp_seconds{{{J},collector="%s"}}'


def _exporter_sample(t: int) -> str | None:
    """What a per-minute exporter series records at minute ``t``: None for its value, or a marker."""
    if t in PROMETHEUS_DOWN or t == EXPORTER_RESTART:
        return "_"
    if t in SCRAPE_FAILURE:
        return "stale" if t == SCRAPE_FAILURE.start else "_"
    return None


def exporter_series(value: Callable[[int], float]) -> str:
    out = []
    for t in range(MINUTES + 1):
        marker = _exporter_sample(t)
        out.append(marker if marker is not None else f"{value(t):g}")
    return " ".join(out)


def _up(t: int) -> str:
    if t in PROMETHEUS_DOWN:
        return "_"
    return "0" if t == EXPORTER_RESTART or t in SCRAPE_FAILURE else "1"


def _withdrawals(t: int) -> float:
    return 0 if t < BACKFILL else 1000 + 10 * (t - BACKFILL)


def _paused_rejections(t: int) -> float:
    return 30 * (min(t, PAUSED.stop) - PAUSED.start) if t > PAUSED.start else 0


def _slot_age(views: str) -> Callable[[int], float]:
    """Reconciled every 30 s, except while a view cannot be read: ingestion behind the slot during
    the first deployment's backfill, the chain during the RPC failover and, for the ledger pair,
    the database restart. The age then grows, short of the ticket threshold."""
    blocked = [range(0, BACKFILL + 2), RPC_FAILOVER, *([DB_RESTART] if views == "chain_ledger" else [])]

    def age(t: int) -> float:
        return next((30 + 60 * (t - r.start) for r in blocked if t in r), 30)

    return age


def _at_busy_minute(value: float) -> Callable[[int], float]:
    return lambda t: value if t == BUSY_MINUTE else 0


def _reconciliation() -> dict[str, str]:
    out = {}
    for views in VIEWS:
        # chain_ledger: one run at BUSY_MINUTE disagrees by 5 (streak 1), the next agrees again.
        drift, streak = (5, 1) if views == "chain_ledger" else (0, 0)
        out[SLOT_AGE % views] = exporter_series(_slot_age(views))
        out[DRIFT % views] = exporter_series(_at_busy_minute(drift))
        out[STREAK % views] = exporter_series(_at_busy_minute(streak))
    for kind in UNMATCHED_KINDS:
        out[UNMATCHED % kind] = exporter_series(lambda t: 0)
    return out


def series() -> dict[str, str]:
    healthy_probe = " ".join("_" if t in PROMETHEUS_DOWN else "1" for t in range(MINUTES + 1))
    s = {
        f"up{{{J}}}": " ".join(_up(t) for t in range(MINUTES + 1)),
        PST: exporter_series(lambda t: 0 if t < EXPORTER_RESTART else EXPORTER_RESTART * 60),
        f"up{{{PROBE}}}": healthy_probe,
        f"probe_success{{{PROBE}}}": healthy_probe,
        WD: exporter_series(_withdrawals),
        # By block time the backfill's old withdrawals are not in the last hour: 10 a minute since.
        WD_BT: exporter_series(lambda t: 10 * min(max(t - BACKFILL, 0), 60)),
        LAG: exporter_series(lambda t: 0),
        INGEST_UP: exporter_series(lambda t: 1),
        INGEST_OK: exporter_series(lambda t: t * 60),
        TX_OK: exporter_series(lambda t: 100 * min(t, PAUSED.start) + 100 * max(0, t - PAUSED.stop)),
        TX_FAIL: exporter_series(lambda t: 2 * t + _paused_rejections(t)),
        TX_PAUSED: exporter_series(_paused_rejections),
        PAUSED_STATE: exporter_series(lambda t: 1 if t in PAUSED else 0),
        PAUSED_INCIDENT: exporter_series(lambda t: 1 if t > PAUSED.start else 0),
        DECODE: exporter_series(lambda t: 2),  # errors counted long before the drill
        TRUNCATED: exporter_series(lambda t: 0),
        FAILOVERS: exporter_series(lambda t: 2 if t >= RPC_FAILOVER.start else 0),
        ENDPOINT_UP % "a": exporter_series(lambda t: 0 if t in RPC_FAILOVER else 1),
        ENDPOINT_UP % "b": exporter_series(lambda t: 1),
        ENDPOINT_SLOT % "a": exporter_series(lambda t: 1000 + 150 * t),
        ENDPOINT_SLOT % "b": exporter_series(lambda t: 1000 + 150 * t),
        **{
            f'escrow_account_balance_updated_timestamp_seconds{{{J},account="{a}"}}': exporter_series(
                lambda t: t * 60
            )
            for a in ("escrow_usdc", "treasury_sol", "fee_usdc")
        },
        ESCROW_INFO: exporter_series(lambda t: 1),
        EXISTS % "escrow_usdc": exporter_series(lambda t: 1),
        BAL % ("escrow_usdc", USDC): exporter_series(lambda t: 2500),
        LEDGER % ("escrow_usdc", USDC): exporter_series(lambda t: 2500),
        BAL % ("treasury_sol", "SOL"): exporter_series(lambda t: 40),
        INFO % ("treasury_sol", "treasury", "sol", "1"): exporter_series(lambda t: 1),
        BAL % ("fee_usdc", USDC): exporter_series(lambda t: 0 if t >= FEE_SWEEP else 800 + t),
        INFO % ("fee_usdc", "fee", "token", "2"): exporter_series(lambda t: 1),
        SQL_UP: exporter_series(lambda t: 0 if t in DB_RESTART else 1),
        COLLECTOR_UP % "sql": exporter_series(lambda t: 0 if t in DB_RESTART else 1),
        # The exporter's freshness SLO (issue 17): the SQL collector's last success stands still
        # through the database restart; the others finish a cycle every minute.
        LAST_SUCCESS % "balances": exporter_series(lambda t: 60 * t),
        LAST_SUCCESS % "sql": exporter_series(
            lambda t: 60 * (DB_RESTART.start - 1 if t in DB_RESTART else t)
        ),
        RECON: exporter_series(lambda t: t * 60 - 600),
        RECON_UP: exporter_series(lambda t: 0 if t in DB_RESTART else 1),
        WEBHOOK: exporter_series(lambda t: 4),
        WEBHOOK_UP: exporter_series(lambda t: 0 if t in DB_RESTART else 1),
        AUDIT_TS: exporter_series(lambda t: t * 60 - 60),
        AUDIT_GAP: exporter_series(lambda t: 0),
        **_reconciliation(),
    }
    return s


@dataclass(frozen=True)
class Checkpoint:
    at: int  # minutes
    step: str
    fires: dict[str, list[Fired]]  # besides Watchdog


PAUSE_PAGE = [Fired("high", {"program": "paid_match"}, "1")]
CHECKPOINTS = [
    Checkpoint(30, "after a first deployment's backfill", {}),
    Checkpoint(EXPORTER_RESTART + 5, "after an exporter restart", {}),
    # A 3-minute scrape failure is what EscrowExporterDown (for 2m) is for: it must page.
    Checkpoint(
        SCRAPE_FAILURE.stop - 1,
        "during a 3-minute scrape failure",
        {"EscrowExporterDown": [Fired("high", JL, "0")]},
    ),
    Checkpoint(SCRAPE_FAILURE.stop + 15, "15 minutes after the scrape failure", {}),
    Checkpoint(PROMETHEUS_DOWN.stop + 8, "after a 10-minute Prometheus outage", {}),
    Checkpoint(PROMETHEUS_DOWN.stop + 18, "18 minutes after the Prometheus outage", {}),
    # A planned pause pages: the runbook (emergency-pause-resume.md) silences it before pausing.
    Checkpoint(
        PAUSED.start + 5,
        "during a planned pause (silenced per the runbook)",
        {"EscrowProgramPaused": PAUSE_PAGE},
    ),
    Checkpoint(PAUSED.stop + 2, "2 minutes after the resume", {}),
    Checkpoint(PAUSED.stop + 12, "12 minutes after the resume", {}),
    Checkpoint(FEE_SWEEP + 15, "after a planned fee sweep", {}),
    Checkpoint(DB_RESTART.stop + 3, "after a database restart", {}),
    Checkpoint(RPC_FAILOVER.stop + 3, "after an RPC failover", {}),
    Checkpoint(MINUTES, "at the end of the day", {}),
]
