-- flink-alert SQLite schema, version 14: the state index leaves out sent deliveries.
--
-- Nearly every delivery ends sent, and recording that moved its entry of `deliveries_state`
-- from 'pending' to 'sent' on every send. The index serves the lookups of the rare states
-- (pending, failed, suppressed, silenced: the history filtered by one of them, which says
-- `state <> 'sent'` as well so that SQLite may use this index); the history of sent
-- deliveries reads the rows newest first, and most rows are sent.
DROP INDEX deliveries_state;
CREATE INDEX deliveries_state ON deliveries (state) WHERE state <> 'sent';
