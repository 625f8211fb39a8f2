// Business KPIs: paid vs free mix, entry volume, fee revenue, withdrawal volume, KYC tiers,
// frozen users, active users (DAU/MAU), the match funnel, payments and chargebacks, and the
// back-office health figures of the business database.
local d = import '../lib/dash.libsonnet';
local site = (import '../lib/site.libsonnet').thresholds;
local sel = d.sel;
local t = d.target;

local mintVar = d.labelVar('mint', 'mint', 'label_values(escrow_business_entry_volume_total{job=~"$job",instance=~"$instance"}, mint)');

local inRange(metric, matchers='') = 'increase(' + sel(metric, matchers) + '[$__range])';
local perDay(metric, matchers='') = 'increase(' + sel(metric, matchers) + '[1d])';

d.dashboard(
  uid='escrow-business',
  title='Escrow / Business KPIs',
  description='Business figures from the platform database (SQL query pack): matches, volumes, fees, withdrawals, users, active users and the match funnel, payments and chargebacks, and back-office health.',
  version=6,
  tags=['business'],
  variables=[mintVar],
  panels=[
    d.stat('Matches', 'Matches created in the selected time range.', 'short', [t('sum(' + inRange('escrow_business_matches_total') + ')')], decimals=0),
    d.stat('Paid share', 'Share of paid matches among all matches created in the selected time range.', 'percentunit',
           [t('sum(' + inRange('escrow_business_matches_total', 'kind="paid"') + ') / sum(' + inRange('escrow_business_matches_total') + ')')]),
    d.stat('Entry volume', 'Entry fees paid in the selected time range, per mint, in whole units.', 'short',
           [t(d.symbols('sum by (mint) (' + inRange('escrow_business_entry_volume_total', 'mint=~"$mint"') + ')'), '{{symbol}}')]),
    d.stat('Fee revenue', 'Platform fees earned in the selected time range, per mint, in whole units.', 'short',
           [t(d.symbols('sum by (mint) (' + inRange('escrow_business_fee_revenue_total', 'mint=~"$mint"') + ')'), '{{symbol}}')]),
    d.stat('Take rate', 'Fee revenue divided by entry volume over the selected time range, per mint.', 'percentunit',
           [t(d.symbols('sum by (mint) (' + inRange('escrow_business_fee_revenue_total', 'mint=~"$mint"') + ') / sum by (mint) (' + inRange('escrow_business_entry_volume_total', 'mint=~"$mint"') + ')'), '{{symbol}}')]),
    d.stat('Withdrawal volume', 'Amount withdrawn in the selected time range, per mint, in whole units.', 'short',
           [t(d.symbols('sum by (mint) (' + inRange('escrow_business_withdrawal_volume_total', 'mint=~"$mint"') + ')'), '{{symbol}}')]),

    d.piechart('Paid vs free matches', 'Mix of paid and free matches created in the selected time range.', 'short',
               [t('sum by (kind) (' + inRange('escrow_business_matches_total') + ')', '{{kind}}') { instant: true, range: false }]),
    d.timeseries('Matches per day', 'Matches created over the trailing day, by kind (paid or free).', 'short',
                 [t('sum by (kind) (' + perDay('escrow_business_matches_total') + ')', '{{kind}}')], w=16, stack=true),

    d.timeseries('Entry volume per day', 'Entry fees over the trailing day, per mint, in whole units.', 'short',
                 [t(d.symbols('sum by (mint) (' + perDay('escrow_business_entry_volume_total', 'mint=~"$mint"') + ')'), '{{symbol}}')], w=8),
    d.timeseries('Fee revenue per day', 'Platform fees over the trailing day, per mint, in whole units.', 'short',
                 [t(d.symbols('sum by (mint) (' + perDay('escrow_business_fee_revenue_total', 'mint=~"$mint"') + ')'), '{{symbol}}')], w=8),
    d.timeseries('Withdrawal volume per day', 'Amount withdrawn over the trailing day, per mint, in whole units; and the number of withdrawals.', 'short',
                 [
                   t(d.symbols('sum by (mint) (' + perDay('escrow_business_withdrawal_volume_total', 'mint=~"$mint"') + ')'), '{{symbol}}'),
                   t('sum(' + perDay('escrow_business_withdrawals_total') + ')', 'count'),
                 ], w=8),

    d.piechart('Users by KYC tier', 'Registered users by KYC tier, now.', 'short',
               [t('sum by (kyc_tier) (' + sel('escrow_business_users') + ')', '{{kyc_tier}}') { instant: true, range: false }]),
    d.timeseries('Users by KYC tier over time', 'Registered users per KYC tier.', 'short',
                 [t('sum by (kyc_tier) (' + sel('escrow_business_users') + ')', '{{kyc_tier}}')], w=10, stack=true),
    d.stat('Frozen users', 'Accounts frozen by compliance or fraud controls, now.', 'short',
           [t('sum(' + sel('escrow_business_users_frozen') + ')')], w=6, h=8, steps=[[null, 'green'], [1, 'orange']], decimals=0),

    // Users and the match funnel (issue 17).
    d.stat('Daily active users', 'Distinct users active in the last 24 hours (DAU), now.', 'short',
           [t('max(' + sel('escrow_business_active_users', 'period="1d"') + ')')], decimals=0),
    d.stat('Monthly active users', 'Distinct users active in the last 30 days (MAU), now.', 'short',
           [t('max(' + sel('escrow_business_active_users', 'period="30d"') + ')')], decimals=0),
    d.stat('DAU / MAU', 'Stickiness: the share of the month\'s active users who were active in the last day.', 'percentunit',
           [t('max(' + sel('escrow_business_active_users', 'period="1d"') + ') / max(' + sel('escrow_business_active_users', 'period="30d"') + ')')]),
    d.stat('Funnel: created to settled', 'Share of the paid matches created in the selected time range that were settled in it.', 'percentunit',
           [t('sum(' + inRange('escrow_business_match_funnel_total', 'stage="settled"') + ') / sum(' + inRange('escrow_business_match_funnel_total', 'stage="created"') + ')')]),
    d.stat('Open disputes', 'Disputes (chargebacks and inquiries) not yet won or lost, now.', 'short',
           [t('sum(' + sel('escrow_business_disputes_open') + ')')], decimals=0, steps=[[null, 'green'], [1, 'orange']]),
    d.stat('Chargebacks (1h)', 'Chargebacks opened in the last hour, all providers (EscrowChargebackSpike).', 'short',
           [t('sum(increase(' + sel('escrow_business_disputes_total', 'kind="chargeback"') + '[1h]))')], decimals=0,
           steps=[[null, 'green'], [site.chargebacks_per_hour_high + 1, 'orange'], [site.chargebacks_per_hour_critical + 1, 'red']]),

    d.timeseries('Active users', 'Distinct users active in the last hour, day (DAU), week and 30 days (MAU).', 'short',
                 [t('max by (period) (' + sel('escrow_business_active_users') + ')', '{{period}}')], w=8),
    d.bargauge('Match funnel', 'Paid matches reaching each stage in the selected time range: created, funded (an entry fee deposited), played (started), settled.', 'short',
               [t('sum(' + inRange('escrow_business_match_funnel_total', 'stage="' + s + '"') + ')', s) { instant: true, range: false } for s in ['created', 'funded', 'played', 'settled']], w=8),
    d.timeseries('Failed payments', 'Failed share of the payment attempts over the trailing hour, per provider (EscrowFailedPaymentsHigh: medium and high thresholds).', 'percentunit',
                 [t('sum by (provider) (increase(' + sel('escrow_business_payment_attempts_total', 'outcome="failed"') + '[1h])) / sum by (provider) (increase(' + sel('escrow_business_payment_attempts_total') + '[1h]))', '{{provider}}')], w=8, min=0)
    + { fieldConfig+: { defaults+: { thresholds: d.thresholds([[null, 'green'], [site.failed_payment_ratio_medium, 'orange'], [site.failed_payment_ratio_high, 'red']]), custom+: { thresholdsStyle: { mode: 'line' } } } } },

    d.timeseries('Payment attempts per hour', 'Payment attempts over the trailing hour, per provider and outcome.', 'short',
                 [t('sum by (provider, outcome) (increase(' + sel('escrow_business_payment_attempts_total') + '[1h]))', '{{provider}} {{outcome}}')], w=8),
    d.timeseries('Disputes per hour', 'Disputes opened over the trailing hour, per provider and kind (chargeback or inquiry).', 'short',
                 [t('sum by (provider, kind) (increase(' + sel('escrow_business_disputes_total') + '[1h]))', '{{provider}} {{kind}}')], w=8),
    d.timeseries('Failed transactions per instruction', 'Failed on-chain transactions of the program over the trailing hour, by the instruction that failed (settlements apart from joins).', 'short',
                 [t('sum by (instruction) (increase(' + sel('escrow_transaction_failures_total') + '[1h]))', '{{instruction}}')], w=8),

    // Back-office health.
    d.stat('Since last reconciliation', 'Time since the last successful reconciliation run of the books against the chain.', 's',
           [t('time() - max(' + sel('escrow_business_reconciliation_last_success_timestamp_seconds') + ')')], w=6, steps=[[null, 'green'], [site.reconciliation_medium_seconds, 'orange'], [site.reconciliation_high_seconds, 'red']]),
    d.stat('Audit-log gaps', 'Missing sequence numbers in the audit log. Anything but 0 needs the audit-log-gap runbook.', 'short',
           [t('sum(' + sel('escrow_business_audit_log_missing_entries') + ')')], w=6, steps=[[null, 'green'], [1, 'red']], decimals=0),
    d.stat('Since last audit-log entry', 'Time since the newest audit-log entry was written.', 's',
           [t('time() - max(' + sel('escrow_business_audit_log_last_entry_timestamp_seconds') + ')')], w=6, steps=[[null, 'green'], [site.audit_log_silence_seconds, 'orange']]),
    d.stat('Pending withdrawals', 'Withdrawals requested and not yet processed, count.', 'short',
           [t('sum(' + sel('escrow_business_withdrawals_pending', 'mint=~"$mint"') + ')')], w=6, decimals=0),

    d.timeseries('Outbox depth', 'Messages waiting in each outbox queue.', 'short',
                 [t('sum by (queue) (' + sel('escrow_business_outbox_depth') + ')', '{{queue}}')], w=8),
    d.timeseries('Payment webhook latency', 'Received minus created time of payment webhooks, per provider.', 's',
                 [t('max by (provider) (' + sel('escrow_business_payment_webhook_latency_seconds') + ')', '{{provider}}')], w=8),
    d.timeseries('Recorded write errors per hour', 'Write errors the application recorded in its database, per component, over the trailing hour.', 'short',
                 [t('sum by (component) (increase(' + sel('escrow_business_write_errors_total') + '[1h]))', '{{component}}')], w=8),
  ],
)
