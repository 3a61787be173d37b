-- presence is partitioned by town, then by UTC month (issue 17): a town's
-- records are a partition of their own (presence_t<town id>, LIST on
-- town), itself partitioned by month (presence_t<id>_y<YYYY>m<MM>, RANGE on
-- observed_at). A statement that names its town (every store's and the
-- mirror's: `town = $1`, `town = ANY($1)`) reads that town's partitions
-- only: a server group of one town of fifty starts from its town's rows, not
-- from a scan of every town's. The same split is the distribution by town
-- of docs/SCALING.md (Citus).
--
-- presence_ensure_partition(town, ts) creates the town's partition, if
-- absent, and its month's; a town that does not exist is refused with
-- SQLSTATE 23503, as the rows' check (00007) refuses them. Removing a town
-- (which 00007 allows only without records) drops its empty partitions.
--
-- An existing database keeps its rows: a month partition holding a single
-- town's records (every month of a database of one town) is detached and
-- attached under its town, its indexes with it (nothing is copied or
-- rebuilt; attaching reads it once to check it); a month holding several
-- towns' records is copied into the towns' partitions. The rollup is not
-- touched (its rows are the same records').

-- +goose Up
ALTER TABLE presence RENAME TO presence_by_month;
ALTER INDEX presence_time RENAME TO presence_by_month_time;
ALTER INDEX presence_cell RENAME TO presence_by_month_cell;

CREATE TABLE presence (LIKE presence_by_month INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS INCLUDING STORAGE)
    PARTITION BY LIST (town);
CREATE INDEX presence_time ON presence USING brin (observed_at);
CREATE INDEX presence_cell ON presence (((wy >> 16) * 65536 + (wx >> 16)));

DROP FUNCTION presence_ensure_partition(timestamptz);

-- presence_ensure_town_partition creates the town's partition, if absent,
-- and returns its name; a town that does not exist is refused (23503).
-- +goose StatementBegin
CREATE FUNCTION presence_ensure_town_partition(t smallint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    name text := format('presence_t%s', t);
BEGIN
    IF to_regclass(name) IS NULL THEN
        -- (class, object) form: a key space of its own, apart from
        -- single-bigint advisory locks such as the migrations'
        PERFORM pg_advisory_xact_lock(1718187105, 1);
        IF NOT EXISTS (SELECT 1 FROM town WHERE id = t) THEN
            RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
                MESSAGE = format('presence: town %s does not exist', t);
        END IF;
        EXECUTE format(
            'CREATE TABLE IF NOT EXISTS %I PARTITION OF presence FOR VALUES IN (%s) PARTITION BY RANGE (observed_at)',
            name, t);
    END IF;
    RETURN name;
END
$$;
-- +goose StatementEnd

-- presence_ensure_partition creates the month partition of town t holding
-- ts (and the town's partition), if absent, and returns its name. Creations
-- are serialised by a transaction advisory lock (call it in a transaction of
-- its own: see 00004).
-- +goose StatementBegin
CREATE FUNCTION presence_ensure_partition(t smallint, ts timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    m     timestamp := date_trunc('month', ts AT TIME ZONE 'UTC');
    name  text := format('presence_t%s_y%sm%s', t, to_char(m, 'YYYY'), to_char(m, 'MM'));
BEGIN
    IF to_regclass(name) IS NULL THEN
        PERFORM pg_advisory_xact_lock(1718187105, 1);
        EXECUTE format(
            'CREATE TABLE IF NOT EXISTS %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
            name, presence_ensure_town_partition(t), (m AT TIME ZONE 'UTC'), ((m + interval '1 month') AT TIME ZONE 'UTC'));
    END IF;
    RETURN name;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
DO $$
DECLARE
    parts regclass[] := ARRAY(SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'presence_by_month'::regclass);
    part  regclass;
    towns smallint[];
    first timestamptz;
    m     timestamp;
    name  text;
BEGIN
    FOREACH part IN ARRAY parts LOOP
        EXECUTE format('SELECT array_agg(DISTINCT town), min(observed_at) FROM %s', part) INTO towns, first;
        CONTINUE WHEN first IS NULL; -- empty: dropped with the old table
        IF cardinality(towns) > 1 THEN
            FOR i IN 1 .. cardinality(towns) LOOP
                PERFORM presence_ensure_partition(towns[i], first);
            END LOOP;
            EXECUTE format('INSERT INTO presence SELECT * FROM %s', part);
            CONTINUE;
        END IF;
        m := date_trunc('month', first AT TIME ZONE 'UTC');
        name := format('presence_t%s_y%sm%s', towns[1], to_char(m, 'YYYY'), to_char(m, 'MM'));
        EXECUTE format('ALTER TABLE presence_by_month DETACH PARTITION %s', part);
        EXECUTE format('ALTER TABLE %s RENAME TO %I', part, name);
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
            presence_ensure_town_partition(towns[1]), name, (m AT TIME ZONE 'UTC'), ((m + interval '1 month') AT TIME ZONE 'UTC'));
    END LOOP;
END
$$;
-- +goose StatementEnd

-- the old parent, with its triggers and the months copied
DROP TABLE presence_by_month;

CREATE TRIGGER presence_rollup_insert AFTER INSERT ON presence
    REFERENCING NEW TABLE AS presence_rollup_new
    FOR EACH STATEMENT EXECUTE FUNCTION presence_rollup_insert();
CREATE TRIGGER presence_rollup_update AFTER UPDATE ON presence
    REFERENCING OLD TABLE AS presence_rollup_old NEW TABLE AS presence_rollup_new
    FOR EACH STATEMENT EXECUTE FUNCTION presence_rollup_update();
CREATE TRIGGER presence_rollup_delete AFTER DELETE ON presence
    REFERENCING OLD TABLE AS presence_rollup_old
    FOR EACH STATEMENT EXECUTE FUNCTION presence_rollup_delete();
CREATE TRIGGER presence_rollup_truncate AFTER TRUNCATE ON presence
    FOR EACH STATEMENT EXECUTE FUNCTION presence_rollup_truncate();
CREATE TRIGGER presence_town_insert AFTER INSERT ON presence
    REFERENCING NEW TABLE AS presence_town_new
    FOR EACH STATEMENT EXECUTE FUNCTION presence_town_check();
CREATE TRIGGER presence_town_update AFTER UPDATE ON presence
    REFERENCING NEW TABLE AS presence_town_new
    FOR EACH STATEMENT EXECUTE FUNCTION presence_town_check();

-- a town removed (without records: 00007) takes its empty partitions
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION town_records_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    gone smallint;
BEGIN
    SELECT o.id INTO gone FROM town_old o WHERE EXISTS (SELECT 1 FROM presence p WHERE p.town = o.id) LIMIT 1;
    IF gone IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
            MESSAGE = format('town %s has records in presence', gone);
    END IF;
    FOR gone IN SELECT o.id FROM town_old o LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I', format('presence_t%s', gone));
    END LOOP;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

ANALYZE presence;

-- +goose Down
-- back to months alone: every record is copied into its month
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION town_records_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    gone smallint;
BEGIN
    SELECT o.id INTO gone FROM town_old o WHERE EXISTS (SELECT 1 FROM presence p WHERE p.town = o.id) LIMIT 1;
    IF gone IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
            MESSAGE = format('town %s has records in presence', gone);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

ALTER TABLE presence RENAME TO presence_by_town;
ALTER INDEX presence_time RENAME TO presence_by_town_time;
ALTER INDEX presence_cell RENAME TO presence_by_town_cell;
CREATE TABLE presence (LIKE presence_by_town INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS INCLUDING STORAGE)
    PARTITION BY RANGE (observed_at);
CREATE INDEX presence_time ON presence USING brin (observed_at);
CREATE INDEX presence_cell ON presence (((wy >> 16) * 65536 + (wx >> 16)));

DROP FUNCTION presence_ensure_partition(smallint, timestamptz);
DROP FUNCTION presence_ensure_town_partition(smallint);
-- +goose StatementBegin
CREATE FUNCTION presence_ensure_partition(ts timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    m    timestamp := date_trunc('month', ts AT TIME ZONE 'UTC');
    name text := format('presence_y%sm%s', to_char(m, 'YYYY'), to_char(m, 'MM'));
BEGIN
    IF to_regclass(name) IS NULL THEN
        -- (class, object) form: a key space of its own, apart from
        -- single-bigint advisory locks such as the migrations'
        PERFORM pg_advisory_xact_lock(1718187105, 1);
        EXECUTE format(
            'CREATE TABLE IF NOT EXISTS %I PARTITION OF presence FOR VALUES FROM (%L) TO (%L)',
            name, (m AT TIME ZONE 'UTC'), ((m + interval '1 month') AT TIME ZONE 'UTC'));
    END IF;
    RETURN name;
END
$$;
-- +goose StatementEnd

SELECT presence_ensure_partition(m) FROM (SELECT DISTINCT date_trunc('month', observed_at, 'UTC') AS m FROM presence_by_town) ms;
INSERT INTO presence SELECT * FROM presence_by_town;
DROP TABLE presence_by_town;

CREATE TRIGGER presence_rollup_insert AFTER INSERT ON presence
    REFERENCING NEW TABLE AS presence_rollup_new
    FOR EACH STATEMENT EXECUTE FUNCTION presence_rollup_insert();
CREATE TRIGGER presence_rollup_update AFTER UPDATE ON presence
    REFERENCING OLD TABLE AS presence_rollup_old NEW TABLE AS presence_rollup_new
    FOR EACH STATEMENT EXECUTE FUNCTION presence_rollup_update();
CREATE TRIGGER presence_rollup_delete AFTER DELETE ON presence
    REFERENCING OLD TABLE AS presence_rollup_old
    FOR EACH STATEMENT EXECUTE FUNCTION presence_rollup_delete();
CREATE TRIGGER presence_rollup_truncate AFTER TRUNCATE ON presence
    FOR EACH STATEMENT EXECUTE FUNCTION presence_rollup_truncate();
CREATE TRIGGER presence_town_insert AFTER INSERT ON presence
    REFERENCING NEW TABLE AS presence_town_new
    FOR EACH STATEMENT EXECUTE FUNCTION presence_town_check();
CREATE TRIGGER presence_town_update AFTER UPDATE ON presence
    REFERENCING NEW TABLE AS presence_town_new
    FOR EACH STATEMENT EXECUTE FUNCTION presence_town_check();
ANALYZE presence;
