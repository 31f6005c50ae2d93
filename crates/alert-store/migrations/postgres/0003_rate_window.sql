-- flink-alert PostgreSQL schema, version 3: send budgets become sliding windows (as SQLite's
-- 0007). `sent` lists the send times (ms, oldest first) still inside the last minute.
ALTER TABLE rate_budgets ADD COLUMN sent BIGINT[] NOT NULL DEFAULT '{}';
ALTER TABLE rate_budgets DROP COLUMN tat;
