-- flink-alert PostgreSQL schema, version 4: `rate_budgets.sent` becomes a JSON array in text,
-- as on SQLite (0007), so that one statement reads and writes a budget on both engines.
ALTER TABLE rate_budgets ALTER COLUMN sent DROP DEFAULT;
ALTER TABLE rate_budgets ALTER COLUMN sent TYPE TEXT USING array_to_json(sent)::text;
ALTER TABLE rate_budgets ALTER COLUMN sent SET DEFAULT '[]';
