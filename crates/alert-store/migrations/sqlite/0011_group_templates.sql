-- A group's own message template for job events: a JSON object {"title","text","markdown"}
-- (each part optional; the built-in template fills the rest), NULL for the built-in one.
ALTER TABLE alert_groups ADD COLUMN template TEXT;
