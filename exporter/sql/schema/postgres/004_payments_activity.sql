-- Issue 17: payments and their outcome, disputes (chargebacks), user activity and the match funnel.
-- payment_attempts: one row per attempt to pay in through a provider (card, on-ramp), successful or
-- not, so the failed-payment ratio is failed / all attempts. disputes: a payment the payer's bank or
-- the provider contests; `chargeback` takes the money back, `inquiry` only asks (it may become one).
-- user_activity: at most one row per user per minute of activity (any action), enough for active
-- users per day / month (DAU, MAU) without a row per request. The matches columns record when a
-- match reached each stage of the funnel (created -> funded -> played -> settled); NULL: not yet.
CREATE TABLE payment_attempts (
    id              BIGSERIAL PRIMARY KEY,
    wallet          TEXT NOT NULL,
    provider        TEXT NOT NULL,             -- stripe | moonpay | ramp ...
    provider_ref    TEXT,                      -- the provider's payment id; disputes refer to it
    amount          NUMERIC(38, 18) NOT NULL,          -- whole units of `currency`
    currency        TEXT NOT NULL,
    match_id        BIGINT,
    outcome         TEXT NOT NULL CHECK (outcome IN ('succeeded', 'failed')),
    failure_reason  TEXT,                      -- card_declined | insufficient_funds | ...; NULL if succeeded
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX payment_attempts_created_at ON payment_attempts (created_at);

CREATE TABLE disputes (
    id                  BIGSERIAL PRIMARY KEY,
    payment_attempt_id  BIGINT REFERENCES payment_attempts (id),
    provider            TEXT NOT NULL,
    kind                TEXT NOT NULL CHECK (kind IN ('chargeback', 'inquiry')),
    status              TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'won', 'lost')),
    amount              NUMERIC(38, 18) NOT NULL,
    currency            TEXT NOT NULL,
    reason              TEXT,                  -- fraudulent | product_not_received | ...
    opened_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    closed_at           TIMESTAMPTZ
);
CREATE INDEX disputes_opened_at ON disputes (opened_at);

CREATE TABLE user_activity (
    id          BIGSERIAL PRIMARY KEY,
    wallet      TEXT NOT NULL,
    action      TEXT NOT NULL,                 -- the first action of that minute (join, withdraw...)
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX user_activity_created_at ON user_activity (created_at, wallet);

ALTER TABLE matches ADD COLUMN funded_at TIMESTAMPTZ;   -- first entry fee deposited
ALTER TABLE matches ADD COLUMN started_at TIMESTAMPTZ;  -- played: the match started
ALTER TABLE matches ADD COLUMN settled_at TIMESTAMPTZ;  -- prize and fee paid out
