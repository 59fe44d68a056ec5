-- Several daemons on one database: each node records the clients it serves (comma-separated
-- client ids, resolved from its `serves:`; empty for a `tended run`), so a survivor knows which
-- slots a live node covers; a slot records how many times it was started, so a slot whose node
-- died is retried at most once.
ALTER TABLE nodes ADD COLUMN serves TEXT NOT NULL DEFAULT '';
ALTER TABLE slots ADD COLUMN attempt BIGINT NOT NULL DEFAULT 1;
CREATE INDEX slots_series_state ON slots (schedule, series, state);
