-- Flink clusters the watcher polls, and each watcher's last-seen state (so a restart of
-- alert-server neither re-alerts old transitions nor misses the ones during the restart).
CREATE TABLE clusters (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT    NOT NULL UNIQUE,
    url              TEXT    NOT NULL,
    enabled          INTEGER NOT NULL,
    poll_interval_ms INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);

CREATE TABLE watcher_state (
    cluster_id INTEGER PRIMARY KEY REFERENCES clusters (id) ON DELETE CASCADE,
    -- The URL the state was observed at: a cluster moved to another Flink starts afresh.
    url        TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);
