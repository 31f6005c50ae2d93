-- flink-alert PostgreSQL schema, version 10 (SQLite's 0013): job-health conditions a job
-- binding alerts on besides job states (the API lists them in `statuses`), and the binding's
-- thresholds for them (JSON object; NULL: the defaults).
ALTER TABLE bindings ADD COLUMN conditions TEXT NOT NULL DEFAULT '[]';
ALTER TABLE bindings ADD COLUMN thresholds TEXT;
