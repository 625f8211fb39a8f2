"""Payments and business rules (issue 17): failed-payment ratio, chargeback spikes, and
transaction failures per instruction. Hooked into ``bundle.config`` (RECORDINGS, ALERTS); the
thresholds are ``failed_payment_*``, ``chargebacks_per_hour_*`` and ``chargeback_payment_ratio`` in the
site config.

The payment and dispute counters come from the query pack (``escrow_business_payment_attempts_total``,
``escrow_business_disputes_total``): SQL counts of rows, read every 30 s. ``max by`` keeps one
copy when a highly available pair of exporters reads the same database.
"""

from __future__ import annotations

from bundle.config import Alert, Recording

RECORDINGS: list[Recording] = [
    Recording(
        "provider_outcome:escrow_business_payment_attempts:increase1h",
        "max by (provider, outcome) (increase(escrow_business_payment_attempts_total{[[job]]}[1h]))",
        "business",
    ),
    # 0/0 (no attempts in the hour) is NaN: no ratio, no alert.
    Recording(
        "provider:escrow_business_payments_failed:ratio_increase1h",
        'sum by (provider) (provider_outcome:escrow_business_payment_attempts:increase1h{outcome="failed"})\n'
        "/ sum by (provider) (provider_outcome:escrow_business_payment_attempts:increase1h)",
        "business",
    ),
    Recording(
        "provider_kind:escrow_business_disputes:increase1h",
        "max by (provider, kind) (increase(escrow_business_disputes_total{[[job]]}[1h]))",
        "business",
    ),
    # Failed transactions per instruction (escrow_transaction_failures_total, from the ingest path):
    # e.g. settlement failures alone, which the whole program's failure ratio can hide.
    Recording(
        "program_instruction:escrow_transaction_failures:increase1h",
        "sum by (program, instruction) (increase(escrow_transaction_failures_total{[[job]]}[1h]))",
        "chain",
    ),
]

ALERTS: list[Alert] = [
    Alert(
        name="EscrowFailedPaymentsHigh",
        group="business",
        expr="provider:escrow_business_payments_failed:ratio_increase1h > [[threshold]]\n"
        "and on (provider)\n"
        "sum by (provider) (provider_outcome:escrow_business_payment_attempts:increase1h)"
        " >= [[failed_payment_min_attempts]]",
        tiers={"high": "[[failed_payment_ratio_high]]", "medium": "[[failed_payment_ratio_medium]]"},
        for_="10m",
        summary="Many payment attempts fail at a payment provider.",
        description="{{ $value | humanizePercentage }} of the payment attempts through {{ $labels.provider }} "
        "failed over the last hour (threshold [[threshold]], counted from [[failed_payment_min_attempts]] "
        "attempts an hour): players cannot pay their entry fees. Check first: the failure_reason of the "
        "recent failed rows in payment_attempts (card_declined everywhere: the provider; one reason from one "
        "country or BIN: fraud screening) and the provider's status page.",
        dashboard="escrow-business",
        condition="failed / all payment attempts of a provider over 1h > [[threshold]] "
        "(with >= [[failed_payment_min_attempts]] attempts) for 10m",
    ),
    Alert(
        name="EscrowChargebackSpike",
        group="business",
        # Past the count, and past the share of the hour's succeeded payments (no payment series:
        # 0 payments, so the count alone decides; the check never goes quiet for a missing input).
        expr='sum by (kind) (provider_kind:escrow_business_disputes:increase1h{kind="chargeback"}) > [[threshold]]\n'
        "and on (kind)\n"
        'sum by (kind) (provider_kind:escrow_business_disputes:increase1h{kind="chargeback"})\n'
        "  > on () group_left\n"
        "  [[chargeback_payment_ratio]] * (\n"
        '    sum(provider_outcome:escrow_business_payment_attempts:increase1h{outcome="succeeded"}) or vector(0)\n'
        "  )",
        tiers={"critical": "[[chargebacks_per_hour_critical]]", "high": "[[chargebacks_per_hour_high]]"},
        for_="0m",
        summary="Chargebacks are arriving far faster than usual.",
        description='{{ $value | printf "%.0f" }} chargebacks were opened in the last hour (threshold '
        "[[threshold]], and more than [[chargeback_payment_ratio]] of the hour's succeeded payments): stolen cards paying entry fees, or a fraud ring cashing out prizes. Money already "
        "paid out cannot be pulled back from the chain. Check first: "
        'provider_kind:escrow_business_disputes:increase1h{kind="chargeback"} by provider, and the '
        "disputed payments' wallets in the disputes and payment_attempts tables. Procedure: "
        "docs/runbooks/fraud-escalation-chargebacks.md.",
        dashboard="escrow-business",
        condition="chargebacks opened in the last hour > [[threshold]] and > [[chargeback_payment_ratio]] x the "
        "hour's succeeded payments (all providers)",
    ),
]
