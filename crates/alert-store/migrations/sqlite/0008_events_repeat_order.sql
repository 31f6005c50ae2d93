-- The repeat check's index ends with `id` (as PostgreSQL's 0005): "the latest earlier event of
-- this job and status" is one backward index step, whatever the number of earlier events.
DROP INDEX events_repeat;
CREATE INDEX events_repeat ON events (job_id, status, received_at, id);
