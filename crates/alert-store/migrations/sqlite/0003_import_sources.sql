-- flink-alert SQLite schema, version 3: where imported objects came from.
--
-- `alert-server import dinky` records, for every object it creates, the source row it was made
-- from, so a re-run updates that object instead of creating a second one. `source` identifies
-- the source database without credentials (`mysql://host:3306/dinky`, `file:/abs/path.json`);
-- `tenant` is the source tenant id (0 when the source has no tenants); `source_table` and
-- `source_id` name the row. The target row may have been deleted since: the importer then
-- creates it again and moves the record to the new id.
CREATE TABLE import_sources (
    source       TEXT    NOT NULL,
    tenant       INTEGER NOT NULL,
    source_table TEXT    NOT NULL,
    source_id    INTEGER NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('instance', 'group', 'binding')),
    target_id    INTEGER NOT NULL,
    imported_at  INTEGER NOT NULL,
    PRIMARY KEY (source, tenant, source_table, source_id)
) WITHOUT ROWID;
CREATE INDEX import_sources_target ON import_sources (kind, target_id);
