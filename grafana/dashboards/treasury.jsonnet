// Escrow and treasury: balances, outstanding escrow, mismatch, payouts, fees, withdrawals.
local d = import '../lib/dash.libsonnet';
local site = (import '../lib/site.libsonnet').thresholds;
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
  description='On-chain balances of the escrow, treasury and fee accounts, exact reconciliation of chain, events and ledger at one slot, payouts, fees and withdrawals.',
  version=8,
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

    // Exact reconciliation: chain, program events and ledger compared at the same slot (raw base units).
    d.stat('Reconciliation up', 'Whether each view pair (chain vs ledger, chain vs events) was reconciled in the last cycle: 0 means it cannot run; see escrow_reconciliation_blocked for why.', 'none',
           [t('min by (views) (' + sel('escrow_reconciliation_up') + ')', '{{views}}')], w=8, steps=[[null, 'red'], [1, 'green']]),
    d.stat('Reconciled slot age', 'Seconds since the chain was read at the last reconciled slot, per view pair. Grows while reconciliation cannot run. Orange: EscrowReconciliationBlocked tickets; red: it pages.', 's',
           [t('max by (views) (' + sel('escrow_reconciliation_slot_age_seconds') + ')', '{{views}}')], w=8, steps=[[null, 'green'], [site.reconciliation_blocked_ticket_seconds, 'orange'], [site.reconciliation_blocked_page_seconds, 'red']]),
    d.stat('Unmatched items', 'Items one view has and the other lacks at the reconciled slot: chain accounts without a ledger row, ledger rows without an account, ledger entries not on chain, on-chain changes without an event. Should be 0.', 'none',
           [t('max by (kind) (' + sel('escrow_reconciliation_unmatched') + ')', '{{kind}}')], w=8, steps=[[null, 'green'], [1, 'red']]),
    d.timeseries('Exact drift by view pair (raw units)', 'Drift at the reconciled slot in raw base units (lamports, token base units): chain_ledger = chain minus the ledger as of the slot; chain_events = the chain change minus what the program events say moved. 0 when the three views agree.', 'none',
                 [t('max by (account, mint, views) (' + sel('escrow_reconciliation_drift_raw', 'account=~"$account",mint=~"$mint"') + ')', '{{account}} {{views}}')]),
    d.timeseries('Mismatch streak', 'Consecutive reconciliations whose drift exceeded the tolerance, per account and view pair. The mismatch alert pages at ' + site.reconciliation_agreeing_runs + '.', 'none',
                 [t('max by (account, views) (' + sel('escrow_reconciliation_mismatch_streak', 'account=~"$account"') + ')', '{{account}} {{views}}')]),

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
