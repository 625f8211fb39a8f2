// Chain and RPC: endpoints, slot lag, request rate, latency and errors, transaction
// failures by error, compute units, ingestion lag and decode problems.
local d = import '../lib/dash.libsonnet';
local sel = d.sel;
local t = d.target;

local programVar = d.labelVar('program', 'program', 'label_values(escrow_events_total{job=~"$job",instance=~"$instance"}, program)');
local endpointVar = d.labelVar('endpoint', 'endpoint', 'label_values(escrow_rpc_up{job=~"$job",instance=~"$instance"}, endpoint)');

local ep = 'endpoint=~"$endpoint"';
local prog = 'program=~"$program"';
local upDown = [
  { type: 'value', options: { '0': { text: 'DOWN', color: 'red' }, '1': { text: 'UP', color: 'green' } } },
];
local quantiles(metric, matchers, by) = [
  t('histogram_quantile(' + q + ', sum by (le, ' + by + ') (rate(' + sel(metric, matchers) + '[$__rate_interval])))', 'p' + std.substr(q, 2, 2) + ' {{' + by + '}}')
  for q in ['0.50', '0.95', '0.99']
];

d.dashboard(
  uid='escrow-chain-rpc',
  title='Escrow / Chain and RPC',
  description='Solana RPC endpoints (health, slot lag, requests, latency, failovers) and the program activity ingested from the chain.',
  version=4,
  tags=['chain', 'rpc'],
  variables=[programVar, endpointVar],
  panels=[
    d.stat('Endpoint health', 'Health of each RPC endpoint (getHealth and slot lag checks).', 'none',
           [t('max by (endpoint) (' + sel('escrow_rpc_up', ep) + ')', '{{endpoint}}')], w=8, mappings=upDown, steps=[[null, 'red'], [1, 'green']]),
    d.stat('Active endpoint', 'The endpoint the exporter currently sends requests to.', 'none',
           [t('max by (endpoint) (' + sel('escrow_rpc_active', ep) + ') == 1', '{{endpoint}}')], w=8) + { options+: { textMode: 'name' } },
    d.stat('Failovers', 'Failovers between RPC endpoints in the selected time range. Several per hour means flapping.', 'short',
           [t('sum(increase(' + sel('escrow_rpc_failovers_total') + '[$__range]))')], w=8, steps=[[null, 'green'], [1, 'orange'], [5, 'red']], decimals=0),

    d.timeseries('Slot lag behind the best endpoint', 'Slots each endpoint is behind the highest slot seen on any endpoint. Endpoints lagging past the configured limit are unhealthy.', 'short',
                 [t('max by (job, instance) (' + sel('escrow_rpc_slot') + ') - on (job, instance) group_right () ' + sel('escrow_rpc_slot', ep), '{{endpoint}}')]),
    d.timeseries('Slot by endpoint', 'Latest slot reported by each endpoint.', 'none',
                 [t('max by (endpoint) (' + sel('escrow_rpc_slot', ep) + ')', '{{endpoint}}')]),

    d.timeseries('Requests by endpoint and outcome', 'JSON-RPC requests per second by endpoint and outcome.', 'reqps',
                 [t('sum by (endpoint, outcome) (rate(' + sel('escrow_rpc_requests_total', ep) + '[$__rate_interval]))', '{{endpoint}} {{outcome}}')], w=8),
    d.timeseries('Request error ratio', 'Share of requests per endpoint whose outcome was not success (errors, timeouts, 429s).', 'percentunit',
                 [t('sum by (endpoint) (rate(' + sel('escrow_rpc_requests_total', ep + ',outcome!="success"') + '[$__rate_interval])) / sum by (endpoint) (rate(' + sel('escrow_rpc_requests_total', ep) + '[$__rate_interval]))', '{{endpoint}}')], w=8, min=0),
    d.timeseries('Request latency', 'JSON-RPC request latency quantiles per endpoint, from the request duration histogram.', 's',
                 quantiles('escrow_rpc_request_duration_seconds_bucket', ep, 'endpoint'), w=8),

    d.timeseries('Transactions by status', 'Program transactions per second, successful and failed.', 'ops',
                 [t('sum by (program, status) (rate(' + sel('escrow_transactions_total', prog) + '[$__rate_interval]))', '{{program}} {{status}}')], w=8, stack=true),
    d.timeseries('Failures by error', 'Failed transactions per second by Anchor error name (or code when the IDL does not name it).', 'ops',
                 [t('sum by (program, error) (rate(' + sel('escrow_transaction_errors_total', prog) + '[$__rate_interval]))', '{{program}} {{error}}')], w=8),
    d.timeseries('Transaction failure ratio', 'Share of program transactions that failed.', 'percentunit',
                 [t('sum by (program) (rate(' + sel('escrow_transactions_total', prog + ',status="failed"') + '[$__rate_interval])) / sum by (program) (rate(' + sel('escrow_transactions_total', prog) + '[$__rate_interval]))', '{{program}}')], w=8, min=0),

    d.timeseries('Instructions', 'Instructions of the program executed per second, by instruction.', 'ops',
                 [t('sum by (instruction) (rate(' + sel('escrow_instructions_total', prog) + '[$__rate_interval]))', '{{instruction}}')], w=8, stack=true),
    d.timeseries('Compute units (p95)', '95th percentile of compute units consumed per instruction. Solana caps a transaction at 1.4M.', 'short',
                 [t('histogram_quantile(0.95, sum by (le, instruction) (rate(' + sel('escrow_compute_units_bucket', prog) + '[$__rate_interval])))', '{{instruction}}')], w=8),
    d.timeseries('Events', 'Anchor events decoded per second, by event.', 'ops',
                 [t('sum by (event) (rate(' + sel('escrow_events_total', prog) + '[$__rate_interval]))', '{{event}}')], w=8, stack=true),

    d.timeseries('Ingest lag', 'Now minus the block time of the newest ingested transaction, per program.', 's',
                 [t('max by (program) (' + sel('escrow_ingest_lag_seconds', prog) + ')', '{{program}}')], w=8, min=0),
    d.timeseries('Last ingested slot', 'Slot of the newest transaction ingested per program, next to the active endpoint slot.', 'none',
                 [
                   t('max by (program) (' + sel('escrow_ingest_last_slot', prog) + ')', '{{program}}'),
                   t('max(' + sel('escrow_rpc_slot') + ' * on (job, instance, endpoint) group_left () (' + sel('escrow_rpc_active') + ' == 1))', 'active endpoint'),
                 ], w=8),
    d.timeseries('Transaction fees (SOL per hour)', 'Transaction fees paid by the program\'s transactions (success and failed), in SOL per hour at the current rate.', 'short',
                 [t('sum by (program) (rate(' + sel('escrow_transaction_fees_sol_total', prog) + '[$__rate_interval])) * 3600', '{{program}}')], w=8),

    d.timeseries('Decode errors and truncated logs', 'Log lines or CPI payloads that did not decode, by reason, and transactions whose logs were truncated. Events in them are not counted.', 'ops',
                 [
                   t('sum by (program, reason) (rate(' + sel('escrow_event_decode_errors_total', prog) + '[$__rate_interval]))', '{{program}} {{reason}}'),
                   t('sum by (program) (rate(' + sel('escrow_logs_truncated_total', prog) + '[$__rate_interval]))', '{{program}} truncated'),
                 ]),
    d.timeseries('Matches by state', 'Program accounts by state field, e.g. matches open, in progress, paused, settled (getProgramAccounts).', 'short',
                 [t('sum by (account, state) (' + sel('escrow_program_accounts', prog) + ')', '{{account}} {{state}}')], stack=true),
  ],
)
