-- Bounded storage: task results older than `retention.results` are folded into one row per check
-- and day (how many times it ran, in which states, the worst, and the newest result's data), so
-- trends, forecasts and reports still see the history after the rows themselves are pruned.
CREATE TABLE check_daily (
    client TEXT NOT NULL,
    host TEXT NOT NULL,
    task_name TEXT NOT NULL,
    module TEXT NOT NULL,
    check_id TEXT,
    -- The check as reports follow it: its `id:`, else `playbook-file:task name`.
    check_key TEXT NOT NULL,
    day BIGINT NOT NULL,
    runs BIGINT NOT NULL,
    states TEXT NOT NULL,
    worst TEXT NOT NULL,
    last_at BIGINT NOT NULL,
    last_data TEXT NOT NULL,
    PRIMARY KEY (client, host, task_name, day)
);
CREATE INDEX task_results_started ON task_results (started_at);
-- Pruning asks which runs have results left, and removes their slots.
CREATE INDEX task_results_run ON task_results (run_id);
CREATE INDEX slots_run ON slots (run_id);
-- A client report reads its client's results of a period.
CREATE INDEX task_results_client ON task_results (client, started_at);
CREATE INDEX check_daily_client ON check_daily (client, last_at);
-- How far pruning emptied each run's task output: the last task result id done, -1 when all is.
ALTER TABLE runs ADD COLUMN output_pruned BIGINT NOT NULL DEFAULT 0;
