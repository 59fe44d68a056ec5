-- Schedule slots (PostgreSQL): each (schedule, series, slot time) is claimed once, by whichever daemon
-- inserts it first, so a slot runs at most once even with several daemons on one database.
CREATE TABLE slots (
    id BIGSERIAL PRIMARY KEY,
    schedule TEXT NOT NULL,
    series TEXT NOT NULL,
    slot_at BIGINT NOT NULL,
    state TEXT NOT NULL,
    run_id BIGINT,
    reason TEXT,
    claimed_by TEXT NOT NULL,
    claimed_at BIGINT NOT NULL,
    UNIQUE (schedule, series, slot_at)
);
CREATE INDEX slots_state ON slots (state, slot_at);
