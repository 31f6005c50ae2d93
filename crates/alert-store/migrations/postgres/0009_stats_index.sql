-- flink-alert PostgreSQL schema, version 9 (SQLite's 0012): indexes for `GET /api/v1/stats`.
--
-- Deliveries by hour of creation and state, and the failed ones per instance, read from the
-- index alone (no row is visited, however long the history).
CREATE INDEX deliveries_created ON deliveries (created_at, state, instance_id);
-- Failed attempts only (throttles included): the errors of a window without the successes.
CREATE INDEX attempts_errors ON attempts (finished_at) WHERE outcome <> 'sent';
-- Events received in a window.
CREATE INDEX events_received ON events (received_at);
