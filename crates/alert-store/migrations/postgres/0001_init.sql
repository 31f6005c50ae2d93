-- flink-alert PostgreSQL schema, version 1: the four SQLite migrations (0001-0004) combined,
-- plus the tables replicas share (SQLite's 0005): leases and rate budgets.
--
-- Times are Unix milliseconds (BIGINT). JSON documents are stored as TEXT, exactly as
-- serialized: nothing queries into them, and the API answers keep their key order (JSONB would
-- reorder keys). Ids come from sequences (BIGSERIAL), which never hand out an id twice, so
-- deliveries keep the instance and group ids of their history after those rows are deleted.

-- Alert instances: one configured channel destination each.
CREATE TABLE alert_instances (
    id              BIGSERIAL PRIMARY KEY,
    name            TEXT      NOT NULL UNIQUE,
    kind            TEXT      NOT NULL,
    enabled         BOOLEAN   NOT NULL,
    params          TEXT      NOT NULL,        -- JSON object, secrets in clear
    rate_per_minute BIGINT,                    -- NULL = unlimited
    created_at      BIGINT    NOT NULL,
    updated_at      BIGINT    NOT NULL
);

-- Alert groups: ordered sets of instances.
CREATE TABLE alert_groups (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT      NOT NULL UNIQUE,
    enabled    BOOLEAN   NOT NULL,
    created_at BIGINT    NOT NULL,
    updated_at BIGINT    NOT NULL
);

-- Group membership, in the order given (position). An instance in a group cannot be deleted.
CREATE TABLE group_members (
    group_id    BIGINT NOT NULL REFERENCES alert_groups (id) ON DELETE CASCADE,
    instance_id BIGINT NOT NULL REFERENCES alert_instances (id),
    position    BIGINT NOT NULL,
    PRIMARY KEY (group_id, instance_id)
);
CREATE INDEX group_members_instance ON group_members (instance_id);

-- Bindings: which jobs (name or glob, optional cluster) alert which group on which statuses.
-- An Alertmanager binding has `labels` (JSON object label -> anchored regex), `job` = '' and
-- never matches job events.
CREATE TABLE bindings (
    id         BIGSERIAL PRIMARY KEY,
    job        TEXT      NOT NULL,
    cluster    TEXT,                           -- NULL = every cluster
    group_id   BIGINT    NOT NULL REFERENCES alert_groups (id) ON DELETE CASCADE,
    statuses   TEXT      NOT NULL,             -- JSON array of status names
    created_at BIGINT    NOT NULL,
    labels     TEXT,                           -- JSON object; NULL for a job binding
    receiver   TEXT,                           -- NULL = any receiver
    per_alert  BOOLEAN   NOT NULL DEFAULT FALSE
);
CREATE INDEX bindings_group ON bindings (group_id);

-- Job events as received. Dedup key: (job id, status, instant of occurrence in ms); the unique
-- constraint is what makes two replicas storing the same event at once store it once.
CREATE TABLE events (
    id              BIGSERIAL PRIMARY KEY,
    job_id          TEXT      NOT NULL,
    job_name        TEXT      NOT NULL,
    cluster         TEXT      NOT NULL,
    status          TEXT      NOT NULL,
    previous_status TEXT,
    occurred_at     TEXT      NOT NULL,        -- RFC 3339 with the offset it was given in
    occurred_at_ms  BIGINT    NOT NULL,
    duration_ms     BIGINT,
    error           TEXT,
    url             TEXT,
    labels          TEXT      NOT NULL,        -- JSON object
    received_at     BIGINT    NOT NULL,
    UNIQUE (job_id, status, occurred_at_ms)
);
-- The repeat (flapping) lookup: same job and status received since a time.
CREATE INDEX events_repeat ON events (job_id, status, received_at);

-- Every Alertmanager notification received, as received.
CREATE TABLE am_notifications (
    id          BIGSERIAL PRIMARY KEY,
    receiver    TEXT      NOT NULL,
    status      TEXT      NOT NULL,
    group_key   TEXT      NOT NULL,
    alerts      BIGINT    NOT NULL,
    unrouted    BIGINT    NOT NULL,
    duplicates  BIGINT    NOT NULL,
    deliveries  BIGINT    NOT NULL,
    payload     TEXT      NOT NULL,            -- the webhook body, JSON
    received_at BIGINT    NOT NULL
);
CREATE INDEX am_notifications_unrouted ON am_notifications (id) WHERE unrouted > 0;

-- The outbox and the delivery history. instance_id/group_id carry no foreign key, so history
-- survives deleting them; the instance's name and kind are copied at insert time. A pending
-- row is leased to a worker by claimed_by/lease_until.
CREATE TABLE deliveries (
    id                 BIGSERIAL PRIMARY KEY,
    event_id           BIGINT    REFERENCES events (id),   -- NULL for a digest
    instance_id        BIGINT    NOT NULL,
    instance_name      TEXT      NOT NULL,
    instance_kind      TEXT      NOT NULL,
    group_id           BIGINT,
    state              TEXT      NOT NULL
                       CHECK (state IN ('pending', 'sent', 'failed', 'suppressed')),
    attempts           BIGINT    NOT NULL DEFAULT 0,
    next_attempt_at    BIGINT    NOT NULL,
    deadline_at        BIGINT    NOT NULL,
    last_error         TEXT,                   -- JSON {"kind","code","message"}
    digest_id          BIGINT,                 -- for suppressed rows: the digest delivery
    payload            TEXT,                   -- for digests: the rendered message, JSON
    claimed_by         TEXT,
    lease_until        BIGINT,
    created_at         BIGINT    NOT NULL,
    sent_at            BIGINT,
    am_notification_id BIGINT                  -- the Alertmanager notification, if any
);
-- The claim query: pending rows in claim order (due time, then id).
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id) WHERE state = 'pending';
-- get_event, and the history filters (each newest first by id).
CREATE INDEX deliveries_event ON deliveries (event_id);
CREATE INDEX deliveries_instance ON deliveries (instance_id, id);
CREATE INDEX deliveries_group ON deliveries (group_id, id);
CREATE INDEX deliveries_state ON deliveries (state, id);
CREATE INDEX deliveries_am_notification ON deliveries (am_notification_id)
    WHERE am_notification_id IS NOT NULL;

