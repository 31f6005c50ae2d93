-- flink-alert PostgreSQL schema, version 11 (SQLite's 0014): the state index leaves out sent
-- deliveries.
--
-- Nearly every delivery ends sent. An update that changes `state` is never a HOT update (the
-- column is indexed), so recording a send inserted a new 'sent' entry into every index of
-- `deliveries`, this one included. The index serves the lookups of the rare states (the
-- history filtered by one of them); the history of sent deliveries reads the rows newest
-- first, and most rows are sent.
DROP INDEX deliveries_state;
CREATE INDEX deliveries_state ON deliveries (state, id) WHERE state <> 'sent';
