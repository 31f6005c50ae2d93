-- Objects declared in a provisioning file (`alert-server provision`, `serve --provision`) are
-- marked: the API refuses to change them, and only a provisioning run updates or removes them.
ALTER TABLE alert_instances ADD COLUMN provisioned BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE alert_groups ADD COLUMN provisioned BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE bindings ADD COLUMN provisioned BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clusters ADD COLUMN provisioned BOOLEAN NOT NULL DEFAULT FALSE;
