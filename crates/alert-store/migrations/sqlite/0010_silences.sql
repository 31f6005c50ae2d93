-- Silences: for planned work, job events (and Alertmanager alerts) matching an active silence
-- are stored and their deliveries recorded as `silenced`, and nothing is sent. Expiring a
-- silence moves its end to now; it stays listed.
--
-- `deliveries` takes a new state, which its CHECK constraint names: SQLite changes a
-- constraint only by rebuilding the table (https://sqlite.org/lang_altertable.html, "making
-- other kinds of table schema changes"), with foreign keys off so that dropping the old table
-- does not cascade to the attempts: the store runs its migrations on a connection with foreign
-- keys off (a PRAGMA has no effect inside the migration's transaction), then checks them.
CREATE TABLE silences (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    matchers   TEXT    NOT NULL,               -- JSON: {"job","cluster"?,"statuses"?,"labels"?}
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    comment    TEXT    NOT NULL,
    created_by TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX silences_ends_at ON silences (ends_at);

CREATE TABLE deliveries_new (
    id                 INTEGER PRIMARY KEY,
    event_id           INTEGER REFERENCES events (id),   -- NULL for a digest
    instance_id        INTEGER NOT NULL,
    instance_name      TEXT    NOT NULL,
    instance_kind      TEXT    NOT NULL,
    group_id           INTEGER,
    state              TEXT    NOT NULL
                       CHECK (state IN ('pending', 'sent', 'failed', 'suppressed', 'silenced')),
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at    INTEGER NOT NULL,
    deadline_at        INTEGER NOT NULL,
    last_error         TEXT,                   -- JSON {"kind","code","message"}
    digest_id          INTEGER,                -- for suppressed rows: the digest delivery
    payload            TEXT,                   -- for digests: the rendered message, JSON
    claimed_by         TEXT,
    lease_until        INTEGER,
    created_at         INTEGER NOT NULL,
    sent_at            INTEGER,
    am_notification_id INTEGER,
    silence_id         INTEGER                 -- for silenced rows: the silence
);
INSERT INTO deliveries_new (id, event_id, instance_id, instance_name, instance_kind, group_id,
    state, attempts, next_attempt_at, deadline_at, last_error, digest_id, payload, claimed_by,
    lease_until, created_at, sent_at, am_notification_id)
SELECT id, event_id, instance_id, instance_name, instance_kind, group_id, state, attempts,
    next_attempt_at, deadline_at, last_error, digest_id, payload, claimed_by, lease_until,
    created_at, sent_at, am_notification_id
FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_event ON deliveries (event_id);
CREATE INDEX deliveries_instance ON deliveries (instance_id);
CREATE INDEX deliveries_group ON deliveries (group_id);
CREATE INDEX deliveries_state ON deliveries (state);
CREATE INDEX deliveries_silence ON deliveries (silence_id) WHERE silence_id IS NOT NULL;

-- Alertmanager alerts held back by silences, per notification.
ALTER TABLE am_notifications ADD COLUMN silenced INTEGER NOT NULL DEFAULT 0;
