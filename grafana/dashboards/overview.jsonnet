// Overview: health at a glance, firing alerts, RPC, escrow vs ledger, headline KPIs.
local d = import '../lib/dash.libsonnet';
local site = (import '../lib/site.libsonnet').thresholds;
local sel = d.sel;
local t = d.target;

local programVar = d.labelVar('program', 'program', 'label_values(escrow_events_total{job=~"$job",instance=~"$instance"}, program)');
local mintVar = d.labelVar('mint', 'mint', 'label_values(escrow_account_balance{job=~"$job",instance=~"$instance"}, mint)');

local upDown = [
  { type: 'value', options: { '0': { text: 'DOWN', color: 'red' }, '1': { text: 'UP', color: 'green' } } },
];

d.dashboard(
  uid='escrow-overview',
  title='Escrow / Overview',
  description='Health at a glance: exporter, collectors, firing alerts, RPC, escrow versus ledger and headline business figures.',
  version=6,
  tags=['overview'],
  variables=[programVar, mintVar],
  panels=[
    // Health at a glance.
    d.stat('Exporter scrape', 'Whether Prometheus can scrape the exporter (the up metric). DOWN means every other panel is stale.', 'none',
           [t('min(up{job=~"$job",instance=~"$instance"})')], steps=[[null, 'red'], [1, 'green']], mappings=upDown),
    d.stat('Collectors failing', 'Number of collectors whose last cycle failed (escrow_exporter_collector_up == 0). See the Exporter dashboard for which and why.', 'none',
           [t('count(' + sel('escrow_exporter_collector_up') + ' == 0) or vector(0)')], steps=[[null, 'green'], [1, 'red']]),
    d.stat('Firing alerts', 'Alerts firing in Prometheus right now, Watchdog excluded (it always fires by design).', 'none',
           [t('count(ALERTS{alertstate="firing",alertname!="Watchdog"}) or vector(0)')], steps=[[null, 'green'], [1, 'orange']]),
    d.stat('Watchdog', 'The always-firing Watchdog alert. If this is not 1 the alerting pipeline itself is broken (dead-man switch).', 'none',
           [t('count(ALERTS{alertstate="firing",alertname="Watchdog"}) or vector(0)')], steps=[[null, 'red'], [1, 'green']]),
    d.stat('RPC endpoints up', 'Solana RPC endpoints currently healthy (escrow_rpc_up). Zero is an RPC outage.', 'none',
           [t('sum(' + sel('escrow_rpc_up') + ')')], steps=[[null, 'red'], [1, 'green']]),
    d.stat('Ingest lag', 'Worst ingestion lag over the selected programs: now minus the block time of the newest ingested transaction.', 's',
           [t('max(' + sel('escrow_ingest_lag_seconds', 'program=~"$program"') + ')')], steps=[[null, 'green'], [site.ingest_lag_medium_seconds, 'orange'], [site.ingest_lag_high_seconds, 'red']]),

    // Alerts and RPC.
    d.table('Firing alerts', 'Alerts firing now by name and severity (from the ALERTS series), Watchdog excluded. Empty is good.', 'none',
            [t('sum by (alertname, severity) (ALERTS{alertstate="firing",alertname!="Watchdog"})')], hide=['Time', 'Value']),
    d.timeseries('RPC requests by outcome', 'Solana JSON-RPC requests per second over all endpoints, split by outcome.', 'reqps',
                 [t('sum by (outcome) (rate(' + sel('escrow_rpc_requests_total') + '[$__rate_interval]))', '{{outcome}}')]),

    // Escrow versus ledger.
    d.timeseries('Escrow on-chain vs ledger', 'On-chain balance of each escrow account next to what the business ledger says it holds. The two lines should overlap.', 'short',
                 [
                   t('sum by (account, mint) (' + sel('escrow_account_balance', 'mint=~"$mint"') + ' * on (job, instance, account) group_left () ' + sel('escrow_account_info', 'role="escrow"') + ')', '{{account}} on-chain'),
                   t('sum by (account, mint) (' + sel('escrow_ledger_escrow_balance', 'mint=~"$mint"') + ')', '{{account}} ledger'),
                 ]),
    d.timeseries('Escrow mismatch (on-chain minus ledger)', 'On-chain escrow balance minus the ledger balance per account, in whole units. Anything but zero for long means money moved outside the books.', 'short',
                 [t('sum by (account, mint) (' + sel('escrow_account_balance') + ') - sum by (account, mint) (' + sel('escrow_ledger_escrow_balance') + ')', '{{account}}')]),

    // Headline KPIs over the selected time range.
    d.stat('Matches', 'Matches created in the selected time range (business database), paid and free.', 'short',
           [t('sum(increase(' + sel('escrow_business_matches_total') + '[$__range]))')], decimals=0),
    d.stat('Entry volume', 'Entry fees paid into matches in the selected time range, per mint, in whole units.', 'short',
           [t(d.symbols('sum by (mint) (increase(' + sel('escrow_business_entry_volume_total', 'mint=~"$mint"') + '[$__range]))'), '{{symbol}}')]),
    d.stat('Fee revenue', 'Platform fees earned in the selected time range, per mint, in whole units.', 'short',
           [t(d.symbols('sum by (mint) (increase(' + sel('escrow_business_fee_revenue_total', 'mint=~"$mint"') + '[$__range]))'), '{{symbol}}')]),
    d.stat('Withdrawal volume', 'Amount withdrawn by users in the selected time range, per mint, in whole units.', 'short',
           [t(d.symbols('sum by (mint) (increase(' + sel('escrow_business_withdrawal_volume_total', 'mint=~"$mint"') + '[$__range]))'), '{{symbol}}')]),
    d.stat('Pending withdrawals', 'Withdrawals requested and not processed yet (business database).', 'short',
           [t('sum(' + sel('escrow_business_withdrawals_pending', 'mint=~"$mint"') + ')')], steps=[[null, 'green'], [50, 'orange']], decimals=0),
    d.stat('Transaction failure ratio', 'Share of the program transactions that failed, over the selected range.', 'percentunit',
           [t('sum(increase(' + sel('escrow_transactions_total', 'program=~"$program",status="failed"') + '[$__range])) / sum(increase(' + sel('escrow_transactions_total', 'program=~"$program"') + '[$__range]))')],
           steps=[[null, 'green'], [site.tx_failure_ratio_medium, 'orange'], [site.tx_failure_ratio_high, 'red']]),
  ],
)
