"""Cases for the ``business`` rule group: what the exporter reads from the business database
(audit log, the reconciliation job's last run, payment webhooks, the outbox, ledger write
errors, failed payments and chargebacks) and its SQL queries themselves."""

from __future__ import annotations

import math

from bundle.cases.common import Case, Fired, gauge, held, humanize_duration, new_counter
from bundle.cases.series import J2, JL, PST, RECON, RECON_UP, J
from bundle.config import PARAMS

WEBHOOK_S = int(PARAMS["webhook_latency_seconds"])
OUTBOX = int(PARAMS["outbox_depth"])
AUDIT_SILENCE = int(PARAMS["audit_log_silence_seconds"])
WEBHOOK = f'escrow_business_payment_webhook_latency_seconds{{{J},provider="stripe"}}'
WEBHOOK_UP = f'escrow_sql_query_up{{{J},query="payment_webhook_latency"}}'
AUDIT_TS = f"escrow_business_audit_log_last_entry_timestamp_seconds{{{J}}}"


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


# Payments (issue 17, the rules in bundle/payments.py): failed payments per provider, chargebacks.
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

BUSINESS_CASES: list[Case] = [
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
    *PAYMENT_CASES,
]
