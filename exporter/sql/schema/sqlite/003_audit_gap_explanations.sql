-- Issue 13: a way to record that an audit-log gap was investigated and explained (a sequence
-- number burnt by a rolled-back transaction, entries lost in a restore and re-entered elsewhere).
-- The audit_log_gaps query counts only missing numbers no explanation covers, so
-- EscrowAuditLogGap clears once every gap is explained. Ranges may overlap or reach past the
-- log's ends: the query counts each missing number between the first and last entry once, and a
-- range explains only the missing numbers inside it (never another gap).
CREATE TABLE audit_log_gap_explanations (
    first_seq     INTEGER PRIMARY KEY,
    last_seq      INTEGER NOT NULL,
    explained_by  TEXT NOT NULL,
    reason        TEXT NOT NULL,
    ticket        TEXT,
    explained_at  REAL NOT NULL DEFAULT (unixepoch()),
    CHECK (last_seq >= first_seq)
);
