-- flink-alert SQLite schema, version 6: find a notification's dedup keys without a scan.
--
-- `insert_alertmanager` marks the keys it just added (delivery_id 0) with their delivery by
-- (instance_id, notification_id); the primary key (instance_id, fingerprint, ...) made that a
-- scan of every key ever sent to the instance, so each ingest got slower as keys piled up.
CREATE INDEX am_sent_notification ON am_sent (notification_id, instance_id);
