-- The playbook each check's state came from, so a check that no longer exists in its schedule's
-- playbook (a renamed or removed task) is retired after that schedule's next complete run instead
-- of staying critical forever. Host reachability belongs to no playbook ('').
ALTER TABLE alert_states ADD COLUMN playbook TEXT NOT NULL DEFAULT '';
