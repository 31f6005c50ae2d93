-- flink-alert PostgreSQL schema, version 9 (SQLite's 0012): indexes for `GET /api/v1/stats`.
--
-- Deliveries by hour of creation (`created_at / 3600000`) and state: in index order, so they
-- are counted in one pass over the window's entries, without sorting them, and never a row
-- visited (the index covers the instance and the exact time); also the failed ones per instance.
CREATE INDEX deliveries_hourly ON deliveries ((created_at / 3600000), state, instance_id, created_at);
-- Failed attempts only (throttles included): the errors of a window without the successes.
CREATE INDEX attempts_errors ON attempts (finished_at, delivery_id, outcome) WHERE outcome <> 'sent';
-- Events received in a window.
CREATE INDEX events_received ON events (received_at);
