-- Runs, host results and task results (PostgreSQL). Times are milliseconds since the Unix epoch, UTC.
-- Booleans are 0/1 integers: sqlx's Any driver cannot decode SQLite BOOLEAN columns.
CREATE TABLE runs (
    id BIGSERIAL PRIMARY KEY,
    playbook TEXT NOT NULL,
    pattern TEXT NOT NULL,
    started_by TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,
    check_mode BIGINT NOT NULL,
    state TEXT NOT NULL,
    outcome TEXT,
    reason TEXT,
    started_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX runs_started ON runs (started_at);
CREATE INDEX runs_state ON runs (state);

CREATE TABLE host_results (
    id BIGSERIAL PRIMARY KEY,
    run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    client TEXT NOT NULL,
    host TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    started_at BIGINT NOT NULL,
    ended_at BIGINT NOT NULL
);
CREATE INDEX host_results_run ON host_results (run_id);
CREATE INDEX host_results_host ON host_results (host, started_at);
CREATE INDEX host_results_client ON host_results (client, started_at);

CREATE TABLE task_results (
    id BIGSERIAL PRIMARY KEY,
    run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    host_result_id BIGINT NOT NULL REFERENCES host_results (id) ON DELETE CASCADE,
    client TEXT NOT NULL,
    host TEXT NOT NULL,
    task_index BIGINT NOT NULL,
    task_name TEXT NOT NULL,
    module TEXT NOT NULL,
    state TEXT NOT NULL,
    rc BIGINT,
    stdout TEXT NOT NULL,
    stderr TEXT NOT NULL,
    message TEXT NOT NULL,
    data TEXT NOT NULL,
    truncated BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    ignored BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX task_results_host_result ON task_results (host_result_id);
CREATE INDEX task_results_trend ON task_results (host, module, started_at);
