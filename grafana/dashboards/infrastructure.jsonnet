// Infrastructure: the platform's hosts through node_exporter (CPU, memory, disk, network),
// coloured at the site's warning/critical thresholds (bundle/platform.py, bundle/site.yml).
local d = import '../lib/dash.libsonnet';
local site = (import '../lib/site.libsonnet').thresholds;
local sel = d.sel;
local t = d.target;

local pair(medium, high) = [[null, 'green'], [medium, 'orange'], [high, 'red']];
local fs = 'fstype!="",fstype!~"tmpfs|ramfs|squashfs|nsfs",mountpoint!=""';

d.dashboard(
  uid='escrow-infrastructure',
  title='Escrow / Infrastructure',
  description='The hosts of the platform (node_exporter): CPU, memory, disk space and I/O, network, load. Orange and red are the warning and critical thresholds of EscrowNodeCpuHigh, EscrowNodeMemoryHigh and EscrowNodeDiskFull.',
  version=3,
  tags=['infrastructure'],
  panels=[
    d.stat('CPU busy', 'Share of CPU time busy (not idle, iowait or steal) over 5 minutes per host: the node-mixin recording instance:node_cpu_utilisation:rate5m.', 'percentunit',
           [t(sel('instance:node_cpu_utilisation:rate5m'), '{{instance}}')], w=8, decimals=1, steps=pair(site.cpu_medium_ratio, site.cpu_high_ratio)),
    d.stat('Memory used', 'Share of memory in use per host (1 - MemAvailable / MemTotal).', 'percentunit',
           [t(sel('instance:node_memory_utilisation:ratio'), '{{instance}}')], w=8, decimals=1, steps=pair(site.memory_medium_ratio, site.memory_high_ratio)),
    d.stat('Fullest filesystem', 'The most used writable filesystem of each host.', 'percentunit',
           [t('max by (instance) (' + sel('instance_mountpoint:node_filesystem_used:ratio') + ')', '{{instance}}')], w=8, decimals=1, steps=pair(site.disk_medium_ratio, site.disk_high_ratio)),

    d.timeseries('CPU by mode', 'CPU seconds per second by mode, summed over the CPUs of each host.', 'short',
                 [t('sum by (instance, mode) (rate(' + sel('node_cpu_seconds_total', 'mode!="idle"') + '[$__rate_interval]))', '{{instance}} {{mode}}')], stack=true, min=0),
    d.timeseries('Memory', 'Total and available memory per host.', 'bytes',
                 [t(sel('node_memory_MemTotal_bytes'), 'total {{instance}}'), t(sel('node_memory_MemAvailable_bytes'), 'available {{instance}}')], min=0),

    d.timeseries('Filesystem used', 'Used share of each writable filesystem.', 'percentunit',
                 [t(sel('instance_mountpoint:node_filesystem_used:ratio'), '{{instance}} {{mountpoint}}')], min=0)
    + { fieldConfig+: { defaults+: { max: 1, thresholds: d.thresholds(pair(site.disk_medium_ratio, site.disk_high_ratio)), custom+: { thresholdsStyle: { mode: 'line' } } } } },
    d.timeseries('Filesystem available in a day', 'Available bytes 24 hours from now at the trend of the last 6 hours (predict_linear): below 0 means full within a day.', 'bytes',
                 [t('predict_linear(' + sel('node_filesystem_avail_bytes', fs) + '[6h], 86400)', '{{instance}} {{mountpoint}}')]),

    d.timeseries('Disk I/O', 'Bytes read and written per second per device.', 'bytes',
                 [t('sum by (instance, device) (rate(' + sel('node_disk_read_bytes_total') + '[$__rate_interval]))', 'read {{instance}} {{device}}'),
                  t('sum by (instance, device) (rate(' + sel('node_disk_written_bytes_total') + '[$__rate_interval]))', 'written {{instance}} {{device}}')], w=8, min=0),
    d.timeseries('Network traffic', 'Bytes received and sent per second per interface (loopback excluded).', 'bytes',
                 [t('sum by (instance, device) (rate(' + sel('node_network_receive_bytes_total', 'device!="lo"') + '[$__rate_interval]))', 'in {{instance}} {{device}}'),
                  t('sum by (instance, device) (rate(' + sel('node_network_transmit_bytes_total', 'device!="lo"') + '[$__rate_interval]))', 'out {{instance}} {{device}}')], w=8, min=0),
    d.timeseries('Load per CPU', 'One-minute load average divided by the number of CPUs: above 1, work queues.', 'short',
                 [t(sel('node_load1') + ' / on (job, instance) count by (job, instance) (rate(' + sel('node_cpu_seconds_total', 'mode="idle"') + '[$__rate_interval]))', '{{instance}}')], w=8, min=0),
  ],
)
