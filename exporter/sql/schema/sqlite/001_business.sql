-- Reference business schema of the paid-match platform (SQLite): the same tables as
-- schema/postgres/001_business.sql. Differences: timestamps are Unix seconds (REAL), booleans
-- are 0/1, and NUMERIC amounts are stored as SQLite numbers (doubles beyond 15 digits).
-- Amounts are in whole units; `mint` is the mint address, or 'SOL' for native SOL.

CREATE TABLE users (
    id          INTEGER PRIMARY KEY,
    wallet      TEXT NOT NULL UNIQUE,
    kyc_tier    TEXT NOT NULL DEFAULT 'none',  -- none | basic | full
    frozen      INTEGER NOT NULL DEFAULT 0 CHECK (frozen IN (0, 1)),
    created_at  REAL NOT NULL DEFAULT (unixepoch())
);

CREATE TABLE escrow_accounts (
    name        TEXT PRIMARY KEY,              -- the exporter's `account` label, e.g. escrow_usdc
    address     TEXT NOT NULL UNIQUE,
    mint        TEXT NOT NULL,                 -- mint address, or 'SOL'
    decimals    INTEGER NOT NULL CHECK (decimals BETWEEN 0 AND 18)
);

CREATE TABLE matches (
    id          INTEGER PRIMARY KEY,           -- on-chain match_id
    creator     TEXT NOT NULL,
    paid        INTEGER NOT NULL CHECK (paid IN (0, 1)),
    entry_fee   NUMERIC NOT NULL DEFAULT 0,
    mint        TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'in_progress', 'settled', 'cancelled')),
    created_at  REAL NOT NULL DEFAULT (unixepoch())
);
CREATE INDEX matches_created_at ON matches (created_at);

CREATE TABLE ledger_entries (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL
                    CHECK (kind IN ('deposit', 'payout', 'fee', 'withdrawal', 'refund', 'adjustment')),
    amount          NUMERIC NOT NULL,          -- whole units, positive; the kind gives the direction (adjustment: signed)
    mint            TEXT NOT NULL,
    escrow_account  TEXT NOT NULL REFERENCES escrow_accounts (name),
    match_id        INTEGER,
    wallet          TEXT,
    signature       TEXT,
    created_at      REAL NOT NULL DEFAULT (unixepoch())
);
CREATE INDEX ledger_entries_kind_mint ON ledger_entries (kind, mint);
CREATE INDEX ledger_entries_account ON ledger_entries (escrow_account);

CREATE TABLE withdrawals (
    id            INTEGER PRIMARY KEY,
    wallet        TEXT NOT NULL,
    amount        NUMERIC NOT NULL,
    mint          TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'completed', 'failed')),
    signature     TEXT,
    requested_at  REAL NOT NULL DEFAULT (unixepoch()),
    completed_at  REAL
);
CREATE INDEX withdrawals_status ON withdrawals (status, mint);

CREATE TABLE reconciliation_runs (
    id           INTEGER PRIMARY KEY,
    started_at   REAL NOT NULL,
    finished_at  REAL,
    status       TEXT NOT NULL CHECK (status IN ('running', 'success', 'failed')),
    detail       TEXT
);
CREATE INDEX reconciliation_runs_finished ON reconciliation_runs (status, finished_at);

CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY,           -- gap-free by contract: a missing number is a lost entry
    created_at  REAL NOT NULL DEFAULT (unixepoch()),
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    detail      TEXT
);
CREATE INDEX audit_log_created_at ON audit_log (created_at);

CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY,
    queue         TEXT NOT NULL,
    payload       TEXT NOT NULL DEFAULT '',
    created_at    REAL NOT NULL DEFAULT (unixepoch()),
    processed_at  REAL
);
CREATE INDEX outbox_pending ON outbox (queue) WHERE processed_at IS NULL;

CREATE TABLE payment_webhooks (
    id           INTEGER PRIMARY KEY,
    provider     TEXT NOT NULL,
    event_id     TEXT,
    created_at   REAL NOT NULL,                 -- when the provider says the event happened
    received_at  REAL NOT NULL DEFAULT (unixepoch())
);
CREATE INDEX payment_webhooks_received ON payment_webhooks (received_at);

CREATE TABLE write_errors (
    id          INTEGER PRIMARY KEY,
    component   TEXT NOT NULL,
    error       TEXT NOT NULL DEFAULT '',
    created_at  REAL NOT NULL DEFAULT (unixepoch())
);
