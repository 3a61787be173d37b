-- A zone's name on maps and lists, per language (issue 17): `label` is its
-- name in the town's language, `labels` its names in others ({"en": ...}),
-- from the zone file's "label" and "label:LANG" properties. Without them a
-- zone is shown by its name (its code in URLs: zone=NAME).

-- +goose Up
ALTER TABLE zone ADD COLUMN label text CHECK (label <> ''),
                 ADD COLUMN labels jsonb NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE zone DROP COLUMN labels, DROP COLUMN label;
