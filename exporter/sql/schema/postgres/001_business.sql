-- Reference business schema of the paid-match platform (PostgreSQL).
-- Amounts are in whole units (SOL, or token units after the mint's decimals) as NUMERIC, so sums
-- are exact; `mint` is the mint address, or 'SOL' for native SOL (the exporter's `mint` label).

CREATE TABLE users (
    id          BIGSERIAL PRIMARY KEY,
    wallet      TEXT NOT NULL UNIQUE,
    kyc_tier    TEXT NOT NULL DEFAULT 'none',  -- none | basic | full
    frozen      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE escrow_accounts (
    name        TEXT PRIMARY KEY,              -- the exporter's `account` label, e.g. escrow_usdc
    address     TEXT NOT NULL UNIQUE,
    mint        TEXT NOT NULL,                 -- mint address, or 'SOL'
    decimals    SMALLINT NOT NULL CHECK (decimals BETWEEN 0 AND 18)
);

CREATE TABLE matches (
    id          BIGINT PRIMARY KEY,            -- on-chain match_id
    creator     TEXT NOT NULL,
    paid        BOOLEAN NOT NULL,
    entry_fee   NUMERIC(38, 18) NOT NULL DEFAULT 0,
    mint        TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'in_progress', 'settled', 'cancelled')),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX matches_created_at ON matches (created_at);

CREATE TABLE ledger_entries (
    id              BIGSERIAL PRIMARY KEY,
    kind            TEXT NOT NULL
                    CHECK (kind IN ('deposit', 'payout', 'fee', 'withdrawal', 'refund', 'adjustment')),
    amount          NUMERIC(38, 18) NOT NULL,  -- whole units, positive; the kind gives the direction (adjustment: signed)
    mint            TEXT NOT NULL,
    escrow_account  TEXT NOT NULL REFERENCES escrow_accounts (name),
    match_id        BIGINT,
    wallet          TEXT,
    signature       TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX ledger_entries_kind_mint ON ledger_entries (kind, mint);
CREATE INDEX ledger_entries_account ON ledger_entries (escrow_account);

CREATE TABLE withdrawals (
    id            BIGSERIAL PRIMARY KEY,
    wallet        TEXT NOT NULL,
    amount        NUMERIC(38, 18) NOT NULL,
    mint          TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'completed', 'failed')),
    signature     TEXT,
    requested_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at  TIMESTAMPTZ
);
CREATE INDEX withdrawals_status ON withdrawals (status, mint);

CREATE TABLE reconciliation_runs (
    id           BIGSERIAL PRIMARY KEY,
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ,
    status       TEXT NOT NULL CHECK (status IN ('running', 'success', 'failed')),
    detail       TEXT
);
CREATE INDEX reconciliation_runs_finished ON reconciliation_runs (status, finished_at);

CREATE TABLE audit_log (
    seq         BIGINT PRIMARY KEY,            -- gap-free by contract: a missing number is a lost entry
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    detail      TEXT
);
CREATE INDEX audit_log_created_at ON audit_log (created_at);

CREATE TABLE outbox (
    id            BIGSERIAL PRIMARY KEY,
    queue         TEXT NOT NULL,
    payload       TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    processed_at  TIMESTAMPTZ
);
CREATE INDEX outbox_pending ON outbox (queue) WHERE processed_at IS NULL;

CREATE TABLE payment_webhooks (
    id           BIGSERIAL PRIMARY KEY,
    provider     TEXT NOT NULL,
    event_id     TEXT,
    created_at   TIMESTAMPTZ NOT NULL,          -- when the provider says the event happened
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX payment_webhooks_received ON payment_webhooks (received_at);

CREATE TABLE write_errors (
    id          BIGSERIAL PRIMARY KEY,
    component   TEXT NOT NULL,
    error       TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
