-- Job-health conditions a job binding alerts on besides job states (CHECKPOINT_FAILED,
-- CHECKPOINT_SLOW, EXCEPTION, TASKMANAGER_LOST; the API lists them in `statuses`), and the
-- binding's thresholds for them (JSON object; NULL: the defaults).
ALTER TABLE bindings ADD COLUMN conditions TEXT NOT NULL DEFAULT '[]';
ALTER TABLE bindings ADD COLUMN thresholds TEXT;
