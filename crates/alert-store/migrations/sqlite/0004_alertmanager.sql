-- flink-alert SQLite schema, version 4: Prometheus Alertmanager as a second source.
--
-- Bindings gain Alertmanager matchers: `labels` (JSON object label → anchored regex, NULL for a
-- job binding), `receiver` (NULL = any), and `per_alert` (one message per alert instead of one
-- per group notification). An Alertmanager binding stores `job` = '' and never matches job events.
ALTER TABLE bindings ADD COLUMN labels TEXT;
ALTER TABLE bindings ADD COLUMN receiver TEXT;
ALTER TABLE bindings ADD COLUMN per_alert INTEGER NOT NULL DEFAULT 0;

-- Every Alertmanager notification received, as received, with how many of its alerts were
-- routed, unrouted (matched no binding) or already delivered (duplicates).
CREATE TABLE am_notifications (
    id          INTEGER PRIMARY KEY,
    receiver    TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    group_key   TEXT    NOT NULL,
    alerts      INTEGER NOT NULL,
    unrouted    INTEGER NOT NULL,
    duplicates  INTEGER NOT NULL,
    deliveries  INTEGER NOT NULL,
    payload     TEXT    NOT NULL,              -- the webhook body, JSON
    received_at INTEGER NOT NULL
);
CREATE INDEX am_notifications_unrouted ON am_notifications (id) WHERE unrouted > 0;

-- Dedup: one row per (instance, alert fingerprint, alert status, startsAt) ever delivered, with
-- the delivery that carried it. Alertmanager re-sends groups every repeat_interval and after
-- its restarts; a key already here is not sent again to that instance.
CREATE TABLE am_sent (
    instance_id     INTEGER NOT NULL,
    fingerprint     TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    starts_at       TEXT    NOT NULL,
    delivery_id     INTEGER NOT NULL,
    notification_id INTEGER NOT NULL,
    PRIMARY KEY (instance_id, fingerprint, status, starts_at)
) WITHOUT ROWID;

-- The notification an Alertmanager delivery was made for (NULL for job events and digests).
ALTER TABLE deliveries ADD COLUMN am_notification_id INTEGER;
