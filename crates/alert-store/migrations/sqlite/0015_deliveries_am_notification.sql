-- flink-alert SQLite schema, version 15: the deliveries of an Alertmanager notification, by
-- notification (PostgreSQL has had this index since its first version).
--
-- The listing of notifications reads each one's deliveries; without an index that was a scan
-- of every delivery per notification listed (about 3 s for a page of 100 over 300,000
-- deliveries). Deliveries of job events have no notification and stay out of the index.
CREATE INDEX deliveries_am_notification ON deliveries (am_notification_id)
    WHERE am_notification_id IS NOT NULL;
