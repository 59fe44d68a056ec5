-- The outbox (sqlite): every mail and webhook is written here before it is sent, in the same transaction
-- as what caused it, and marked sent only after the server accepted it. A lease (claimed_until) keeps
-- two daemons on one database from sending the same row; the dedup key keeps a cause from queueing twice.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    client TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    message_id TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    claimed_until BIGINT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);

-- The last known state of each (host, check), so alerts go out on a change, not on every run.
CREATE TABLE alert_states (
    host TEXT NOT NULL,
    check_name TEXT NOT NULL,
    client TEXT NOT NULL,
    state TEXT NOT NULL,
    since BIGINT NOT NULL,
    notified_at BIGINT,
    detail TEXT NOT NULL,
    PRIMARY KEY (host, check_name)
);
