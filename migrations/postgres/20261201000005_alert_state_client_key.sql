-- A host is (client, name): the same name at two clients is two hosts, so alert states are keyed
-- by client too.
ALTER TABLE alert_states DROP CONSTRAINT alert_states_pkey;
ALTER TABLE alert_states ADD PRIMARY KEY (client, host, check_name);
