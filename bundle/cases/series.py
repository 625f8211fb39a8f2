"""Series selectors shared by several case modules and by ``bundle.drill``.

The exporter's job and instance, the accounts, program, events and queries the cases talk about.
Selectors only one rule group reads live in that group's module.
"""

from __future__ import annotations

from bundle.config import EXPORTER_JOB, PARAMS, PROBE_JOB, SITE

J = f'job="{EXPORTER_JOB}",instance="exporter:10190"'
JL = {"job": EXPORTER_JOB, "instance": "exporter:10190"}
# The same exporter restarted under another instance (a Kubernetes pod gets a new IP).
J2 = f'job="{EXPORTER_JOB}",instance="exporter-2:10190"'
# The exporter serves process_start_time_seconds; the restart-aware clauses read it.
PST = f"process_start_time_seconds{{{J}}}"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
PROG = {"program": "paid_match"}
# The site's names for the events, errors and instructions the rules watch (bundle/site.yml).
WITHDRAWAL, PAUSE = PARAMS["withdrawal_event"], PARAMS["pause_event"]
PAUSE_ERROR, MONEY_IX = SITE.pause_errors[0], SITE.money_instructions[0]
WD = f'escrow_events_total{{{J},program="paid_match",event="{WITHDRAWAL}"}}'
TX_OK = f'escrow_transactions_total{{{J},program="paid_match",status="success"}}'
TX_FAIL = f'escrow_transactions_total{{{J},program="paid_match",status="failed"}}'
BAL = f'escrow_account_balance{{{J},account="%s",mint="%s"}}'
INFO = f'escrow_account_info{{{J},account="%s",role="%s",kind="%s",address="Addr%s"}}'
EXISTS = f'escrow_account_exists{{{J},account="%s"}}'
LEDGER = f'escrow_ledger_escrow_balance{{{J},account="%s",mint="%s"}}'
ESCROW_INFO = INFO % ("escrow_usdc", "escrow", "token", "3")
RECON = f"escrow_business_reconciliation_last_success_timestamp_seconds{{{J}}}"
RECON_UP = f'escrow_sql_query_up{{{J},query="reconciliation_last_success"}}'
LAG = f'escrow_ingest_lag_seconds{{{J},program="paid_match"}}'
INGEST_UP = f'escrow_exporter_collector_up{{{J},collector="ingest:paid_match"}}'
INGEST_OK = f'escrow_exporter_collector_last_success_timestamp_seconds{{{J},collector="ingest:paid_match"}}'
PAUSED_STATE = f'escrow_program_accounts{{{J},program="paid_match",account="PlatformConfig",state="paused"}}'
TX_PAUSED = f'escrow_transaction_errors_total{{{J},program="paid_match",error="{PAUSE_ERROR}"}}'
PROBE = f'job="{PROBE_JOB}",instance="http://app:8080/readyz"'
PROBE_LABELS = {"job": PROBE_JOB, "instance": "http://app:8080/readyz"}
# The exporter's 1h block-time window of withdrawals (bundle/cases/withdrawals.py says how the
# cases derive it).
WD_BT = f'escrow_events_block_time_window{{{J},program="paid_match",event="{WITHDRAWAL}",window="1h"}}'
# Prometheus scraping itself (EscrowPrometheus* alerts and the TSDB capacity forecast).
PROM_J = f'job="{SITE.prometheus_job}",instance="localhost:9090"'
PROM_JL = {"job": SITE.prometheus_job, "instance": "localhost:9090"}
