// Weekly review: what the alerts did over the dashboard's range (7 days by default) — how often
// each fired, how long it took to resolve, pages out of hours, flapping — next to the
// exporter's deployments (the annotation every dashboard carries) and its capacity.
// docs/incident-response.md ("The weekly review") says how the team uses it.
local d = import '../lib/dash.libsonnet';
local sitelib = import '../lib/site.libsonnet';
local sel = d.sel;
local t = d.target;

// A firing start: an alert series firing now that was not firing one minute earlier (ALERTS is
// absent while an alert is not firing). Counted over the range at one-minute resolution.
local firing = 'ALERTS{alertstate="firing"}';
local starts(matchers='') =
  local s = 'ALERTS{alertstate="firing"' + matchers + '}';
  '(' + s + ' unless ' + s + ' offset 1m)';
// Outside 08:00-18:00 UTC on weekdays: Saturday, Sunday, or hour before 8 or from 18.
local outOfHours = '(hour() < 8 or hour() >= 18 or day_of_week() == 0 or day_of_week() == 6)';
local pages = ',severity=~"' + sitelib.page_severities + '"';

d.dashboard(
  uid='escrow-weekly-review',
  title='Escrow / Weekly review',
  description='The weekly review of the alerting: alerts fired per name, time to resolve, pages out of hours, flapping alerts, deployments and capacity. Set the time range to the week under review (default: the last 7 days).',
  version=2,
  tags=['review', 'alerts'],
  panels=[
    d.stat('Alerts firing now', 'Alert series firing now, per severity (Watchdog included: it always fires).', 'none',
           [t('count by (severity) (' + firing + ')', '{{severity}}')], w=8),
    d.stat('Firing starts in range', 'Times an alert started firing over the dashboard range, all alerts together (Watchdog included).', 'none',
           [t('sum(count_over_time(' + starts() + '[$__range:1m]))')], w=8),
    d.stat('Pages out of hours', 'Times a paging alert (severity ' + sitelib.page_severities + ') started firing outside 08:00-18:00 UTC on weekdays, over the range. Each one should have been worth waking someone for.', 'none',
           [t('sum(count_over_time((' + starts(pages) + ' and on () ' + outOfHours + ')[$__range:1m])) or vector(0)')], w=8,
           steps=[[null, 'green'], [1, 'orange']]),

    d.table('Alerts fired per name', 'Per alert name and severity, over the range: how many times it started firing, and for how long it fired in total (one-minute resolution). An alert that fired often and led to no action is a false positive: tune it or lower its tier.', 'none',
            [
              t('sort_desc(sum by (alertname, severity) (count_over_time(' + starts() + '[$__range:1m])))'),
            ], w=12, hide=['Time']) + { fieldConfig+: { overrides: [{ matcher: { id: 'byName', options: 'Value' }, properties: [{ id: 'displayName', value: 'times fired' }] }] } },
    d.table('Time to resolve', 'Average time an alert fired before it resolved (or until now while it still fires), per alert name, over the range: firing minutes divided by firing starts. Long ones are problems left open or alerts nobody can act on.', 's',
            [
              t('sort_desc(sum by (alertname, severity) (count_over_time(' + firing + '[$__range:1m])) * 60 / sum by (alertname, severity) (count_over_time(' + starts() + '[$__range:1m])))'),
            ], w=12, hide=['Time']) + { fieldConfig+: { overrides: [{ matcher: { id: 'byName', options: 'Value' }, properties: [{ id: 'displayName', value: 'mean time firing' }] }] } },

    d.timeseries('Firing alerts by severity', 'Alert series firing over time, per severity. Compare with the deployment annotations (blue): did a release cause any?', 'none',
                 [t('count by (severity) (' + firing + ')', '{{severity}}')], w=12, stack=true),
    d.table('Flapping alerts', 'Alerts that started firing more than twice within one day (the last 24 hours of the range): they need a longer for, keep_firing_for or hysteresis. Empty is good.', 'none',
            [t('sum by (alertname, severity) (count_over_time(' + starts() + '[1d:1m])) > 2')], w=12, hide=['Time']),

    d.timeseries('Pages out of hours, per alert', 'Paging alerts (severity ' + sitelib.page_severities + ') that started firing outside 08:00-18:00 UTC on weekdays, per day.', 'none',
                 [t('sum by (alertname) (count_over_time((' + starts(pages) + ' and on () ' + outOfHours + ')[1d:1m]))', '{{alertname}}')], w=12),
    d.timeseries('State file: size and forecast', 'Size of the exporter\'s ingestion state file and its linear forecast one forecast horizon ahead (' + sitelib.thresholds.capacity_forecast_seconds + ' s) from the last 6 hours of growth, as EscrowCapacityForecast computes it (which waits for 3 hours of history).', 'bytes',
                 [
                   t('max by (instance) (' + sel('escrow_exporter_state_file_bytes') + ')', '{{instance}} now'),
                   t('max by (instance) (predict_linear(' + sel('escrow_exporter_state_file_bytes') + '[6h], ' + sitelib.thresholds.capacity_forecast_seconds + '))', '{{instance}} forecast'),
                 ], w=12, min=0),
  ],
) + { time: { from: 'now-7d', to: 'now' }, refresh: '5m' }
