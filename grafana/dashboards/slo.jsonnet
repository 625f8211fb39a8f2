// Uptime & SLO: the application's health endpoints (blackbox probes, body keywords included)
// and the exporter's data freshness, as SLOs over 30 days with their error budgets and burn
// rates (bundle/slo.py; targets in bundle/site.yml).
local d = import '../lib/dash.libsonnet';
local site = (import '../lib/site.libsonnet').thresholds;
local sel = d.sel;
local t = d.target;

local appBudget = '(1 - ' + site.app_availability_slo + ')';
local freshBudget = '(1 - ' + site.exporter_freshness_slo + ')';
local upDown = [
  { type: 'value', options: { '0': { text: 'FAIL', color: 'red' }, '1': { text: 'OK', color: 'green' } } },
];
local burnSteps = [[null, 'green'], [1, 'orange'], [6, 'red']];

d.dashboard(
  uid='escrow-slo',
  title='Escrow / Uptime & SLO',
  description='Availability of the application health endpoints (blackbox probes: status, body keywords, latency) and freshness of the exporter data, as 30-day SLOs: attainment, error budget left and burn rates per window (1 = the budget lasts exactly 30 days; the pages fire at 14.4 and 6).',
  version=3,
  tags=['slo', 'uptime'],
  panels=[
    d.stat('Probes now', 'Whether the last probe of each endpoint and module succeeded (status 200, and the body keyword for the http_health_* modules).', 'none',
           [t('max by (instance, module) (' + sel('probe_success') + ')', '{{instance}} {{module}}')], w=24, mappings=upDown, steps=[[null, 'red'], [1, 'green']]),

    d.stat('Availability (30d)', 'Share of good probes over 30 days per endpoint; green at or above the SLO (app_availability_slo).', 'percentunit',
           [t('1 - ' + sel('instance:escrow_app_probe_errors:ratio_avg30d'), '{{instance}}')], w=8, decimals=3,
           steps=[[null, 'red'], [site.app_availability_slo, 'green']]),
    d.stat('Error budget left (30d)', 'Share of the 30-day error budget of the availability SLO not yet spent, per endpoint. Below 0: the SLO is missed.', 'percentunit',
           [t('1 - ' + sel('instance:escrow_app_probe_errors:ratio_avg30d') + ' / ' + appBudget, '{{instance}}')], w=8, decimals=1,
           steps=[[null, 'red'], [0.25, 'orange'], [0.5, 'green']]),
    d.stat('Burn rate (1h)', 'How fast the availability budget burns over the last hour: 1 spends it in exactly 30 days; EscrowAppErrorBudgetBurnFast pages at 14.4 (with the 5m window).', 'none',
           [t(sel('instance:escrow_app_probe_errors:ratio_avg1h') + ' / ' + appBudget, '{{instance}}')], w=8, decimals=2, steps=burnSteps),

    d.timeseries('Availability burn rate by window', 'Error ratio divided by the error budget, per window the alerts read: fast pages at 14.4 (1h and 5m) or 6 (6h and 30m), tickets at 3 (1d and 2h) or 1 (3d and 6h).', 'none',
                 [t('max(' + sel('instance:escrow_app_probe_errors:ratio_avg' + w) + ') / ' + appBudget, w) for w in ['5m', '30m', '1h', '6h', '1d', '3d']], min=0),
    d.timeseries('Probe duration p95 (10m)', 'The 95th percentile of probe durations over 10 minutes per endpoint; EscrowAppProbeSlow warns and pages at the site thresholds (orange and red).', 's',
                 [t('max by (instance) (quantile_over_time(0.95, ' + sel('probe_duration_seconds') + '[10m]))', '{{instance}}')], min=0)
    + { fieldConfig+: { defaults+: { thresholds: d.thresholds([[null, 'green'], [site.probe_latency_p95_medium_seconds, 'orange'], [site.probe_latency_p95_high_seconds, 'red']]), custom+: { thresholdsStyle: { mode: 'line' } } } } },

    d.timeseries('HTTP phases', 'Where a probe spends its time (resolve, connect, tls, processing, transfer): processing is the application itself.', 's',
                 [t('max by (instance, phase) (' + sel('probe_http_duration_seconds') + ')', '{{instance}} {{phase}}')], min=0),
    d.stat('HTTP status', 'Status code of the last probe of each endpoint (0: no answer or timeout).', 'none',
           [t('max by (instance) (' + sel('probe_http_status_code') + ')', '{{instance}}')], w=12, steps=[[null, 'red'], [200, 'green'], [300, 'red']]),

    d.stat('Exporter freshness (30d)', 'Share of time every collector of the exporter finished a cycle within exporter_freshness_seconds, over 30 days; green at or above the SLO (exporter_freshness_slo).', 'percentunit',
           [t('1 - ' + sel('instance:escrow_exporter_stale:ratio_avg30d'), '{{instance}}')], w=8, decimals=3,
           steps=[[null, 'red'], [site.exporter_freshness_slo, 'green']]),
    d.stat('Freshness budget left (30d)', 'Share of the 30-day error budget of the freshness SLO not yet spent.', 'percentunit',
           [t('1 - ' + sel('instance:escrow_exporter_stale:ratio_avg30d') + ' / ' + freshBudget, '{{instance}}')], w=8, decimals=1,
           steps=[[null, 'red'], [0.25, 'orange'], [0.5, 'green']]),
    d.stat('Freshness burn rate (1h)', 'How fast the freshness budget burns over the last hour (EscrowExporterFreshnessBudgetBurnFast at 14.4 with the 5m window).', 'none',
           [t(sel('instance:escrow_exporter_stale:ratio_avg1h') + ' / ' + freshBudget, '{{instance}}')], w=8, decimals=2, steps=burnSteps),
  ],
)
