-- flink-alert SQLite schema, version 7: send budgets become sliding windows.
--
-- A token bucket refilled at rate/minute lets 2 × rate − 1 messages through in some minute;
-- DingTalk throttles a robot for 10 minutes past 20 in a minute. `sent` lists the send times
-- (ms, JSON array, oldest first) still inside the last minute.
ALTER TABLE rate_budgets ADD COLUMN sent TEXT NOT NULL DEFAULT '[]';
ALTER TABLE rate_budgets DROP COLUMN tat;
