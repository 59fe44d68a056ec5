-- Who runs what: every process that starts runs (a `tended run`, a daemon) is a node with a lease,
-- renewed against the database's own clock. A run records its node, so a daemon starting or
-- draining, or Ctrl-C in `tended run`, interrupts only its own runs and those of a node whose
-- lease has expired (it crashed), never a live node's (another daemon on a shared PostgreSQL).
-- Runs from before this migration have no owner ('') and count as orphaned.
ALTER TABLE runs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
CREATE INDEX runs_owner ON runs (state, owner);
CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    lease_until BIGINT NOT NULL
);
