-- A host is (client, name): the same name at two clients is two hosts, so alert states are keyed
-- by client too. SQLite cannot change a primary key in place: the table is rebuilt.
CREATE TABLE alert_states_by_client (
    client TEXT NOT NULL,
    host TEXT NOT NULL,
    check_name TEXT NOT NULL,
    state TEXT NOT NULL,
    since BIGINT NOT NULL,
    notified_at BIGINT,
    detail TEXT NOT NULL,
    playbook TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (client, host, check_name)
);
INSERT INTO alert_states_by_client (client, host, check_name, state, since, notified_at, detail, playbook)
    SELECT client, host, check_name, state, since, notified_at, detail, playbook FROM alert_states;
DROP TABLE alert_states;
ALTER TABLE alert_states_by_client RENAME TO alert_states;
