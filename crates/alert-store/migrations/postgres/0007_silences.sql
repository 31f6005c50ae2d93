-- flink-alert PostgreSQL schema, version 7 (SQLite's 0010): silences. Job events (and
-- Alertmanager alerts) matching an active silence are stored and their deliveries recorded as
-- `silenced`, and nothing is sent. Expiring a silence moves its end to now; it stays listed.
CREATE TABLE silences (
    id         BIGSERIAL PRIMARY KEY,
    matchers   TEXT      NOT NULL,             -- JSON: {"job","cluster"?,"statuses"?,"labels"?}
    starts_at  BIGINT    NOT NULL,
    ends_at    BIGINT    NOT NULL,
    comment    TEXT      NOT NULL,
    created_by TEXT,
    created_at BIGINT    NOT NULL,
    updated_at BIGINT    NOT NULL
);
CREATE INDEX silences_ends_at ON silences (ends_at);
-- The silence a `silenced` delivery was held back by, and the new state.
ALTER TABLE deliveries ADD COLUMN silence_id BIGINT;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check
    CHECK (state IN ('pending', 'sent', 'failed', 'suppressed', 'silenced'));
CREATE INDEX deliveries_silence ON deliveries (silence_id) WHERE silence_id IS NOT NULL;
-- Alertmanager alerts held back by silences, per notification.
ALTER TABLE am_notifications ADD COLUMN silenced BIGINT NOT NULL DEFAULT 0;
