-- Zones are per town (issue 17): each zone belongs to one town, its id
-- (0..15, its bit in presence.zones) and its name are unique within the
-- town, so that every town of a deployment has up to 16 zones of its own,
-- named as it likes. A record's zone mask (presence.zones, and the
-- rollup's) has bit z set for zone z of the record's own town.
--
-- `flowtiles areas import --kind zones FILE --town CODE` replaces one
-- town's zones and recomputes the masks of that town's records only.
-- Removing a town removes its zones (ON DELETE CASCADE; a town with
-- records cannot be removed, 00007).
--
-- The zones of a database from before become town 0's, the town 00006 made
-- of it. A database whose town 0 was removed gives them to its first town
-- (the lowest id). Their ids do not change, so the masks of that town's
-- records stay as they are; the records of the other towns (a database
-- that served several towns before zones were per town) lose their zone
-- bits, which named zones now of another town: import each town's zones
-- (`flowtiles areas import --kind zones FILE --town CODE`) to set them.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM zone) AND NOT EXISTS (SELECT 1 FROM town) THEN
        RAISE EXCEPTION 'the database has zones and no town: add a town first (flowtiles towns add)';
    END IF;
END
$$;
-- +goose StatementEnd
ALTER TABLE zone ADD COLUMN town smallint;
UPDATE zone SET town = coalesce((SELECT id FROM town WHERE id = 0), (SELECT min(id) FROM town));
ALTER TABLE zone ALTER COLUMN town SET DEFAULT 0;
ALTER TABLE zone ALTER COLUMN town SET NOT NULL;
ALTER TABLE zone ADD CONSTRAINT zone_town_fkey FOREIGN KEY (town) REFERENCES town (id) ON DELETE CASCADE;
ALTER TABLE zone DROP CONSTRAINT zone_pkey;
ALTER TABLE zone DROP CONSTRAINT zone_name_key;
ALTER TABLE zone ADD CONSTRAINT zone_pkey PRIMARY KEY (town, id);
ALTER TABLE zone ADD CONSTRAINT zone_town_name_key UNIQUE (town, name);
-- (the rollup's update trigger recomputes the hours of the records changed)
UPDATE presence SET zones = 0
WHERE zones <> 0 AND town IS DISTINCT FROM (SELECT min(town) FROM zone) AND EXISTS (SELECT 1 FROM town WHERE id <> 0);

-- +goose Down
-- One global set of zones again: possible only while at most one town has
-- zones (a zone import per town does not mix them otherwise).
-- +goose StatementBegin
DO $$
BEGIN
    IF (SELECT count(DISTINCT town) FROM zone) > 1 THEN
        RAISE EXCEPTION 'zones of % towns: the schema before 00008 holds one set of zones; delete all but one town''s zones first',
            (SELECT count(DISTINCT town) FROM zone);
    END IF;
END
$$;
-- +goose StatementEnd
ALTER TABLE zone DROP CONSTRAINT zone_town_name_key;
ALTER TABLE zone DROP CONSTRAINT zone_pkey;
ALTER TABLE zone DROP CONSTRAINT zone_town_fkey;
ALTER TABLE zone DROP COLUMN town;
ALTER TABLE zone ADD CONSTRAINT zone_pkey PRIMARY KEY (id);
ALTER TABLE zone ADD CONSTRAINT zone_name_key UNIQUE (name);
