-- flink-alert PostgreSQL schema, version 5 (SQLite's 0008): the repeat check's index ends with
-- `id`, so that "the latest earlier event of this job and status" (ORDER BY received_at DESC,
-- id DESC LIMIT 1, id below the new one) is one backward index step. Without it a batch insert,
-- whose values come from a JSON parameter, was planned over the primary key: every earlier
-- event read for each new one.
DROP INDEX events_repeat;
CREATE INDEX events_repeat ON events (job_id, status, received_at, id);
