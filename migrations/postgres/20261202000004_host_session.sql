-- How a host's tasks reached it (the driver, or one channel per task and why), as JSON.
ALTER TABLE host_results ADD COLUMN session TEXT;
