// Database performance: the business PostgreSQL through postgres_exporter (built-in collectors
// plus prometheus/postgres_exporter/queries.yaml), after the postgres-mixin's overview.
local d = import '../lib/dash.libsonnet';
local site = (import '../lib/site.libsonnet').thresholds;
local sel = d.sel;
local t = d.target;

local upDown = [
  { type: 'value', options: { '0': { text: 'DOWN', color: 'red' }, '1': { text: 'UP', color: 'green' } } },
];
local db = 'datname=~"$datname"';
local datnameVar = d.labelVar('datname', 'database', 'label_values(pg_stat_database_xact_commit{job=~"$job",instance=~"$instance"}, datname)');
local rate(metric) = 'sum by (datname) (rate(' + sel(metric, db) + '[$__rate_interval]))';

d.dashboard(
  uid='escrow-database',
  title='Escrow / Database',
  description='The business PostgreSQL (postgres_exporter): up, connections against max_connections, transactions and rollbacks, time per transaction, slow queries, cache hits, table sizes and index use. Thresholds: EscrowPostgresConnectionsHigh and EscrowPostgresSlowQueries.',
  version=4,
  tags=['database'],
  variables=[datnameVar],
  panels=[
    d.stat('PostgreSQL', 'Whether postgres_exporter reaches the server (pg_up).', 'none',
           [t('max by (instance) (' + sel('pg_up') + ')', '{{instance}}')], w=6, mappings=upDown, steps=[[null, 'red'], [1, 'green']]),
    d.stat('Connections used', 'Connections in use as a share of max_connections (instance:pg_connections_used:ratio): a pool exhausted refuses new connections.', 'percentunit',
           [t(sel('instance:pg_connections_used:ratio'), '{{instance}}')], w=6, decimals=1,
           steps=[[null, 'green'], [site.postgres_connections_medium_ratio, 'orange'], [site.postgres_connections_high_ratio, 'red']]),
    d.stat('Slow queries (>1s)', 'Statements active for more than a second right now, per database.', 'short',
           [t('sum by (datname) (' + sel('pg_slow_queries_active_over_1s', db) + ')', '{{datname}}')], w=6, steps=[[null, 'green'], [1, 'orange']]),
    d.stat('Longest active transaction', 'Age of the oldest active transaction per database; EscrowPostgresSlowQueries warns past postgres_slow_query_seconds.', 's',
           [t('max by (datname) (' + sel('pg_stat_activity_max_tx_duration', db + ',state="active"') + ')', '{{datname}}')], w=6,
           steps=[[null, 'green'], [site.postgres_slow_query_seconds, 'orange']]),

    d.timeseries('Connections by state', 'Backends per database and state (active, idle, idle in transaction...), against max_connections.', 'short',
                 [t('sum by (datname, state) (' + sel('pg_stat_activity_count', db) + ') > 0', '{{datname}} {{state}}'),
                  t('max(' + sel('pg_settings_max_connections') + ')', 'max_connections')], min=0),
    d.timeseries('Transactions', 'Commits and rollbacks per second per database.', 'ops',
                 [t(rate('pg_stat_database_xact_commit'), 'commit {{datname}}'), t(rate('pg_stat_database_xact_rollback'), 'rollback {{datname}}')], min=0),

    d.timeseries('Time per transaction', 'Average time spent executing statements per transaction: active time (ms per second) over transactions per second.', 'ms',
                 [t(rate('pg_stat_database_active_time') + ' / (' + rate('pg_stat_database_xact_commit') + ' + ' + rate('pg_stat_database_xact_rollback') + ')', '{{datname}}')], w=8, min=0),
    d.timeseries('Rollback ratio', 'Rolled-back transactions as a share of all: the database side of the error rate.', 'percentunit',
                 [t(rate('pg_stat_database_xact_rollback') + ' / (' + rate('pg_stat_database_xact_commit') + ' + ' + rate('pg_stat_database_xact_rollback') + ')', '{{datname}}')], w=8, min=0),
    d.timeseries('Cache hit ratio', 'Blocks found in shared buffers as a share of all blocks read.', 'percentunit',
                 [t(rate('pg_stat_database_blks_hit') + ' / (' + rate('pg_stat_database_blks_hit') + ' + ' + rate('pg_stat_database_blks_read') + ')', '{{datname}}')], w=8, min=0),

    d.table('Table sizes', 'Largest tables with their indexes and TOAST (pg_table_size_bytes, prometheus/postgres_exporter/queries.yaml), with live and dead rows.', 'bytes',
            [t('topk(15, max by (datname, schemaname, relname) (' + sel('pg_table_size_bytes', db) + '))')], hide=['Time']),
    d.timeseries('Database size and forecast', 'Size of each database on disk, and the ledger databases\' size forecast capacity_forecast_seconds ahead (instance_datname:pg_database_size_bytes:forecast, predict_linear over 6h, after 3h of history) against ledger_database_budget_bytes: EscrowCapacityForecast fires when the forecast stays above the budget for an hour.', 'bytes',
                 [t('max by (datname) (' + sel('pg_database_size_bytes', db) + ')', '{{datname}}'),
                  t('max by (datname) (' + sel('instance_datname:pg_database_size_bytes:forecast', db) + ')', 'forecast {{datname}}'),
                  t('vector(' + site.ledger_database_budget_bytes + ')', 'budget')], min=0),

    d.timeseries('Index use', 'Index scans as a share of all scans per table (low on a large table: a missing index).', 'percentunit',
                 [t('sum by (relname) (rate(' + sel('pg_stat_user_tables_idx_scan', db) + '[$__rate_interval])) / (sum by (relname) (rate(' + sel('pg_stat_user_tables_idx_scan', db) + '[$__rate_interval])) + sum by (relname) (rate(' + sel('pg_stat_user_tables_seq_scan', db) + '[$__rate_interval]))) >= 0', '{{relname}}')], min=0),
    d.timeseries('Dead rows', 'Dead rows per table that vacuum has not reclaimed yet.', 'short',
                 [t('topk(10, max by (relname) (' + sel('pg_stat_user_tables_n_dead_tup', db) + '))', '{{relname}}')], min=0),
  ],
)
