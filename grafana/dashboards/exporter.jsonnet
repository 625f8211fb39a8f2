// Exporter: the exporter's own health — collectors, cycle durations, errors, SQL queries — and
// the alerting pipeline behind it (Prometheus and Alertmanager): the meta-monitoring alerts link here.
local d = import '../lib/dash.libsonnet';
local site = import '../lib/site.libsonnet';
local sel = d.sel;
local t = d.target;

local collectorVar = d.labelVar('collector', 'collector', 'label_values(escrow_exporter_collector_up{job=~"$job",instance=~"$instance"}, collector)');
local queryVar = d.labelVar('query', 'SQL query', 'label_values(escrow_sql_query_up{job=~"$job",instance=~"$instance"}, query)');

local col = 'collector=~"$collector"';
local q = 'query=~"$query"';
// Prometheus and Alertmanager scraping themselves (bundle/site.yml selectors), not $job/$instance:
// those select the exporter.
local prom = 'job="' + site.selectors.prometheus_job + '"';
local am = 'job="' + site.selectors.alertmanager_job + '"';
local pipeline = ' Prometheus and Alertmanager as the site config selects them (job ' + site.selectors.prometheus_job
                 + ' / ' + site.selectors.alertmanager_job + '), whatever the job and instance variables.';
// %g: plain string concatenation prints 0.9 as 0.90000000000000002.
local queueRatio = std.format('%g', site.thresholds.prometheus_notification_queue_ratio);
local reload = [
  { type: 'value', options: { '0': { text: 'FAILED', color: 'red' }, '1': { text: 'OK', color: 'green' } } },
];

local upDown = [
  { type: 'value', options: { '0': { text: 'DOWN', color: 'red' }, '1': { text: 'UP', color: 'green' } } },
];

