// Escrow and treasury: balances, outstanding escrow, mismatch, payouts, fees, withdrawals.
local d = import '../lib/dash.libsonnet';
local sel = d.sel;
local t = d.target;

local programVar = d.labelVar('program', 'program', 'label_values(escrow_events_total{job=~"$job",instance=~"$instance"}, program)');
local accountVar = d.labelVar('account', 'account', 'label_values(escrow_account_balance{job=~"$job",instance=~"$instance"}, account)');
local mintVar = d.labelVar('mint', 'mint', 'label_values(escrow_account_balance{job=~"$job",instance=~"$instance"}, mint)');

// Balance of the accounts with a given role (escrow, treasury, fee) from escrow_account_info.
local byRole(role) =
  sel('escrow_account_balance', 'account=~"$account",mint=~"$mint"') +
  ' * on (job, instance, account) group_left () ' + sel('escrow_account_info', 'role=~"' + role + '"');

d.dashboard(
  uid='escrow-treasury',
  title='Escrow / Escrow and treasury',
  description='On-chain balances of the escrow, treasury and fee accounts, reconciliation against the ledger, payouts, fees and withdrawals.',
  version=4,
  tags=['treasury'],
  variables=[programVar, accountVar, mintVar],
  panels=[
    d.stat('Outstanding escrow (on-chain)', 'Sum of the escrow accounts balances per mint, in whole units: money held for players.', 'short',
           [t(d.symbols('sum by (mint) (' + byRole('escrow') + ')'), '{{symbol}}')], w=8),
    d.stat('Outstanding escrow (ledger)', 'What the business ledger says the escrow accounts hold, per mint, in whole units.', 'short',
           [t(d.symbols('sum by (mint) (' + sel('escrow_ledger_escrow_balance', 'account=~"$account",mint=~"$mint"') + ')'), '{{symbol}}')], w=8),
    d.stat('Largest mismatch', 'Largest absolute difference between an escrow account on-chain and in the ledger, per mint, in whole units. Should be 0.', 'short',
           [t(d.symbols('max by (mint) (abs(sum by (account, mint) (' + sel('escrow_account_balance', 'account=~"$account"') + ') - sum by (account, mint) (' + sel('escrow_ledger_escrow_balance', 'account=~"$account"') + ')))'), '{{symbol}}')],
           w=8, steps=[[null, 'green'], [0.000001, 'red']]),

    d.timeseries('Balances by account', 'On-chain balance of every watched account, in whole units (SOL or token units after decimals).', 'short',
                 [t(d.symbols('sum by (account, mint) (' + sel('escrow_account_balance', 'account=~"$account",mint=~"$mint"') + ')'), '{{account}} ({{symbol}})')]),
    d.timeseries('Treasury and fee wallets', 'Balances of the treasury and fee accounts, in whole units. Alerts fire below the configured floor.', 'short',
                 [t(d.symbols('sum by (account, mint) (' + byRole('treasury|fee') + ')'), '{{account}} ({{symbol}})')]),

    d.timeseries('Escrow on-chain vs ledger', 'Escrow balance per account on-chain and in the ledger, in whole units; the lines should overlap.', 'short',
                 [
                   t('sum by (account, mint) (' + byRole('escrow') + ')', '{{account}} on-chain'),
                   t('sum by (account, mint) (' + sel('escrow_ledger_escrow_balance', 'account=~"$account",mint=~"$mint"') + ')', '{{account}} ledger'),
                 ]),
    d.timeseries('Escrow mismatch (on-chain minus ledger)', 'On-chain minus ledger balance per escrow account, in whole units. A drained escrow shows as a negative step.', 'short',
                 [t('sum by (account, mint) (' + sel('escrow_account_balance', 'account=~"$account"') + ') - sum by (account, mint) (' + sel('escrow_ledger_escrow_balance', 'account=~"$account"') + ')', '{{account}}')]),

    d.timeseries('Open pots (program accounts)', 'Sums of numeric fields over the program accounts, e.g. the pots of open matches, read with getProgramAccounts.', 'short',
                 [t(d.symbols('sum by (program, account, field, mint) (' + sel('escrow_program_account_field_amount', 'program=~"$program"') + ')'), '{{account}}.{{field}} {{symbol}}')]),
    d.timeseries('Balance age', 'Seconds since each balance was last fetched successfully. Balances older than the staleness limit disappear.', 's',
                 [t('time() - max by (account) (' + sel('escrow_account_balance_updated_timestamp_seconds', 'account=~"$account"') + ')', '{{account}}')]),

    d.timeseries('Prize payouts per hour (ledger)', 'Prizes credited to winners per hour according to the ledger, per mint, in whole units.', 'short',
                 [t(d.symbols('sum by (mint) (increase(' + sel('escrow_business_prize_payouts_total', 'mint=~"$mint"') + '[1h]))'), '{{symbol}}')]),
    d.timeseries('Fees per hour: ledger vs on-chain', 'Fee revenue per hour from the ledger and the fee amounts of settled matches seen on-chain (per program), each per mint: amounts of different mints are never added.', 'short',
                 [
                   t(d.symbols('sum by (mint) (increase(' + sel('escrow_business_fee_revenue_total', 'mint=~"$mint"') + '[1h]))'), 'ledger {{symbol}}'),
                   t(d.symbols('sum by (program, mint) (increase(' + sel('escrow_event_amount_total', 'program=~"$program",event="MatchSettled",field="fee"') + '[1h]))'), 'on-chain {{program}} {{symbol}}'),
                 ]),

    d.timeseries('Withdrawal volume per hour', 'Amount withdrawn per hour according to the ledger, per mint, in whole units.', 'short',
                 [t(d.symbols('sum by (mint) (increase(' + sel('escrow_business_withdrawal_volume_total', 'mint=~"$mint"') + '[1h]))'), '{{symbol}}')], w=8),
    d.timeseries('Withdrawals per hour', 'Number of withdrawals per hour, from the ledger and from WithdrawalProcessed events on-chain.', 'short',
                 [
                   t('sum(increase(' + sel('escrow_business_withdrawals_total') + '[1h]))', 'ledger'),
                   t('sum by (program) (increase(' + sel('escrow_events_total', 'program=~"$program",event="WithdrawalProcessed"') + '[1h]))', 'on-chain {{program}}'),
                 ], w=8),
    d.timeseries('Pending withdrawals', 'Withdrawals requested and not yet processed: count and amount per mint (whole units).', 'short',
                 [
                   t(d.symbols('sum by (mint) (' + sel('escrow_business_withdrawals_pending', 'mint=~"$mint"') + ')'), 'count {{symbol}}'),
                   t(d.symbols('sum by (mint) (' + sel('escrow_business_withdrawals_pending_amount', 'mint=~"$mint"') + ')'), 'amount {{symbol}}'),
                 ], w=8),

    d.table('Watched accounts', 'Every account the exporter watches with its role, kind and address, and whether it exists on-chain (1) or is missing or closed (0).', 'none',
            [t('max by (account, role, kind, address) (' + sel('escrow_account_info', 'account=~"$account"') + ') * on (account) group_left () max by (account) (' + sel('escrow_account_exists', 'account=~"$account"') + ')')],
            w=24, hide=['Time']) + { fieldConfig+: { overrides: [{ matcher: { id: 'byName', options: 'Value' }, properties: [{ id: 'displayName', value: 'exists' }] }] } },
  ],
)