-- One row per attempt of a delivery, numbered from 1.
CREATE TABLE attempts (
    id          BIGSERIAL PRIMARY KEY,
    delivery_id BIGINT    NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number      BIGINT    NOT NULL,
    started_at  BIGINT    NOT NULL,
    finished_at BIGINT    NOT NULL,
    outcome     TEXT      NOT NULL,            -- sent, retry, throttle, permanent, ...
    error       TEXT,                          -- JSON {"kind","code","message"}
    warnings    TEXT      NOT NULL DEFAULT '[]', -- JSON array of strings
    UNIQUE (delivery_id, number)
);

-- Flink clusters the watcher polls, and each watcher's last-seen state (so a restart, or
-- another replica taking the watcher over, neither re-alerts old transitions nor misses new ones).
CREATE TABLE clusters (
    id               BIGSERIAL PRIMARY KEY,
    name             TEXT      NOT NULL UNIQUE,
    url              TEXT      NOT NULL,
    enabled          BOOLEAN   NOT NULL,
    poll_interval_ms BIGINT    NOT NULL,
    created_at       BIGINT    NOT NULL,
    updated_at       BIGINT    NOT NULL
);

CREATE TABLE watcher_state (
    cluster_id BIGINT PRIMARY KEY REFERENCES clusters (id) ON DELETE CASCADE,
    -- The URL the state was observed at: a cluster moved to another Flink starts afresh.
    url        TEXT   NOT NULL,
    state      TEXT   NOT NULL,               -- JSON
    updated_at BIGINT NOT NULL
);

-- Where imported objects came from (`alert-server import dinky`), see SQLite's 0003.
CREATE TABLE import_sources (
    source       TEXT   NOT NULL,
    tenant       BIGINT NOT NULL,
    source_table TEXT   NOT NULL,
    source_id    BIGINT NOT NULL,
    kind         TEXT   NOT NULL CHECK (kind IN ('instance', 'group', 'binding')),
    target_id    BIGINT NOT NULL,
    imported_at  BIGINT NOT NULL,
    PRIMARY KEY (source, tenant, source_table, source_id)
);
CREATE INDEX import_sources_target ON import_sources (kind, target_id);

-- Alertmanager dedup: one row per (instance, fingerprint, status, startsAt) ever delivered.
-- The primary key makes two replicas given the same notification at once send it once.
CREATE TABLE am_sent (
    instance_id     BIGINT NOT NULL,
    fingerprint     TEXT   NOT NULL,
    status          TEXT   NOT NULL,
    starts_at       TEXT   NOT NULL,
    delivery_id     BIGINT NOT NULL,
    notification_id BIGINT NOT NULL,
    PRIMARY KEY (instance_id, fingerprint, status, starts_at)
);

-- Named leases (e.g. one per Flink cluster's watcher): held by `holder` until `expires_at`
-- (ms, inclusive); renewed by the holder, taken over by another replica once expired.
CREATE TABLE leases (
    name       TEXT   PRIMARY KEY,
    holder     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);

-- The shared send budget of an instance (GCRA): `tat` is the theoretical arrival time (ms) of
-- the next token; `blocked_until` (ms) is a pause a channel imposed ("send too fast").
CREATE TABLE rate_budgets (
    instance_id   BIGINT PRIMARY KEY REFERENCES alert_instances (id) ON DELETE CASCADE,
    tat           BIGINT NOT NULL,
    blocked_until BIGINT NOT NULL DEFAULT 0
);
