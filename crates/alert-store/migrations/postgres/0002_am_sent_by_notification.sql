-- flink-alert PostgreSQL schema, version 2 (SQLite's 0006): find a notification's dedup keys
-- without a scan. `insert_alertmanager` marks the keys it just added (delivery_id 0) with their
-- delivery by (instance_id, notification_id); the primary key (instance_id, fingerprint, ...)
-- alone made that a scan of every key ever sent to the instance.
CREATE INDEX am_sent_notification ON am_sent (notification_id, instance_id);
