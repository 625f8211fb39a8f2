-- Tie each ledger entry to the on-chain transaction it reflects, so the books can be read "as of
-- slot S" and compared with the chain at that same slot (docs/architecture.md, "Reconciliation").
-- `signature` already exists; `slot` is the slot the transaction landed in, written when the
-- back end saw it confirmed. NULL means "not confirmed on chain yet": such entries are left out of
-- the as-of-slot balance (a write delay is not a mismatch) and counted once they are older than
-- the reconciliation's `unconfirmed_after_slots`.
ALTER TABLE ledger_entries ADD COLUMN slot BIGINT CHECK (slot IS NULL OR slot >= 0);
CREATE INDEX ledger_entries_account_slot ON ledger_entries (escrow_account, slot);
CREATE INDEX ledger_entries_unconfirmed ON ledger_entries (created_at) WHERE slot IS NULL;
