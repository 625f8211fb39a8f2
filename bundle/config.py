"""Selectors, thresholds, tiers and links for every Prometheus rule: the one place to edit.

Site-specific values (selectors, links, severity names, floors, event names and every threshold)
come from the site config, ``bundle/site.yml`` (``bundle.site``); this module holds the rules'
logic. Expressions and descriptions use ``[[name]]`` placeholders filled from ``PARAMS`` (and, per
tier, ``[[threshold]]``), so a threshold is written once and shows up identically in the rule,
its description, its promtool test and ``docs/alerts.md``. Go template syntax (``{{ }}``) is
left untouched for Prometheus. After an edit run ``make rules`` (rules, promtool tests,
docs/alerts.md and the Kubernetes PrometheusRule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bundle.site import Site, load

SITE: Site = load()

# Severity tiers, highest first (P0..P3): the bundle's own names. The `severity` label a rule
# carries is the site's name for its tier (SITE.severities); Alertmanager routes on those.
TIERS: tuple[str, ...] = ("critical", "high", "medium", "low")
PRIORITY = {"critical": "P0", "high": "P1", "medium": "P2", "low": "P3"}

DASHBOARDS = tuple(SITE.dashboards)
EXPORTER_JOB = SITE.exporter_job
PROBE_JOB = SITE.probe_job

# Everything an expression may reference: the site's thresholds (in the metric's unit) and names.
PARAMS: dict[str, str] = {
    "job": f'job="{EXPORTER_JOB}"',
    "probe_job": f'job="{PROBE_JOB}"',
    "prometheus_job": f'job="{SITE.prometheus_job}"',
    "alertmanager_job": f'job="{SITE.alertmanager_job}"',
    # Float rounding: 100.01 - 100 is 0.010000000000005, which must count as "at the tolerance".
    # Far below one micro-unit, far above the rounding error of balances up to ~1e8 units.
    "mismatch_epsilon": "1e-7",
    "withdrawal_event": SITE.withdrawal_event,
    "pause_event": SITE.pause_event,
    "pause_errors": "|".join(SITE.pause_errors),
    "pause_errors_text": " or ".join(SITE.pause_errors),
    "money_instructions": "|".join(SITE.money_instructions),
    "wallet_roles": "|".join(SITE.wallet_roles),
    **SITE.thresholds,
}


def mint_name_template() -> str:
    """A Go template naming the alert's mint by its symbol from the site config (``USDC``, not its
    44-character address); a mint the site config does not list is named by its address."""
    named = [(m, v.symbol) for m, v in SITE.mints.items() if v.symbol != m]
    if not named:
        return "{{ $labels.mint }}"
    chain = "{{ else if ".join(f'eq $labels.mint "{m}" }}}}{sym}' for m, sym in named)
    return "{{ if " + chain + "{{ else }}{{ $labels.mint }}{{ end }}"


PARAMS["mint_name"] = mint_name_template()

# Wallet floors in whole units: per mint, overridden per account. A mint without a floor is not
# floor-checked; nor is a wallet (account or role) emptied by planned sweeps.
MINT_FLOORS: dict[str, str] = {m: v.floor for m, v in SITE.mints.items() if v.floor is not None}
ACCOUNT_FLOORS: dict[str, str] = {a: v.floor for a, v in SITE.accounts.items() if v.floor is not None}
PLANNED_SWEEP_ACCOUNTS: tuple[str, ...] = tuple(a for a, v in SITE.accounts.items() if v.planned_sweeps)
PLANNED_SWEEP_ROLES: tuple[str, ...] = tuple(r for r, v in SITE.roles.items() if v.planned_sweeps)


def wallet_floor_expr() -> str:
    """One comparison per configured floor, each labelled with its ``floor``."""
    metric = "account_mint_role:escrow_wallet_balance:max"

    def term(matchers: str, floor: str) -> str:
        return f'label_replace({metric}{{{matchers}}} < {floor}, "floor", "{floor}", "", "")'

    terms = [
        term(f'account="{a}"', f)
        for a, f in sorted(ACCOUNT_FLOORS.items())
        if a not in PLANNED_SWEEP_ACCOUNTS
    ]
    skip_accounts = "|".join(sorted({*ACCOUNT_FLOORS, *PLANNED_SWEEP_ACCOUNTS}))
    for mint, floor in MINT_FLOORS.items():
        matchers = [f'mint="{mint}"']
        if skip_accounts:
            matchers.append(f'account!~"{skip_accounts}"')
        if PLANNED_SWEEP_ROLES:
            matchers.append(f'role!~"{"|".join(PLANNED_SWEEP_ROLES)}"')
        terms.append(term(", ".join(matchers), floor))
    return "\nor ".join(terms) if terms else "vector(0) > 1"


# |on-chain - ledger| tolerated per mint (whole units); other mints: thresholds.mismatch_tolerance.
MINT_TOLERANCES: dict[str, str] = {
    m: v.mismatch_tolerance for m, v in SITE.mints.items() if v.mismatch_tolerance is not None
}


def mismatch_expr() -> str:
    """One drift comparison per mint with its own tolerance, one for every other mint; each
    labelled with its ``tolerance``. The epsilon keeps a drift of exactly the tolerance (float:
    100.01 - 100 = 0.010000000000005) quiet."""
    metric = "account_mint:escrow_balance_drift:onchain_minus_ledger"
    eps = PARAMS["mismatch_epsilon"]

    def term(matchers: str, tolerance: str) -> str:
        sel = f"{metric}{{{matchers}}}" if matchers else metric
        beyond = f"({sel} > {tolerance} + {eps} or {sel} < -({tolerance} + {eps}))"
        return f'label_replace({beyond}, "tolerance", "{tolerance}", "", "")'

    default = PARAMS["mismatch_tolerance"]
    # A mint whose own tolerance equals the default is covered by the default's term.
    own = {m: t for m, t in MINT_TOLERANCES.items() if float(t) != float(default)}
    terms = [term(f'mint="{m}"', t) for m, t in own.items()]
    terms.append(term(f'mint!~"{"|".join(own)}"' if own else "", default))
    return "\nor ".join(terms)


# Tiers per alert may carry different thresholds; these are looked up as [[threshold]].
RULE_GROUP_FILES: dict[str, str] = {
    "exporter": "exporter.yml",
    "rpc": "rpc.yml",
    "treasury": "treasury.yml",
    "chain": "chain.yml",
    "business": "business.yml",
    "meta": "meta.yml",
    "capacity": "capacity.yml",
}


@dataclass(frozen=True)
class Recording:
    record: str
    expr: str
    group: str
    #: Static labels of the recorded series (``labels:`` of the rule), e.g. which SLO an
    #: objective belongs to.
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Alert:
    name: str
    group: str
    expr: str
    tiers: dict[str, str]  # severity -> threshold ("" when the expression has none)
    for_: str
    summary: str
    description: str
    dashboard: str
    condition: str  # one line for docs/alerts.md
    labels: dict[str, str] = field(default_factory=dict)
    #: Keep firing this long after the condition clears. For an outage whose symptoms it inhibits:
    #: the symptoms clear a cycle later than the cause, and without this they would notify in between.
    keep_firing_for: str = ""


def fill(text: str, threshold: str = "") -> str:
    """Replace ``[[name]]`` placeholders; an unknown name is a bug in this file."""

    threshold = fill(threshold) if "[[" in threshold else threshold

    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key == "threshold":
            return threshold
        if key == "wallet_floor_expr":
            return wallet_floor_expr()
        if key == "mismatch_expr":
            return mismatch_expr()
        if key not in PARAMS:
            raise KeyError(f"bundle/config.py: unknown placeholder [[{key}]]")
        return PARAMS[key]

    return re.sub(r"\[\[([a-z_0-9]+)\]\]", sub, text)


def runbook_url(alert: str) -> str:
    return SITE.runbook_url.replace("{alert}", alert)


def dashboard_url(uid: str) -> str:
    return SITE.grafana_url + SITE.dashboards[uid]


def severity(tier: str) -> str:
    """The ``severity`` label value of a tier at this site."""
    return SITE.severities[tier]


def severity_label(alert: Alert, tier: str) -> str:
    """The ``severity`` label an alert carries at a tier (Watchdog has the site's own)."""
    return SITE.watchdog_severity if alert.name == "Watchdog" else severity(tier)


RECORDINGS: list[Recording] = [
    Recording("instance:escrow_rpc_up:max", "max by (job, instance) (escrow_rpc_up{[[job]]})", "rpc"),
    Recording("instance:escrow_rpc_slot:max", "max by (job, instance) (escrow_rpc_slot{[[job]]})", "rpc"),
    Recording(
        "endpoint:escrow_rpc_slot_lag:slots",
        "instance:escrow_rpc_slot:max - on (job, instance) group_right () escrow_rpc_slot{[[job]]}",
        "rpc",
    ),
    # max by (account, mint) de-duplicates a highly available pair of exporters.
    Recording(
        "account_mint:escrow_account_balance:max",
        "max by (account, mint) (escrow_account_balance{[[job]]})",
        "treasury",
    ),
    Recording(
        "account_mint:escrow_ledger_escrow_balance:max",
        "max by (account, mint) (escrow_ledger_escrow_balance{[[job]]})",
        "treasury",
    ),
    # Signed: negative means the chain holds less than the books say (money missing).
    # A closed account (drained to 0 and removed, escrow_account_exists 0) has no balance series:
    # it counts as 0 on chain, or a drained-and-closed escrow would never show a drift.
    Recording(
        "account_mint:escrow_balance_drift:onchain_minus_ledger",
        "account_mint:escrow_account_balance:max - account_mint:escrow_ledger_escrow_balance:max\n"
        "or\n"
        "-(account_mint:escrow_ledger_escrow_balance:max"
        " and on (account) (max by (account) (escrow_account_exists{[[job]]}) == 0))",
        "treasury",
    ),
    # Likewise a closed treasury/fee wallet holds 0, under the mint its balance series had (kept by
    # last_over_time); a wallet never read has no mint: "SOL" for a SOL wallet, "token" otherwise.
    Recording(
        "account_mint_role:escrow_wallet_balance:max",
        "max by (account, mint, role) (\n"
        "  escrow_account_balance{[[job]]}"
        ' * on (job, instance, account) group_left (role) escrow_account_info{[[job]], role=~"[[wallet_roles]]"}\n'
        ")\n"
        "or on (account)\n"
        "max by (account, mint, role) (\n"
        "  0 * last_over_time(escrow_account_balance{[[job]]}[[[lookback_seconds]]s])"
        ' * on (job, instance, account) group_left (role) escrow_account_info{[[job]], role=~"[[wallet_roles]]"}\n'
        "  and on (job, instance, account) escrow_account_exists{[[job]]} == 0\n"
        ")\n"
        "or on (account)\n"
        "max by (account, mint, role) (\n"
        "  label_replace(label_replace(\n"
        '    0 * escrow_account_info{[[job]], role=~"[[wallet_roles]]"}'
        " and on (job, instance, account) escrow_account_exists{[[job]]} == 0,\n"
        '    "mint", "SOL", "kind", "sol"), "mint", "token", "kind", "token")\n'
        ")",
        "treasury",
    ),
    # Withdrawals whose transaction happened on chain in the last hour (block time), however late
    # the exporter ingested them: a stall's catch-up, a first deployment's backfill or a restart
    # fills the minutes the withdrawals happened in and never looks like a spike
    # (docs/architecture.md "Guarantees"). While ingestion is behind, the window under-counts:
    # those samples are not recorded, so an under-counted hour never lowers a baseline (the
    # stall itself is EscrowIngestLag's).
    Recording(
        "program:escrow_withdrawals:block_time_1h",
        'sum by (program) (escrow_events_block_time_window{[[job]], event="[[withdrawal_event]]", window="1h"})\n'
        "unless on (program)\n"
        "max by (program) (escrow_ingest_lag_seconds{[[job]]}) > [[spike_settled_lag_seconds]]",
        "treasury",
    ),
    # The same hour on each of the previous 7 days, averaged over the days that have data.
    Recording(
        "program:escrow_withdrawals:block_time_1h_baseline7d",
        "avg without (baseline_day) (\n  "
        + "\n  or ".join(
            f'label_replace(program:escrow_withdrawals:block_time_1h offset {d}d, "baseline_day", "{d}", "", "")'
            for d in range(1, 8)
        )
        + "\n)",
        "treasury",
    ),
    # Before 7 days of history: the hourly count averaged over the 6 hours before the last one,
    # once those 6 hours exist (a first deployment whose backfill does not reach back an hour fills
    # its window during its first hour: that ramp alone is no baseline).
    Recording(
        "program:escrow_withdrawals:block_time_1h_avg6h",
        "avg_over_time(program:escrow_withdrawals:block_time_1h[6h] offset 1h)\n"
        "and present_over_time(program:escrow_withdrawals:block_time_1h[1h] offset 6h)",
        "treasury",
    ),
    Recording(
        "program:escrow_withdrawals:block_time_1h_baseline",
        "program:escrow_withdrawals:block_time_1h_baseline7d\nor\nprogram:escrow_withdrawals:block_time_1h_avg6h",
        "treasury",
    ),
    # The same for the withdrawn amounts, per mint (whole units).
    Recording(
        "program_mint:escrow_withdrawal_amount:block_time_1h",
        "sum by (program, mint) (\n"
        '  escrow_event_amount_block_time_window{[[job]], event="[[withdrawal_event]]", window="1h"}\n'
        ")\nunless on (program)\n"
        "max by (program) (escrow_ingest_lag_seconds{[[job]]}) > [[spike_settled_lag_seconds]]",
        "treasury",
    ),
    Recording(
        "program_mint:escrow_withdrawal_amount:block_time_1h_baseline",
        "avg without (baseline_day) (\n  "
        + "\n  or ".join(
            f'label_replace(program_mint:escrow_withdrawal_amount:block_time_1h offset {d}d, "baseline_day", "{d}", "", "")'
            for d in range(1, 8)
        )
        + "\n)\nor\n(\n  avg_over_time(program_mint:escrow_withdrawal_amount:block_time_1h[6h] offset 1h)\n"
        "  and present_over_time(program_mint:escrow_withdrawal_amount:block_time_1h[1h] offset 6h)\n)",
        "treasury",
    ),
    Recording(
        "program:escrow_transactions:rate10m",
        "sum by (program) (rate(escrow_transactions_total{[[job]]}[10m]))",
        "chain",
    ),
    # Transactions the program rejects because it is paused: EscrowProgramPaused covers the pause,
    # and after a resume the 10-minute window still holds them (they paged right after resuming).
    Recording(
        "program:escrow_transactions_rejected_paused:rate10m",
        'sum by (program) (rate(escrow_transaction_errors_total{[[job]], error=~"[[pause_errors]]"}[10m]))\n'
        "or on (program)\n0 * program:escrow_transactions:rate10m",
        "chain",
    ),
    Recording(
        "program:escrow_transactions_unpaused:rate10m",
        "program:escrow_transactions:rate10m - program:escrow_transactions_rejected_paused:rate10m",
        "chain",
    ),
    # 0/0 (every transaction rejected as paused) is NaN: no failure ratio while paused.
    Recording(
        "program:escrow_transactions_failed:ratio_rate10m",
        "(\n"
        '  sum by (program) (rate(escrow_transactions_total{[[job]], status="failed"}[10m]))\n'
        "  - program:escrow_transactions_rejected_paused:rate10m\n"
        ")\n/ program:escrow_transactions_unpaused:rate10m",
        "chain",
    ),
    # Per instruction: failed transactions whose (first) instruction it was, over its executions
    # (escrow_instructions_total counts failed transactions' instructions too). 0/0 is NaN.
    Recording(
        "program_instruction:escrow_transaction_failures:ratio_rate10m",
        "sum by (program, instruction) (rate(escrow_transaction_failures_total{[[job]]}[10m]))\n"
        "/ sum by (program, instruction) (rate(escrow_instructions_total{[[job]]}[10m]))",
        "chain",
    ),
    Recording(
        "program_instruction:escrow_compute_units:p99_rate15m",
        "histogram_quantile(0.99, sum by (program, instruction, le) (rate(escrow_compute_units_bucket{[[job]]}[15m])))",
        "chain",
    ),
]


def _counter_grew(metric: str, by: str, window_minutes: int = 15, matchers: str = "") -> str:
    """The counter grew within the window, including a series that appeared in it.

    increase() cannot see the first increment of a series created by it (the exporter renders
    a labelled counter, e.g. a new ``reason``, only once it counts something, at 1), hence the
    "new series" clause. That clause must not mistake a restart for news: the exporter restores
    its totals from the state file, so after a downtime longer than the window every restored
    series looks new. It therefore applies only once the process has been up for the window plus
    2 minutes (first cycle and scrape): a series created within the first 2 minutes of uptime is
    indistinguishable from a restored one and is not reported by that clause.

    "Absent before" looks back ``lookback_seconds`` (last_over_time), not at one instant: a failed
    scrape writes stale markers and a Prometheus outage leaves a hole, and either made a series
    that was there all along look new when the window's start fell into the gap.
    """
    sel = f"{metric}{{[[job]]{', ' + matchers if matchers else ''}}}"
    grace = window_minutes * 60 + 120
    return (
        f"sum by ({by}) (increase({sel}[{window_minutes}m])) > 0\n"
        f"or sum by ({by}) (\n"
        f"  ({sel} unless last_over_time({sel}[[[lookback_seconds]]s] offset {window_minutes}m))\n"
        f"  and on (job, instance) time() - process_start_time_seconds{{[[job]]}} > {grace}\n"
        ") > 0"
    )


def _seconds_since(ts: str, present: str, by: str) -> str:
    """Seconds since ``ts`` (a Unix-time gauge) last had a sample, for every series of ``present``.

    The exporter drops a series whose source keeps failing (``SeriesCache``), so the gauge alone
    cannot say how old it is: ``last_over_time`` keeps its last value for ``lookback_seconds``.
    Only series still ``present`` count (an exporter restarted under a new ``instance`` leaves
    its old series behind). With no sample in that window (never read since the exporter
    started), the exporter's uptime, capped at the window, is a lower bound.
    """
    return (
        f"time() - max by ({by}) (last_over_time({ts}[[[lookback_seconds]]s]))\n"
        f"  and on ({by}) {present}\n"
        f"or on ({by})\n"
        f"clamp_max(\n"
        f"  time() - max by ({by}) (0 * {present} + on (job, instance) group_left () process_start_time_seconds{{[[job]]}}),\n"
        f"  [[lookback_seconds]]\n"
        f")"
    )


def _indent(expr: str) -> str:
    return "\n".join("  " + line for line in expr.splitlines())


_INGEST = 'collector=~"ingest:.+"'


ALERTS: list[Alert] = [
    Alert(
        "EscrowExporterDown",
        "exporter",
        "up{[[job]]} == 0",
        {"high": ""},
        "2m",
        "The escrow exporter cannot be scraped.",
        "Prometheus has failed to scrape {{ $labels.instance }} (job {{ $labels.job }}) for 2 minutes: "
        "balances, events and business metrics are blind. Check first: is the process running "
        "(systemctl status escrow-exporter) and does http://{{ $labels.instance }}/-/healthy answer?",
        "escrow-exporter",
        '`up{job="escrow-exporter"} == 0` for 2m',
    ),
    Alert(
        "EscrowExporterAbsent",
        "exporter",
        "absent(up{[[job]]})",
        {"high": ""},
        "5m",
        "No escrow exporter target is known to Prometheus.",
        "Prometheus has had no target for job {{ $labels.job }} for 5 minutes, so no escrow alert can fire. "
        "Check first: the scrape_configs and service discovery in prometheus.yml (Status > Targets).",
        "escrow-exporter",
        'no `up{job="escrow-exporter"}` series for 5m',
    ),
    Alert(
        "EscrowCollectorFailing",
        "exporter",
        "escrow_exporter_collector_up{[[job]]} == 0",
        {"medium": ""},
        "5m",
        "An exporter collector keeps failing; its series are going stale.",
        "Collector {{ $labels.collector }} on {{ $labels.instance }} has failed every cycle for 5 minutes. "
        "Its last good values are served until they expire, then its series disappear. Check first: "
        'increase(escrow_exporter_collector_errors_total{collector="{{ $labels.collector }}"}[15m]) by reason '
        "and the exporter log.",
        "escrow-exporter",
        "`escrow_exporter_collector_up == 0` for 5m",
    ),
    Alert(
        "EscrowAppProbeFailed",
        "exporter",
        # A dead or unreachable blackbox_exporter fails the probe scrape (up 0) and leaves no
        # probe_success at all; probe targets that vanished (file_sd emptied) leave nothing but
        # their history. Never having had a probe target is not an alert (deployments without one).
        "probe_success{[[probe_job]]} == 0\n"
        "or up{[[probe_job]]} == 0\n"
        "or (up{[[probe_job]]} == 1 unless on (job, instance) probe_success{[[probe_job]]})\n"
        "or (absent(up{[[probe_job]]}) and on () count(last_over_time(up{[[probe_job]]}[1d])) > 0)",
        {"critical": ""},
        "2m",
        "An application health endpoint fails its blackbox probe, or is no longer probed.",
        "Probe {{ $labels.instance }} of job {{ $labels.job }} has failed or stopped reporting for 2 minutes: "
        "the endpoint fails (probe_success 0), blackbox_exporter is down or unreachable (the probe scrape fails, "
        "up 0), or every probe target of the job disappeared (no instance). Check first: "
        'up{job="{{ $labels.job }}"}, probe_http_status_code{instance="{{ $labels.instance }}"} '
        "and the application's own logs.",
        "escrow-overview",
        '`probe_success{job="escrow-app-health"} == 0`, or the probe scrape fails (`up == 0`), '
        "or every probe target vanished, for 2m",
    ),
    Alert(
        "EscrowRpcOutage",
        "rpc",
        "instance:escrow_rpc_up:max == 0",
        {"critical": ""},
        "1m",
        "Every Solana RPC endpoint is down: the exporter sees no chain data.",
        "All RPC endpoints of exporter {{ $labels.instance }} have been down for 1 minute: balances, "
        "ingestion and program state are frozen and will go stale. Check first: "
        "escrow_rpc_requests_total by endpoint and outcome (timeouts vs rate_limited vs error) and the "
        "providers' status pages. Procedure: docs/runbooks/rpc-outage.md.",
        "escrow-chain-rpc",
        "`max(escrow_rpc_up) == 0` per exporter for 1m",
        keep_firing_for="2m",
    ),
    Alert(
        "EscrowRpcEndpointDown",
        "rpc",
        "escrow_rpc_up{[[job]]} == 0",
        {"medium": ""},
        "5m",
        "A Solana RPC endpoint is down; the exporter runs on the others.",
        "RPC endpoint {{ $labels.endpoint }} of exporter {{ $labels.instance }} has been unhealthy for 5 minutes. "
        "Failover keeps data flowing but redundancy is lost. Check first: "
        'escrow_rpc_requests_total{endpoint="{{ $labels.endpoint }}"} by outcome.',
        "escrow-chain-rpc",
        "`escrow_rpc_up == 0` for 5m",
        keep_firing_for="2m",
    ),
    Alert(
        "EscrowRpcEndpointLagging",
        "rpc",
        "endpoint:escrow_rpc_slot_lag:slots > [[threshold]]",
        {"low": "[[rpc_slot_lag]]"},
        "5m",
        "A Solana RPC endpoint lags behind the others.",
        "RPC endpoint {{ $labels.endpoint }} is {{ $value }} slots behind the best endpoint of "
        "{{ $labels.instance }} for 5 minutes (threshold [[threshold]]). Check first: "
        "escrow_rpc_slot by endpoint, and whether this endpoint is the active one (escrow_rpc_active).",
        "escrow-chain-rpc",
        "slot lag behind the best endpoint > [[threshold]] slots for 5m",
    ),
    Alert(
        "EscrowRpcFailoverFlapping",
        "rpc",
        # increase() extrapolates to the window's edges: with scrapes not aligned to it, exactly
        # 4 failovers read as 4.03. Failovers are whole events, so round before comparing.
        "round(increase(escrow_rpc_failovers_total{[[job]]}[30m])) > [[threshold]]",
        {"medium": "[[failovers_per_30m]]"},
        "0m",
        "The exporter keeps switching RPC endpoints.",
        'Exporter {{ $labels.instance }} failed over {{ $value | printf "%.0f" }} times in 30 minutes '
        "(threshold [[threshold]]). Check first: escrow_rpc_active and escrow_rpc_up by endpoint; "
        "a provider that alternates between healthy and rate limited is the usual cause.",
        "escrow-chain-rpc",
        "more than [[threshold]] failovers in 30m (increase rounded to whole failovers)",
    ),
    Alert(
        "EscrowBalanceMismatch",
        "treasury",
        # Per mint: its own tolerance (site mints.<mint>.mismatch_tolerance), else the default.
        # A balance and a ledger read at different moments: on a busy platform that is skew, so
        # where exact reconciliation runs in mode slot, EscrowReconciliationMismatch replaces this
        # alert; without reconciliation, or with mode time, it stays (the fallback).
        "(\n"
        + _indent("[[mismatch_expr]]")
        + '\n)\nunless on () count(escrow_reconciliation_info{[[job]], mode="slot"})',
        {"critical": "[[mismatch_tolerance]]"},
        "10m",
        "On-chain escrow balance disagrees with the ledger.",
        "Escrow {{ $labels.account }} ([[mint_name]]): on-chain minus ledger = "
        '{{ $value | printf "%.6f" }} for 10 minutes (tolerance {{ $labels.tolerance }}; negative means funds missing '
        "on chain; an account closed on chain counts as 0). Check first: the latest "
        "[[withdrawal_event]] and settlement events and the ledger entries of the last hour. "
        "Procedure: docs/runbooks/escrow-mismatch-investigation.md.",
        "escrow-treasury",
        "abs(on-chain - ledger) > the mint's `mismatch_tolerance` (else [[threshold]]) units (an account closed "
        "on chain counts as 0) for 10m (fallback: not where exact reconciliation runs in mode slot)",
    ),
    Alert(
        "EscrowBalanceStale",
        "treasury",
        # The exporter drops the balance and its timestamp staleness_intervals polls after the
        # last good read, so the age is measured from the timestamp's last sample. Per exporter
        # (job, instance): each account lives in one shard, and EscrowRpcOutage on that shard
        # mutes it (alertmanager.yml). escrow_account_info is served for every configured
        # account, so an account never read at all is covered too. A closed account is read
        # fine (EscrowAccountMissing, EscrowBalanceMismatch and EscrowWalletBelowFloor cover it).
        "(\n"
        + _indent(
            _seconds_since(
                "escrow_account_balance_updated_timestamp_seconds{[[job]]}",
                "escrow_account_info{[[job]]}",
                "job, instance, account",
            )
        )
        + "\n) > [[threshold]]\n"
        "unless on (job, instance, account) escrow_account_exists{[[job]]} == 0",
        {"high": "[[balance_stale_seconds]]"},
        "5m",
        "An escrow balance has not been refreshed.",
        "The balance of {{ $labels.account }} on exporter {{ $labels.instance }} has not been read successfully "
        "for {{ $value | humanizeDuration }} (threshold [[threshold]]s; if it was never read, counted from the "
        "exporter's start, at most 6h). Its series is frozen or gone, so the mismatch and floor alerts are blind "
        'for it. Check first: escrow_exporter_collector_up{collector="balances"} and escrow_rpc_up on the exporter.',
        "escrow-treasury",
        "no successful balance read for > [[threshold]]s (its series frozen or dropped; an account never read "
        "counts from the exporter's start) for 5m",
    ),
    Alert(
        "EscrowAccountMissing",
        "treasury",
        "escrow_account_exists{[[job]]} == 0",
        {"high": ""},
        "5m",
        "A watched escrow, treasury or fee account does not exist on chain.",
        "Account {{ $labels.account }} is missing or closed on chain for 5 minutes. Check first: the "
        "address in the exporter config (PDA seeds and program id) and the account's last transactions "
        "in an explorer.",
        "escrow-treasury",
        "`escrow_account_exists == 0` for 5m",
    ),
    Alert(
        "EscrowWalletBelowFloor",
        "treasury",
        "[[wallet_floor_expr]]",
        {"high": ""},
        "10m",
        "A treasury or fee wallet is below its floor.",
        "The {{ $labels.role }} wallet {{ $labels.account }} holds {{ $value }} [[mint_name]] "
        "(floor {{ $labels.floor }}; a wallet closed on chain counts as 0). Check first: the wallet's "
        "recent outgoing transfers and whether a planned sweep ran.",
        "escrow-treasury",
        "treasury/fee balance below the floor of its account, else of its mint (closed = 0), for 10m; "
        "a mint without a floor, and a wallet with planned sweeps, is not floor-checked",
    ),
    Alert(
        "EscrowWithdrawalSpike",
        "treasury",
        "program:escrow_withdrawals:block_time_1h\n"
        "  > [[withdrawal_spike_factor]] * program:escrow_withdrawals:block_time_1h_baseline\n"
        "and program:escrow_withdrawals:block_time_1h > [[withdrawal_spike_floor]]",
        {"critical": ""},
        "5m",
        "Withdrawals are far above their usual level for this hour.",
        'Program {{ $labels.program }} processed {{ $value | printf "%.0f" }} withdrawals in the last hour '
        "(by block time: when they happened on chain), "
        "more than [[withdrawal_spike_factor]]x the same hour's 7-day average (before 7 days of history: "
        "the average hour of the 6 hours before; ignored below [[withdrawal_spike_floor]]). "
        "Check first: top withdrawing users "
        'in the business DB and escrow_event_amount_total{event="[[withdrawal_event]]"}. '
        "Procedure: docs/runbooks/fraud-escalation-chargebacks.md.",
        "escrow-treasury",
        "withdrawals/h by block time > [[withdrawal_spike_factor]]x same-hour 7d average (before that: the 6 "
        "hours before, once recorded) and > [[withdrawal_spike_floor]]/h, for 5m; not evaluated while ingestion lags by more "
        "than [[spike_settled_lag_seconds]]s (the window under-counts then; EscrowIngestLag covers it)",
    ),
    Alert(
        "EscrowMoneyInstructionFailures",
        "chain",
        'program_instruction:escrow_transaction_failures:ratio_rate10m{instruction=~"[[money_instructions]]"}'
        " > [[threshold]]\n"
        "and on (program, instruction)\n"
        "max by (program, instruction) (\n"
        '  increase(escrow_transaction_failures_total{[[job]], instruction=~"[[money_instructions]]"}[10m])\n'
        ") >= [[money_ix_failure_min_count]]\n"
        # While paused, and for the 10 minutes after, every instruction fails with the pause error:
        # EscrowProgramPaused reports that (and a resume must not page).
        "unless on (program)\n"
        "program:escrow_transactions_rejected_paused:rate10m > 0",
        {"critical": "[[money_ix_failure_ratio_critical]]", "high": "[[money_ix_failure_ratio_high]]"},
        "5m",
        "Transactions of an instruction that moves players' money fail.",
        "{{ $value | humanizePercentage }} of {{ $labels.program }}'s {{ $labels.instruction }} instructions failed "
        "over 10 minutes (threshold [[threshold]], from [[money_ix_failure_min_count]] failures; not while paused): "
        "players are not being paid or refunded, whatever the rest of the program does. "
        "Check first: "
        'increase(escrow_transaction_errors_total{program="{{ $labels.program }}"}[10m]) by error, and the '
        "failing transactions' logs (the program's error names are in its IDL); InsufficientFunds on a "
        "settlement or refund is money at risk (docs/runbooks/escrow-mismatch-investigation.md).",
        "escrow-business",
        "failed / executed, per instruction in `events.money_instructions`, over 10m > [[threshold]] "
        "(with >= [[money_ix_failure_min_count]] failures), not while paused or within 10m of a pause, for 5m",
    ),
    Alert(
        "EscrowTransactionFailureRatio",
        "chain",
        "program:escrow_transactions_failed:ratio_rate10m > [[threshold]]\n"
        "and program:escrow_transactions_unpaused:rate10m > [[tx_failure_min_rate]]",
        {"high": "[[tx_failure_ratio_high]]", "medium": "[[tx_failure_ratio_medium]]"},
        "10m",
        "Many of the program's transactions fail.",
        "{{ $value | humanizePercentage }} of {{ $labels.program }} transactions failed over 10 minutes "
        "(not counting rejections while paused: [[pause_errors]]) "
        "(threshold [[threshold]]). Check first: "
        'topk(5, increase(escrow_transaction_errors_total{program="{{ $labels.program }}"}[10m])) by error.',
        "escrow-overview",
        "failed/total transactions, rejections while paused (`[[pause_errors]]`) left out, > [[threshold]] "
        "(and > [[tx_failure_min_rate]] tx/s) for 10m",
    ),
    Alert(
        "EscrowComputeUnitsNearLimit",
        "chain",
        "program_instruction:escrow_compute_units:p99_rate15m > [[threshold]]",
        {"medium": "[[compute_units_p99]]"},
        "15m",
        "An instruction's compute units approach the transaction budget.",
        'p99 compute units of {{ $labels.program }}.{{ $labels.instruction }} are {{ $value | printf "%.0f" }} '
        "(threshold [[threshold]] of [[compute_units_limit]]). Transactions will start failing with "
        "'exceeded CUs'. Check first: the instruction's recent changes and the size of its accounts "
        "(players per match).",
        "escrow-overview",
        "p99 compute units per instruction > [[threshold]] for 15m",
    ),
    Alert(
        "EscrowIngestLag",
        "chain",
        # escrow_ingest_lag_seconds measures what the cycles saw; a cycle that fails before
        # listing anything (from a caught-up state, where the gauge read 0, or with no success
        # since the exporter started) is covered by the time since the last successful cycle.
        "escrow_ingest_lag_seconds{[[job]]} > [[threshold]]\n"
        "or on (job, instance, program)\n"
        "max without (collector) (label_replace(\n"
        + _indent(
            _seconds_since(
                f"escrow_exporter_collector_last_success_timestamp_seconds{{[[job]], {_INGEST}}}",
                f"escrow_exporter_collector_up{{[[job]], {_INGEST}}}",
                "job, instance, collector",
            )
        )
        + ',\n  "program", "$1", "collector", "ingest:(.+)"\n)) > [[threshold]]',
        {"high": "[[ingest_lag_high_seconds]]", "medium": "[[ingest_lag_medium_seconds]]"},
        "5m",
        "Event ingestion is behind the chain.",
        "Ingestion of {{ $labels.program }} on {{ $labels.instance }} is {{ $value | humanizeDuration }} behind, "
        "or has not completed a cycle for that long (threshold [[threshold]]s); "
        "event counters and withdrawal alerts lag by as much. Check first: "
        'rate(escrow_rpc_requests_total{method="getTransaction"}[5m]) by outcome and '
        "escrow_exporter_collector_up.",
        "escrow-chain-rpc",
        "`escrow_ingest_lag_seconds > [[threshold]]`, or no successful ingest cycle for > [[threshold]]s, for 5m",
    ),
    Alert(
        "EscrowEventDecodeErrors",
        "chain",
        _counter_grew("escrow_event_decode_errors_total", "job, instance, program, reason"),
        {"medium": ""},
        "0m",
        "Program events fail to decode; event totals are incomplete.",
        '{{ $value | printf "%.0f" }} events of {{ $labels.program }} failed to decode ({{ $labels.reason }}) '
        "in 15 minutes. Usually the program was upgraded and the IDL in the exporter config is old. "
        "Check first: the program's last deploy slot and the IDL version.",
        "escrow-exporter",
        "any new `escrow_event_decode_errors_total` in 15m (not totals restored at a restart)",
    ),
    Alert(
        "EscrowLogsTruncated",
        "chain",
        # Served for every program from 0 (exporter/collectors/ingest.py), so increase() sees the
        # first truncation; no "new series" clause to misfire on totals restored after a restart.
        "sum by (job, instance, program) (increase(escrow_logs_truncated_total{[[job]]}[15m])) > 0",
        {"low": ""},
        "0m",
        "Transaction logs were truncated; log-emitted events may be missing.",
        '{{ $value | printf "%.0f" }} transactions of {{ $labels.program }} had truncated logs in 15 minutes. '
        "Events emitted with emit_cpi! are unaffected; log-emitted events in those transactions were lost. "
        "Check first: which instructions log heavily (escrow_instructions_total).",
        "escrow-exporter",
        "`escrow_logs_truncated_total` grew in 15m (not totals restored at a restart)",
    ),
    Alert(
        "EscrowProgramPaused",
        "chain",
        'max by (program) (escrow_program_accounts{[[job]], account="PlatformConfig", state="paused"}) == 1\n'
        # The event counter of a new `reason` label value is created at 1: _counter_grew sees it.
        "or " + _counter_grew("escrow_events_total", "program", 10, 'event="[[pause_event]]"'),
        {"high": ""},
        "1m",
        "The escrow program is paused (or was paused in the last 10 minutes).",
        "Program {{ $labels.program }} is paused: joins, settlements and withdrawals fail with [[pause_errors_text]]. "
        "A planned pause is silenced before it starts; if nobody announced one, treat it as an incident. "
        "Check first: the [[pause_event]] event's authority and reason. "
        "Procedure: docs/runbooks/emergency-pause-resume.md.",
        "escrow-overview",
        "PlatformConfig paused, or a [[pause_event]] event in 10m (including the first of a new `reason`)",
    ),
    Alert(
        "EscrowAuditLogGap",
        "business",
        "escrow_business_audit_log_missing_entries{[[job]]} > 0",
        {"critical": ""},
        "5m",
        "The audit log has missing sequence numbers.",
        '{{ $value | printf "%.0f" }} audit-log sequence numbers are missing for 5 minutes. The audit log must be '
        "gap-free; a gap means a lost write or tampering. Check first: the missing sequence range in the "
        "business DB; once explained, record it in audit_log_gap_explanations and the alert clears. "
        "Procedure: docs/runbooks/audit-log-gap.md.",
        "escrow-business",
        "`escrow_business_audit_log_missing_entries > 0` (unexplained missing numbers) for 5m",
    ),
    Alert(
        "EscrowReconciliationOverdue",
        "business",
        # The query returns no row, so the exporter serves no timestamp, when no run ever succeeded
        # (or the table was emptied): last_over_time keeps a vanished timestamp for a day (for an
        # exporter still running the query, not one gone under an old instance), and a query that
        # has answered for the whole threshold without any row is overdue too (its value is then
        # the threshold: at least that long).
        "(\n"
        "  time() - max by (job, instance) ("
        "last_over_time(escrow_business_reconciliation_last_success_timestamp_seconds{[[job]]}[1d]))\n"
        '    and on (job, instance) escrow_sql_query_up{[[job]], query="reconciliation_last_success"}\n'
        ") > [[threshold]]\n"
        "or on (job, instance)\n"
        "[[threshold]] + 0 * max by (job, instance) ("
        'escrow_sql_query_up{[[job]], query="reconciliation_last_success"} == 1)\n'
        "  and on (job, instance) present_over_time("
        'escrow_sql_query_up{[[job]], query="reconciliation_last_success"}[1d] offset [[threshold]]s)\n'
        "  unless on (job, instance) last_over_time("
        "escrow_business_reconciliation_last_success_timestamp_seconds{[[job]]}[[[threshold]]s])",
        {"high": "[[reconciliation_high_seconds]]", "medium": "[[reconciliation_medium_seconds]]"},
        "10m",
        "The ledger has not been reconciled against the chain recently.",
        "The last successful reconciliation finished {{ $value | humanizeDuration }} ago (threshold "
        "[[threshold]]s; if the business DB holds no successful run at all, the value is the threshold: "
        "at least that long). "
        "Check first: the reconciliation job's schedule and its last error in the business DB.",
        "escrow-business",
        "last successful reconciliation older than [[threshold]]s (or none recorded for [[threshold]]s "
        "while the query works) for 10m",
    ),
    Alert(
        "EscrowPaymentWebhookLatencyHigh",
        "business",
        "escrow_business_payment_webhook_latency_seconds{[[job]]} > [[threshold]]",
        {"medium": "[[webhook_latency_seconds]]"},
        "10m",
        "Payment-provider webhooks arrive late.",
        "Webhooks from {{ $labels.provider }} arrive {{ $value | humanizeDuration }} after creation (threshold "
        "[[threshold]]s): deposits are credited late. Check first: the provider's status page and our "
        "webhook endpoint's error rate.",
        "escrow-business",
        "`escrow_business_payment_webhook_latency_seconds > [[threshold]]` for 10m",
    ),
    Alert(
        "EscrowOutboxBacklog",
        "business",
        "escrow_business_outbox_depth{[[job]]} > [[threshold]]",
        {"medium": "[[outbox_depth]]"},
        "15m",
        "An outbox queue is backing up.",
        'Queue {{ $labels.queue }} holds {{ $value | printf "%.0f" }} messages for 15 minutes (threshold '
        "[[threshold]]). Check first: whether its consumer is running and the oldest message's error.",
        "escrow-business",
        "`escrow_business_outbox_depth > [[threshold]]` for 15m",
    ),
    Alert(
        "EscrowSqlQueryFailing",
        "business",
        "escrow_sql_query_up{[[job]]} == 0",
        {"medium": ""},
        "10m",
        "A business SQL query keeps failing.",
        "SQL query {{ $labels.query }} has failed for 10 minutes; its metrics are stale or gone. Check first: "
        'increase(escrow_sql_query_errors_total{query="{{ $labels.query }}"}[15m]) by reason.',
        "escrow-business",
        "`escrow_sql_query_up == 0` for 10m",
    ),
    Alert(
        "EscrowSqlDatabaseDown",
        "business",
        "escrow_sql_up{[[job]]} == 0",
        {"high": ""},
        "5m",
        "The exporter cannot reach the business database.",
        "Database {{ $labels.database }} has been unreachable from {{ $labels.instance }} for 5 minutes: "
        "ledger reconciliation and every business alert are blind. Check first: the database's health and "
        "the exporter's DSN secret.",
        "escrow-business",
        "`escrow_sql_up == 0` for 5m",
        keep_firing_for="2m",
    ),
    Alert(
        "Watchdog",
        "meta",
        "vector(1)",
        {"low": ""},
        "0m",
        "Always firing: proves the alerting pipeline works end to end.",
        "This alert always fires (value {{ $value }}). Alertmanager routes it to the dead-man's-switch service, which pages "
        "when the pings stop. Check first, if the pings stopped: Prometheus and Alertmanager health.",
        "escrow-overview",
        "always (`vector(1)`)",
    ),
]

#: The meta-monitoring alerts link here: its "Alerting pipeline" row plots what they read.
_MONITORING_DASHBOARD = "escrow-exporter"

ALERTS += [
    Alert(
        "EscrowExporterMemoryHigh",
        "exporter",
        "process_resident_memory_bytes{[[job]]} > [[threshold]]",
        {"medium": "[[exporter_memory_bytes]]"},
        "15m",
        "The exporter's memory keeps growing past its budget.",
        "Exporter {{ $labels.instance }} uses {{ $value | humanize1024 }}B resident memory for 15 minutes "
        "(threshold [[threshold]] bytes). Left alone it is OOM-killed and every escrow alert goes blind. "
        "Check first: escrow_exporter_collector_duration_seconds and series counts (label cardinality: "
        "escrow_event_label_overflow_total).",
        "escrow-exporter",
        "`process_resident_memory_bytes > [[threshold]]` for 15m",
    ),
    Alert(
        "EscrowExporterFdsNearLimit",
        "exporter",
        "process_open_fds{[[job]]} / process_max_fds{[[job]]} > [[threshold]]",
        {"medium": "[[exporter_fds_ratio]]"},
        "10m",
        "The exporter is running out of file descriptors.",
        "Exporter {{ $labels.instance }} uses {{ $value | humanizePercentage }} of its file descriptors "
        "(threshold [[threshold]]): new RPC and database connections will fail. Check first: "
        "process_open_fds over the last day (a leak grows steadily) and the number of RPC endpoints.",
        "escrow-exporter",
        "`process_open_fds / process_max_fds > [[threshold]]` for 10m",
    ),
    Alert(
        "EscrowRpcLatencyHigh",
        "rpc",
        # Over 10 minutes, and still in the last minute: an outage's timeouts stay in the 10-minute
        # window after it ends, and paged once EscrowRpcOutage (which mutes this) had resolved.
        "histogram_quantile(0.95, sum by (job, instance, endpoint, le) ("
        "rate(escrow_rpc_request_duration_seconds_bucket{[[job]]}[10m])))\n  > [[threshold]]\n"
        "and on (job, instance, endpoint)\n"
        "histogram_quantile(0.95, sum by (job, instance, endpoint, le) ("
        "rate(escrow_rpc_request_duration_seconds_bucket{[[job]]}[1m])))\n  > [[threshold]]",
        {"medium": "[[rpc_latency_p95_seconds]]"},
        "10m",
        "A Solana RPC endpoint answers slowly.",
        "p95 latency of RPC endpoint {{ $labels.endpoint }} from {{ $labels.instance }} is "
        '{{ $value | printf "%.2f" }}s over 10 minutes (threshold [[threshold]]s): cycles run long and '
        "ingestion falls behind. Check first: escrow_rpc_request_duration_seconds by method and the "
        "provider's status page.",
        "escrow-chain-rpc",
        "p95 of `escrow_rpc_request_duration_seconds` per endpoint > [[threshold]]s over 10m and over the last "
        "minute, for 10m",
    ),
    Alert(
        "EscrowRpcErrorRatio",
        "rpc",
        # Over 10 minutes, and still in the last minute (see EscrowRpcLatencyHigh).
        'sum by (job, instance, endpoint) (rate(escrow_rpc_requests_total{[[job]], outcome!="success"}[10m]))\n'
        "/ sum by (job, instance, endpoint) (rate(escrow_rpc_requests_total{[[job]]}[10m]))\n"
        "> [[threshold]]\n"
        "and on (job, instance, endpoint)\n"
        'sum by (job, instance, endpoint) (rate(escrow_rpc_requests_total{[[job]], outcome!="success"}[1m]))\n'
        "/ sum by (job, instance, endpoint) (rate(escrow_rpc_requests_total{[[job]]}[1m]))\n"
        "> [[threshold]]",
        {"medium": "[[rpc_error_ratio]]"},
        "10m",
        "Many requests to a Solana RPC endpoint fail.",
        "{{ $value | humanizePercentage }} of requests to RPC endpoint {{ $labels.endpoint }} from "
        "{{ $labels.instance }} failed over 10 minutes (threshold [[threshold]]). Check first: "
        'escrow_rpc_requests_total{endpoint="{{ $labels.endpoint }}"} by outcome (rate_limited means the '
        "plan's quota; timeout the network or the provider).",
        "escrow-chain-rpc",
        "non-success / all RPC requests per endpoint > [[threshold]] over 10m and over the last minute, for 10m",
    ),
    Alert(
        "EscrowWithdrawalAmountSpike",
        "treasury",
        "program_mint:escrow_withdrawal_amount:block_time_1h\n"
        "  > [[withdrawal_spike_factor]] * program_mint:escrow_withdrawal_amount:block_time_1h_baseline\n"
        "and on (program) program:escrow_withdrawals:block_time_1h > [[withdrawal_spike_floor]]",
        {"critical": ""},
        "5m",
        "The amount withdrawn is far above its usual level for this hour.",
        'Program {{ $labels.program }} paid out {{ $value | printf "%.2f" }} [[mint_name]] in withdrawals in '
        "the last hour (by block time), more than [[withdrawal_spike_factor]]x the same hour's 7-day average "
        "(before 7 days of history: the 6 hours before). A few large withdrawals drain an escrow "
        "as surely as many small ones. Check first: the largest [[withdrawal_event]] events of the hour and "
        "their users. Procedure: docs/runbooks/fraud-escalation-chargebacks.md.",
        "escrow-treasury",
        "withdrawn amount per mint per hour by block time > [[withdrawal_spike_factor]]x its baseline (7d same "
        "hour, else the 6 hours before, once recorded), with more than [[withdrawal_spike_floor]] withdrawals, for 5m; not "
        "evaluated while ingestion lags by more than [[spike_settled_lag_seconds]]s",
    ),
    Alert(
        "EscrowLedgerWriteErrors",
        "business",
        # The "counter" is COUNT(*) of the write_errors table: a retention purge makes it drop, which
        # increase() reads as a reset and counts the remaining rows as new. Growth above the window's
        # minimum is what was added since (a purge alone adds nothing).
        "sum by (job, instance, component) (\n"
        "  escrow_business_write_errors_total{[[job]]}\n"
        "  - min_over_time(escrow_business_write_errors_total{[[job]]}[15m])\n"
        ") > 0\nor\n"
        + _counter_grew("escrow_business_write_errors_total", "job, instance, component").split("\nor ", 1)[
            1
        ],
        {"critical": ""},
        "0m",
        "The platform failed to write to the ledger.",
        '{{ $value | printf "%.0f" }} write errors of {{ $labels.component }} recorded in 15 minutes. A failed '
        "ledger write is money the books do not know about. Check first: the write_errors rows of the "
        "component in the business DB and the service's logs.",
        "escrow-business",
        "`escrow_business_write_errors_total` grew in 15m (including a new component)",
    ),
    Alert(
        "EscrowAuditLogStale",
        "business",
        "time() - escrow_business_audit_log_last_entry_timestamp_seconds{[[job]]} > [[threshold]]",
        {"high": "[[audit_log_silence_seconds]]"},
        "5m",
        "Nothing has been written to the audit log recently.",
        "The newest audit-log entry is {{ $value | humanizeDuration }} old (threshold [[threshold]]s): the "
        "writer is down or failing, and actions taken meanwhile are not audited. Check first: the audit "
        "writer's health and escrow_business_write_errors_total. Procedure: docs/runbooks/audit-log-gap.md.",
        "escrow-business",
        "newest audit-log entry older than [[threshold]]s for 5m",
    ),
    Alert(
        "EscrowPaymentWebhooksStopped",
        "business",
        # payment_webhook_latency returns a row per provider with a webhook in the last 15 minutes:
        # a provider seen in the last day with no row now has gone silent (while the query works).
        "max by (job, instance, provider) ("
        "last_over_time(escrow_business_payment_webhook_latency_seconds{[[job]]}[1d]))\n"
        "unless on (job, instance, provider) escrow_business_payment_webhook_latency_seconds{[[job]]}\n"
        'and on (job, instance) escrow_sql_query_up{[[job]], query="payment_webhook_latency"} == 1',
        {"critical": ""},
        "15m",
        "A payment provider's webhooks have stopped arriving.",
        "No webhook from {{ $labels.provider }} has been received for 30 minutes (15 without any, then 15 more): "
        "deposits are not being credited. Check first: the provider's status page and dashboard (webhook "
        "delivery attempts), our webhook endpoint's logs and TLS certificate.",
        "escrow-business",
        "a provider seen in the last day has no webhook for 15m, for 15m (the query working)",
    ),
    Alert(
        "EscrowAlertmanagerNotificationsFailing",
        "meta",
        "sum by (job, instance, integration) ("
        "increase(alertmanager_notifications_failed_total{[[alertmanager_job]]}[10m])) > 0",
        {"high": ""},
        "10m",
        "Alertmanager fails to deliver notifications.",
        'Alertmanager {{ $labels.instance }} failed {{ $value | printf "%.0f" }} {{ $labels.integration }} '
        "notifications in 10 minutes, for 10 minutes: pages and messages through it are lost. Check first: "
        "the Alertmanager log (the receiver's error), the integration's secrets (routing key, webhook URL) "
        "and outbound network.",
        _MONITORING_DASHBOARD,
        "`alertmanager_notifications_failed_total` grew per integration over 10m, for 10m",
    ),
    Alert(
        "EscrowPrometheusRuleFailures",
        "meta",
        "sum by (job, instance, rule_group) ("
        "increase(prometheus_rule_evaluation_failures_total{[[prometheus_job]]}[10m])) > 0",
        {"high": ""},
        "5m",
        "Prometheus fails to evaluate rules: alerts cannot fire.",
        'Prometheus {{ $labels.instance }} failed {{ $value | printf "%.0f" }} evaluations of group '
        "{{ $labels.rule_group }} in 10 minutes: its alerts are blind. Check first: the Prometheus log "
        "(many-to-many matching, a query timeout) and `promtool check rules`.",
        _MONITORING_DASHBOARD,
        "`prometheus_rule_evaluation_failures_total` grew in 10m, for 5m",
    ),
    Alert(
        "EscrowPrometheusNotificationsDropped",
        "meta",
        "increase(prometheus_notifications_dropped_total{[[prometheus_job]]}[10m]) > 0\n"
        "or on (job, instance)\n"
        "prometheus_notifications_queue_length{[[prometheus_job]]}\n"
        "  / prometheus_notifications_queue_capacity{[[prometheus_job]]} > [[threshold]]",
        {"high": "[[prometheus_notification_queue_ratio]]"},
        "5m",
        "Prometheus drops alerts on their way to Alertmanager.",
        "Prometheus {{ $labels.instance }} dropped alert notifications or its queue is over [[threshold]] of "
        "its capacity "
        '(value {{ $value | printf "%.2f" }}): firing alerts may never reach Alertmanager. Check first: '
        "prometheus_notifications_errors_total by alertmanager and Alertmanager's health.",
        _MONITORING_DASHBOARD,
        "notifications dropped in 10m, or the notification queue > [[threshold]] of its capacity, for 5m",
    ),
    Alert(
        "EscrowMonitoringConfigReloadFailed",
        "meta",
        "prometheus_config_last_reload_successful{[[prometheus_job]]} == 0\n"
        "or alertmanager_config_last_reload_successful{[[alertmanager_job]]} == 0",
        {"medium": ""},
        "10m",
        "Prometheus or Alertmanager failed to load its new configuration.",
        "{{ $labels.job }} {{ $labels.instance }} still runs its previous configuration: the last reload "
        "failed. Rules, routes or receivers changed since are not in effect. Check first: "
        "`promtool check config` / `amtool check-config` on the deployed files.",
        _MONITORING_DASHBOARD,
        "`*_config_last_reload_successful == 0` for 10m",
    ),
]


# ---- Exact reconciliation (issue 12): chain, events and ledger compared at one slot -------------
# Its thresholds (reconciliation_agreeing_runs, reconciliation_blocked_{ticket,page}_seconds) are
# in the site config with every other one.


def reconciliation_alerts() -> list[Alert]:
    return [
        Alert(
            "EscrowReconciliationMismatch",
            "treasury",
            # $value is the drift; the streak (consecutive reconciliations beyond the mint's
            # tolerance, counted by the exporter) makes two agreeing reconciliations the condition.
            "max by (account, mint, views) (escrow_reconciliation_drift_raw{[[job]]})\n"
            "  and on (account, mint, views)\n"
            "max by (account, mint, views) (escrow_reconciliation_mismatch_streak{[[job]]}) >= [[threshold]]",
            {"critical": "[[reconciliation_agreeing_runs]]"},
            "0m",
            "Two views of escrow money disagree at the same slot.",
            "Account {{ $labels.account }} ([[mint_name]]), views {{ $labels.views }}: drift "
            '{{ $value | printf "%.0f" }} raw units at the reconciled slot, in [[threshold]] consecutive '
            "reconciliations. chain_ledger = chain minus ledger as of the slot (negative: the books hold more "
            "than the chain); chain_events = the chain's change minus what the program's events say moved "
            "(an on-chain movement no event explains). Check first: escrow_reconciliation_slot and the "
            "transactions of that account around it. Procedure: docs/runbooks/escrow-mismatch-investigation.md.",
            "escrow-treasury",
            "drift beyond the mint's tolerance (default 0 raw units) in [[threshold]] consecutive reconciliations",
        ),
        Alert(
            "EscrowReconciliationUnmatched",
            "treasury",
            'max by (kind) (escrow_reconciliation_unmatched{[[job]], kind=~"chain_account_without_ledger_row'
            '|ledger_row_without_chain_account"}) > [[threshold]]',
            {"critical": "0"},
            "1m",
            "An escrow account exists in one view and not the other: reconciliation would be blind to it.",
            '{{ $value | printf "%.0f" }} item(s) of kind {{ $labels.kind }} at the reconciled slot: an account '
            "on chain without a ledger row (a new escrow missing from the books, or its mint spelled "
            "differently), or a ledger row no watched account matches. Its whole balance is drift. Check "
            'first: escrow_reconciliation_drift_raw{views="chain_ledger"} by account and mint, and the '
            "ledger's escrow_accounts table.",
            "escrow-treasury",
            '`escrow_reconciliation_unmatched{kind=~"chain_account_without_ledger_row|ledger_row_without_chain_account"}'
            " > [[threshold]]` for 1m",
        ),
        Alert(
            "EscrowLedgerEntryNotOnChain",
            "treasury",
            'max by (kind) (escrow_reconciliation_unmatched{[[job]], kind="ledger_entry_not_on_chain"}) > [[threshold]]',
            {"high": "0"},
            "5m",
            "The ledger books entries whose transaction never reached the chain.",
            '{{ $value | printf "%.0f" }} ledger entries still have no slot long after they were written '
            "(reconciliation.ledger.unconfirmed_after_slots): their transactions were dropped or never sent, "
            "yet the books show them. Check first: their signatures on an explorer and the back end's "
            "transaction-submission errors.",
            "escrow-treasury",
            '`escrow_reconciliation_unmatched{kind="ledger_entry_not_on_chain"} > [[threshold]]` for 5m',
        ),
        Alert(
            "EscrowReconciliationBlocked",
            "treasury",
            # The age of the last reconciled slot keeps growing while a view cannot be read (RPC
            # down, ingestion behind the slot, ledger query failing): loud, and paging when long.
            "max by (job, instance, views) (escrow_reconciliation_slot_age_seconds{[[job]]}) > [[threshold]]",
            {
                "critical": "[[reconciliation_blocked_page_seconds]]",
                "high": "[[reconciliation_blocked_ticket_seconds]]",
            },
            "0m",
            "Escrow reconciliation cannot run: the money check is blind.",
            "Views {{ $labels.views }} on {{ $labels.instance }} were last reconciled "
            "{{ $value | humanizeDuration }} ago (threshold [[threshold]]s). Check first: "
            'escrow_reconciliation_blocked{views="{{ $labels.views }}"} for the reason (rpc_unavailable, '
            "ingestion_behind, ledger_unavailable) and the exporter log.",
            "escrow-treasury",
            "last reconciled slot older than [[threshold]]s",
        ),
    ]


ALERTS.extend(reconciliation_alerts())


# ---- end of exact reconciliation ------------------------------------------------------------------

# ---- Payments and backups (issue 17): bundle/payments.py, bundle/backups.py--------------------------------------
from bundle import backups as _backups  # noqa: E402 - they build on Alert and Recording above
from bundle import payments as _payments  # noqa: E402

RECORDINGS.extend(_payments.RECORDINGS)
ALERTS.extend(_payments.ALERTS + _backups.ALERTS)


# ---- Capacity forecasts (issue 17, review loop): predict_linear on what grows on disk -----------
# The exporter's state file and Prometheus' TSDB, forecast [[capacity_forecast_seconds]] ahead from
# their growth over CAPACITY_WINDOW, against a budget per resource (bytes, in the site config).
# A series younger than CAPACITY_MIN_HISTORY is not forecast: a fresh file or TSDB grows fastest
# in its first minutes, and a week extrapolated from them is noise.
CAPACITY_WINDOW = "6h"
CAPACITY_MIN_HISTORY = "3h"


def _forecast(record: str, series: str, on: str = "job, instance") -> Recording:
    return Recording(
        record,
        f"predict_linear({series}[{CAPACITY_WINDOW}], [[capacity_forecast_seconds]])\n"
        f"and on ({on}) ({series} offset {CAPACITY_MIN_HISTORY})",
        "capacity",
    )


#: The business (ledger) databases postgres_exporter reports: every database but PostgreSQL's own.
LEDGER_DATABASES = 'pg_database_size_bytes{[[postgres_job]], datname!~"template.*|postgres"}'


RECORDINGS += [
    Recording(
        "instance:prometheus_tsdb_bytes:sum",
        "prometheus_tsdb_storage_blocks_bytes{[[prometheus_job]]}\n"
        "+ prometheus_tsdb_wal_storage_size_bytes{[[prometheus_job]]}\n"
        "+ prometheus_tsdb_head_chunks_storage_size_bytes{[[prometheus_job]]}",
        "capacity",
    ),
    _forecast(
        "instance:escrow_exporter_state_file_bytes:forecast", "escrow_exporter_state_file_bytes{[[job]]}"
    ),
    _forecast("instance:prometheus_tsdb_bytes:forecast", "instance:prometheus_tsdb_bytes:sum"),
    _forecast("instance_datname:pg_database_size_bytes:forecast", LEDGER_DATABASES, "job, instance, datname"),
]

ALERTS.append(
    Alert(
        "EscrowCapacityForecast",
        "capacity",
        "label_replace(label_replace(\n"
        "  instance:escrow_exporter_state_file_bytes:forecast > [[state_file_budget_bytes]],\n"
        '  "resource", "state_file", "", ""), "budget", "[[state_file_budget_bytes]]", "", "")\n'
        "or\n"
        "label_replace(label_replace(\n"
        "  instance:prometheus_tsdb_bytes:forecast > [[prometheus_tsdb_budget_bytes]],\n"
        '  "resource", "prometheus_tsdb", "", ""), "budget", "[[prometheus_tsdb_budget_bytes]]", "", "")\n'
        "or\n"
        "label_replace(label_replace(\n"
        "  instance_datname:pg_database_size_bytes:forecast > [[ledger_database_budget_bytes]],\n"
        '  "resource", "ledger_database", "", ""), "budget", "[[ledger_database_budget_bytes]]", "", "")',
        {"low": ""},
        "1h",
        "A resource on disk is forecast to outgrow its budget within the forecast horizon.",
        "The {{ $labels.resource }} of {{ $labels.instance }} is forecast at {{ $value | humanize1024 }}B "
        "[[capacity_forecast_seconds]]s from now (its growth over the last "
        + CAPACITY_WINDOW
        + "), above its "
        "budget of {{ $labels.budget }} bytes. Check first: the growth of the size over the last days (the weekly "
        "review dashboard's state file panel, prometheus_tsdb_* for the TSDB, pg_database_size_bytes and the "
        "database dashboard's size forecast for the ledger database {{ $labels.datname }}); plan disk, retention, "
        "compaction or archiving before it is reached.",
        "escrow-weekly-review",
        "`predict_linear` over "
        + CAPACITY_WINDOW
        + " of the state file size (`escrow_exporter_state_file_bytes`) "
        "or the Prometheus TSDB size (blocks + WAL + head chunks) or the ledger database's size "
        "(`pg_database_size_bytes`), [[capacity_forecast_seconds]]s ahead, above "
        "its budget (`state_file_budget_bytes`, `prometheus_tsdb_budget_bytes`, `ledger_database_budget_bytes`), with "
        + CAPACITY_MIN_HISTORY
        + " of history, for 1h",
    )
)


# ---- end of capacity forecasts ----------------------------------------------------------------------
# ---- Uptime, SLOs and platform health (issue 17): bundle/slo.py, bundle/platform.py ---------------
def _issue17_rules() -> None:
    from bundle import platform, slo

    PARAMS.update(
        node_job=f'job="{SITE.node_job}"',
        postgres_job=f'job="{SITE.postgres_job}"',
        app_http_job=f'job="{SITE.app_http_job}"',
    )
    for module in (slo, platform):
        RULE_GROUP_FILES.update(module.RULE_GROUP_FILES)
        RECORDINGS.extend(module.recordings())
        ALERTS.extend(module.alerts())


_issue17_rules()


def alert_by_name(name: str) -> Alert:
    for a in ALERTS:
        if a.name == name:
            return a
    raise KeyError(name)
