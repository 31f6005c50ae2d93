-- flink-alert SQLite schema, version 5: the tables several replicas share on PostgreSQL.
--
-- SQLite serves one process, but keeps the same tables so that the `Store` trait behaves the
-- same on both backends (and `alert-server migrate` finds them on either side).

-- Named leases (e.g. `watch:<cluster id>`): held by `holder` until `expires_at` (ms, inclusive).
CREATE TABLE leases (
    name       TEXT    NOT NULL PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

-- The shared send budget of an instance (GCRA): `tat` is the theoretical arrival time (ms) of
-- the next token; `blocked_until` (ms) is a pause a channel imposed ("send too fast").
CREATE TABLE rate_budgets (
    instance_id   INTEGER NOT NULL PRIMARY KEY
                  REFERENCES alert_instances (id) ON DELETE CASCADE,
    tat           INTEGER NOT NULL,
    blocked_until INTEGER NOT NULL DEFAULT 0
);
