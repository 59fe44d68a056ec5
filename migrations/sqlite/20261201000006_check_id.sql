-- A task's optional `id:`: the check's stable id, followed by history, trends and alert states
-- across renames. NULL: the check is known by its playbook and task name.
ALTER TABLE task_results ADD COLUMN check_id TEXT;