d.dashboard(
  uid='escrow-exporter',
  title='Escrow / Exporter',
  description='The exporter itself: scrape, version, collectors (state, cycle duration, errors), the SQL queries of the business collector, and the process (memory, CPU, open files, restarts); then the alerting pipeline: Alertmanager notifications, Prometheus rule failures, the alert queue and config reloads.',
  version=5,
  tags=['exporter'],
  variables=[collectorVar, queryVar],
  panels=[
    d.stat('Scrape', 'Whether Prometheus can scrape each exporter instance (the up metric).', 'none',
           [t('up{job=~"$job",instance=~"$instance"}', '{{instance}}')], w=6, mappings=upDown, steps=[[null, 'red'], [1, 'green']]),
    d.stat('Version', 'Exporter version per instance (escrow_exporter_build_info).', 'none',
           [t('max by (instance, version) (' + sel('escrow_exporter_build_info') + ')', '{{version}}')], w=6) + { options+: { textMode: 'name', colorMode: 'none' } },
    d.stat('Collectors', 'Whether the last cycle of each collector succeeded.', 'none',
           [t('max by (collector) (' + sel('escrow_exporter_collector_up', col) + ')', '{{collector}}')], w=12, mappings=upDown, steps=[[null, 'red'], [1, 'green']]),

    d.timeseries('Collector cycle duration', 'Duration of the last cycle of each collector.', 's',
                 [t('max by (collector) (' + sel('escrow_exporter_collector_duration_seconds', col) + ')', '{{collector}}')], w=8),
    d.timeseries('Since last successful cycle', 'Seconds since each collector last finished a cycle successfully.', 's',
                 [t('time() - max by (collector) (' + sel('escrow_exporter_collector_last_success_timestamp_seconds', col) + ')', '{{collector}}')], w=8, min=0),
    d.timeseries('Collector errors', 'Failed collector cycles per second, by collector and reason.', 'ops',
                 [t('sum by (collector, reason) (rate(' + sel('escrow_exporter_collector_errors_total', col) + '[$__rate_interval]))', '{{collector}} {{reason}}')], w=8),

    d.stat('Databases', 'Whether the SQL collector can reach each configured database.', 'none',
           [t('max by (database) (' + sel('escrow_sql_up') + ')', '{{database}}')], w=6, mappings=upDown, steps=[[null, 'red'], [1, 'green']]),
    d.stat('SQL queries', 'Whether the last run of each SQL query succeeded.', 'none',
           [t('max by (query) (' + sel('escrow_sql_query_up', q) + ')', '{{query}}')], w=18, mappings=upDown, steps=[[null, 'red'], [1, 'green']]),

    d.timeseries('SQL query duration', 'Duration of the last run of each SQL query.', 's',
                 [t('max by (query) (' + sel('escrow_sql_query_duration_seconds', q) + ')', '{{query}}')], w=8),
    d.timeseries('SQL query rows', 'Rows returned by the last run of each SQL query.', 'short',
                 [t('max by (query) (' + sel('escrow_sql_query_rows', q) + ')', '{{query}}')], w=8),
    d.timeseries('SQL query errors', 'Failed SQL query runs per second, by query and reason (timeout, bad result shape, database down).', 'ops',
                 [t('sum by (query, reason) (rate(' + sel('escrow_sql_query_errors_total', q) + '[$__rate_interval]))', '{{query}} {{reason}}')], w=8),

    d.timeseries('Scrape duration', 'How long Prometheus takes to scrape the exporter. A scrape never waits on I/O, so this should stay low.', 's',
                 [t('scrape_duration_seconds{job=~"$job",instance=~"$instance"}', '{{instance}}')]),
    d.timeseries('Samples per scrape', 'Samples in each scrape: a sudden rise means a label is exploding.', 'short',
                 [t('scrape_samples_scraped{job=~"$job",instance=~"$instance"}', '{{instance}}')]),

    d.timeseries('Resident memory', 'Resident memory of each exporter process. Steady growth under a steady load is a leak (bench/soak measures it).', 'bytes',
                 [t(sel('process_resident_memory_bytes'), '{{instance}}')], w=8, min=0),
    d.timeseries('CPU', 'CPU seconds per second used by each exporter process (1 = one full core).', 'percentunit',
                 [t('rate(' + sel('process_cpu_seconds_total') + '[$__rate_interval])', '{{instance}}')], w=8, min=0),
    d.timeseries('Open files and restarts', 'Open file descriptors of each exporter process, and its restarts in the last hour (a crash loop shows here first).', 'short',
                 [t(sel('process_open_fds'), 'open fds {{instance}}'),
                  t('changes(' + sel('process_start_time_seconds') + '[1h])', 'restarts/1h {{instance}}')], w=8, min=0),

    // Over 10 minutes, as the alerts count them (prometheus/rules/meta.yml).
    d.row('Alerting pipeline: Prometheus and Alertmanager'),
    d.timeseries('Alertmanager notifications sent (10m)', 'Notifications Alertmanager delivered in the last 10 minutes, per integration (pagerduty, slack, webhook...). Watchdog pings the dead-man\'s switch (webhook) every minute.' + pipeline, 'short',
                 [t('sum by (instance, integration) (increase(alertmanager_notifications_total{' + am + '}[10m]))', '{{integration}} {{instance}}')], w=8, min=0),
    d.timeseries('Alertmanager notifications failed (10m)', 'Failed deliveries in the last 10 minutes, per integration: EscrowAlertmanagerNotificationsFailing pages when they keep growing for 10 minutes (check the integration\'s secrets and the Alertmanager log).' + pipeline, 'short',
                 [t('sum by (instance, integration) (increase(alertmanager_notifications_failed_total{' + am + '}[10m]))', '{{integration}} {{instance}}')], w=8, min=0),
    d.timeseries('Rule evaluation failures (10m)', 'Failed rule evaluations in the last 10 minutes, per rule group: EscrowPrometheusRuleFailures pages on any; a failing group\'s alerts cannot fire.' + pipeline, 'short',
                 [t('sum by (instance, rule_group) (increase(prometheus_rule_evaluation_failures_total{' + prom + '}[10m]))', '{{rule_group}}')], w=8, min=0),
    d.timeseries('Alert queue to Alertmanager', 'Alerts waiting in Prometheus for Alertmanager, against the queue capacity and the level at which EscrowPrometheusNotificationsDropped pages (prometheus_notification_queue_ratio = ' + queueRatio + ' of the capacity). A full queue drops alerts.' + pipeline, 'short',
                 [t('prometheus_notifications_queue_length{' + prom + '}', 'queued {{instance}}'),
                  t('prometheus_notifications_queue_capacity{' + prom + '} * ' + queueRatio, 'alert threshold {{instance}}'),
                  t('prometheus_notifications_queue_capacity{' + prom + '}', 'capacity {{instance}}')], w=8, min=0),
    d.timeseries('Alerts dropped and send errors (10m)', 'Alerts Prometheus dropped on their way to Alertmanager (EscrowPrometheusNotificationsDropped pages on any) and its failed sends per Alertmanager, in the last 10 minutes.' + pipeline, 'short',
                 [t('sum by (instance) (increase(prometheus_notifications_dropped_total{' + prom + '}[10m]))', 'dropped {{instance}}'),
                  t('sum by (instance, alertmanager) (increase(prometheus_notifications_errors_total{' + prom + '}[10m]))', 'send errors to {{alertmanager}}')], w=8, min=0),
    d.stat('Config reload', 'Whether the last configuration reload of Prometheus and Alertmanager succeeded: FAILED means it still runs its previous rules or routes (EscrowMonitoringConfigReloadFailed after 10 minutes).' + pipeline, 'none',
           [t('prometheus_config_last_reload_successful{' + prom + '}', 'Prometheus {{instance}}'),
            t('alertmanager_config_last_reload_successful{' + am + '}', 'Alertmanager {{instance}}')], w=8, h=8, mappings=reload, steps=[[null, 'red'], [1, 'green']]),
  ],
)
