// Exporter: the exporter's own health — collectors, cycle durations, errors, SQL queries.
local d = import '../lib/dash.libsonnet';
local sel = d.sel;
local t = d.target;

local collectorVar = d.labelVar('collector', 'collector', 'label_values(escrow_exporter_collector_up{job=~"$job",instance=~"$instance"}, collector)');
local queryVar = d.labelVar('query', 'SQL query', 'label_values(escrow_sql_query_up{job=~"$job",instance=~"$instance"}, query)');

local col = 'collector=~"$collector"';
local q = 'query=~"$query"';
local upDown = [
  { type: 'value', options: { '0': { text: 'DOWN', color: 'red' }, '1': { text: 'UP', color: 'green' } } },
];

d.dashboard(
  uid='escrow-exporter',
  title='Escrow / Exporter',
  description='The exporter itself: scrape, version, collectors (state, cycle duration, errors), the SQL queries of the business collector, and the process (memory, CPU, open files, restarts).',
  version=4,
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
  ],
)
