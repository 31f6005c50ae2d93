-- flink-alert SQLite schema, version 1.
--
-- Times are Unix milliseconds (INTEGER). JSON is stored as TEXT. Table names avoid SQL keywords.
-- Configuration tables use AUTOINCREMENT so that ids are never reused: deliveries keep the
-- instance and group ids of their history after those rows are deleted.

-- Alert instances: one configured channel destination each.
CREATE TABLE alert_instances (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL UNIQUE,
    kind            TEXT    NOT NULL,
    enabled         INTEGER NOT NULL,
    params          TEXT    NOT NULL,          -- JSON object, secrets in clear
    rate_per_minute INTEGER,                   -- NULL = unlimited
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

-- Alert groups: ordered sets of instances.
CREATE TABLE alert_groups (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    enabled    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Group membership, in the order given (position). An instance in a group cannot be deleted.
CREATE TABLE group_members (
    group_id    INTEGER NOT NULL REFERENCES alert_groups (id) ON DELETE CASCADE,
    instance_id INTEGER NOT NULL REFERENCES alert_instances (id),
    position    INTEGER NOT NULL,
    PRIMARY KEY (group_id, instance_id)
) WITHOUT ROWID;
CREATE INDEX group_members_instance ON group_members (instance_id);

-- Bindings: which jobs (name or glob, optional cluster) alert which group on which statuses.
CREATE TABLE bindings (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    job        TEXT    NOT NULL,
    cluster    TEXT,                           -- NULL = every cluster
    group_id   INTEGER NOT NULL REFERENCES alert_groups (id) ON DELETE CASCADE,
    statuses   TEXT    NOT NULL,               -- JSON array of status names ("FAILED", ...)
    created_at INTEGER NOT NULL
);
CREATE INDEX bindings_group ON bindings (group_id);

-- Job events as received. Dedup key: (job id, status, instant of occurrence in ms), so the same
-- instant written with another offset is the same event.
CREATE TABLE events (
    id              INTEGER PRIMARY KEY,
    job_id          TEXT    NOT NULL,
    job_name        TEXT    NOT NULL,
    cluster         TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    previous_status TEXT,
    occurred_at     TEXT    NOT NULL,          -- RFC 3339 with the offset it was given in
    occurred_at_ms  INTEGER NOT NULL,
    duration_ms     INTEGER,
    error           TEXT,
    url             TEXT,
    labels          TEXT    NOT NULL,          -- JSON object
    received_at     INTEGER NOT NULL,
    UNIQUE (job_id, status, occurred_at_ms)
);
-- The repeat (flapping) lookup: same job and status received since a time.
CREATE INDEX events_repeat ON events (job_id, status, received_at);

-- The outbox and the delivery history. instance_id/group_id carry no foreign key, so history
-- survives deleting them; the instance's name and kind are copied at insert time for the same
-- reason. A pending row is leased to a worker by claimed_by/lease_until.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    event_id        INTEGER REFERENCES events (id),   -- NULL for a digest
    instance_id     INTEGER NOT NULL,
    instance_name   TEXT    NOT NULL,
    instance_kind   TEXT    NOT NULL,
    group_id        INTEGER,
    state           TEXT    NOT NULL
                    CHECK (state IN ('pending', 'sent', 'failed', 'suppressed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    deadline_at     INTEGER NOT NULL,
    last_error      TEXT,                      -- JSON {"kind","code","message"}
    digest_id       INTEGER,                   -- for suppressed rows: the digest delivery
    payload         TEXT,                      -- for digests: the rendered message, JSON
    claimed_by      TEXT,
    lease_until     INTEGER,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
-- The claim query: pending rows by due time (rowid breaks ties, in index order).
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
-- get_event, and the history filters (each newest first through the implicit rowid).
CREATE INDEX deliveries_event ON deliveries (event_id);
CREATE INDEX deliveries_instance ON deliveries (instance_id);
CREATE INDEX deliveries_group ON deliveries (group_id);
CREATE INDEX deliveries_state ON deliveries (state);

-- One row per attempt of a delivery, numbered from 1.
CREATE TABLE attempts (
    id          INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number      INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    outcome     TEXT    NOT NULL,              -- sent, retry, throttle, permanent, ...
    error       TEXT,                          -- JSON {"kind","code","message"}
    warnings    TEXT    NOT NULL DEFAULT '[]', -- JSON array of strings
    UNIQUE (delivery_id, number)
);
