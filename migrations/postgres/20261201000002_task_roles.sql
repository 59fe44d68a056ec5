-- A task record's role (task, remediation, recheck) as a column, instead of prefixes and suffixes
-- on its name ("remediate: ...", "... (after remediation)"): the name is the task's own again, so
-- a check keeps one id across its remediation, and nothing parses names to learn what a row is.
ALTER TABLE task_results ADD COLUMN role TEXT NOT NULL DEFAULT 'task';
UPDATE task_results SET role = 'remediation', task_name = substr(task_name, 12)
    WHERE task_name LIKE 'remediate: %';
UPDATE task_results SET role = 'recheck',
    task_name = substr(task_name, 1, length(task_name) - length(' (after remediation)'))
    WHERE task_name LIKE '% (after remediation)';
