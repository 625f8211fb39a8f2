// Application overview (seed 004, Dashboard 1): the platform application's own HTTP metrics, as a
// Prometheus client library serves them under the site's app_http_job (http_requests_total{method,
// handler, code}, the http_request_duration_seconds histogram): request rate, 5xx share, latency
// percentiles and the per-endpoint breakdown, coloured at the thresholds of EscrowAppHttpErrors and
// EscrowAppHttpLatencyHigh (bundle/platform.py, bundle/site.yml).
local d = import '../lib/dash.libsonnet';
local lib = import '../lib/site.libsonnet';
local site = lib.thresholds;
local t = d.target;

local app = 'job="' + lib.app_http_job + '"';
local req(m='') = d.sel('http_requests_total', app + (if m == '' then '' else ',' + m));
local buckets = d.sel('http_request_duration_seconds_bucket', app);
// The spike recordings sum a job's instances: they keep job, not instance.
local jobSel(metric) = metric + '{job=~"$job",' + app + '}';
local rate(sel) = 'rate(' + sel + '[$__rate_interval])';
local errPair = [[null, 'green'], [site.http_error_medium_ratio, 'orange'], [site.http_error_high_ratio, 'red']];
local latPair = [[null, 'green'], [site.http_latency_p95_medium_seconds, 'orange'], [site.http_latency_p95_high_seconds, 'red']];
local q(p, by='') = 'histogram_quantile(' + p + ', sum by (le' + by + ') (' + rate(buckets) + '))';
local lines(steps) = { fieldConfig+: { defaults+: { thresholds: d.thresholds(steps), custom+: { thresholdsStyle: { mode: 'line' } } } } };

d.dashboard(
  uid='escrow-app-overview',
  title='Escrow / Application overview',
  description="The platform application's own HTTP metrics (job " + lib.app_http_job + '): request rate, share of 5xx answers, latency percentiles and the same per endpoint. Orange and red are the thresholds of EscrowAppHttpErrors and EscrowAppHttpLatencyHigh; the targets of seed 004 are p50 < 100 ms, p95 < 200 ms, p99 < 500 ms, errors < 0.5 %.',
  version=1,
  tags=['application'],
  panels=[
    d.stat('Requests per second', 'HTTP requests the application answered per second, all endpoints and codes.', 'reqps',
           [t('sum(' + rate(req()) + ')')], w=6, decimals=1),
    d.stat('5xx share', 'Share of requests answered with a 5xx over the last 5 minutes; EscrowAppHttpErrors warns and pages at the orange and red thresholds (past http_min_requests requests).', 'percentunit',
           [t('sum(increase(' + req('code=~"5.."') + '[5m])) / sum(increase(' + req() + '[5m]))')], w=6, decimals=2, steps=errPair),
    d.stat('Latency p95', 'The 95th percentile of request durations over the last 5 minutes, all endpoints; EscrowAppHttpLatencyHigh at the orange and red thresholds.', 's',
           [t('histogram_quantile(0.95, sum by (le) (increase(' + buckets + '[5m])))')], w=6, decimals=3, steps=latPair),
    d.stat('Application instances', 'Instances of the application Prometheus scrapes, and how many are up.', 'none',
           [t('count(' + d.sel('up', app) + ' == 1)', 'up'), t('count(' + d.sel('up', app) + ')', 'scraped')], w=6),

    d.timeseries('Request rate against its baseline', 'Requests per second over 10 minutes, the same hour of the previous 7 days (before a day of history: the 6 hours before; none in the first 7 hours) and EscrowAppRequestRateSpike\'s threshold, the baseline times http_request_spike_factor (above http_request_spike_floor).', 'reqps',
                 [t(jobSel('job:http_requests:rate10m'), 'last 10m'),
                  t(jobSel('job:http_requests:rate1h_baseline'), 'baseline'),
                  t(site.http_request_spike_factor + ' * ' + jobSel('job:http_requests:rate1h_baseline'), 'spike threshold')], w=24, min=0),
    d.timeseries('Request rate by status code', 'Requests per second by status code class.', 'reqps',
                 [t('sum by (code) (' + rate(req()) + ')', '{{code}}')], stack=true, min=0),
    d.timeseries('Error share', 'Share of requests answered 5xx and 4xx; the 5xx thresholds of EscrowAppHttpErrors as lines.', 'percentunit',
                 [t('sum(' + rate(req('code=~"5.."')) + ') / sum(' + rate(req()) + ')', '5xx'),
                  t('sum(' + rate(req('code=~"4.."')) + ') / sum(' + rate(req()) + ')', '4xx')], min=0)
    + lines(errPair),

    d.timeseries('Latency p50 / p95 / p99', 'Percentiles of request durations, all endpoints (estimated from the histogram buckets); the p95 thresholds of EscrowAppHttpLatencyHigh as lines.', 's',
                 [t(q('0.5'), 'p50'), t(q('0.95'), 'p95'), t(q('0.99'), 'p99')], min=0)
    + lines(latPair),
    d.timeseries('Latency p95 by endpoint', 'The 95th percentile of request durations per endpoint (method and route).', 's',
                 [t(q('0.95', ', method, handler'), '{{method}} {{handler}}')], min=0),

    d.timeseries('Requests by endpoint', 'Requests per second per endpoint (method and route).', 'reqps',
                 [t('sum by (method, handler) (' + rate(req()) + ')', '{{method}} {{handler}}')], stack=true, min=0),
    d.timeseries('5xx by endpoint', 'Requests answered 5xx per second, per endpoint: where the errors come from.', 'reqps',
                 [t('sum by (method, handler) (' + rate(req('code=~"5.."')) + ')', '{{method}} {{handler}}')], stack=true, min=0),

    d.table('Endpoints', 'Per endpoint over the last hour: requests per second, 5xx share and p95 latency.', 'short',
            [t('sum by (method, handler) (increase(' + req() + '[1h])) / 3600', 'requests/s'),
             t('sum by (method, handler) (increase(' + req('code=~"5.."') + '[1h])) / sum by (method, handler) (increase(' + req() + '[1h]))', '5xx share'),
             t('histogram_quantile(0.95, sum by (le, method, handler) (increase(' + buckets + '[1h])))', 'p95 (s)')], w=24)
    // One row per endpoint: the three queries joined on (method, handler).
    + { transformations: [{ id: 'merge', options: {} }, { id: 'organize', options: { excludeByName: { Time: true }, renameByName: { 'Value #A': 'requests/s', 'Value #B': '5xx share', 'Value #C': 'p95 (s)' } } }] },
  ],
)
