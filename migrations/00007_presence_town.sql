-- The stores tell towns apart (issue 17): every presence record, and every
-- row of its rollup, belongs to one town (town.id), the town whose
-- perimeter it lies in (set at ingest: presence.Validator.Place). The
-- records of a database from before towns become town 0, the town 00006
-- made of it.
--
-- presence_rollup keys its rows by town first: its triggers group by the
-- town, and its index leads with the town, so that one town's hours are
-- read without the others'. The trigger functions name their columns
-- (the town is the rollup's last column).
--
-- Neither table has a primary or unique key (presence is append-only,
-- the rollup appends and sums), so no key gains the town; the presence
-- cell index does not either: towns' cells are apart but for the border
-- cells, and the town is checked on the rows the cells select.
--
-- presence.town references town.id as a foreign key would, but checked per
-- statement, not per row: a declared foreign key runs a lookup and a row
-- lock for every record, which made a load of 300,000 records 1.5 to 1.9
-- times as long (with the rollup's triggers; the rows of a load name a
-- town or two). So:
--   - an INSERT (COPY) or UPDATE of presence locks the towns its rows name
--     (FOR KEY SHARE, until it commits) and fails with SQLSTATE 23503 if
--     one does not exist;
--   - a DELETE of towns that have records fails with 23503 (`flowtiles
--     towns remove` says how many first).

-- +goose Up
ALTER TABLE presence ADD COLUMN town smallint NOT NULL DEFAULT 0;

-- +goose StatementBegin
CREATE FUNCTION presence_town_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    towns   smallint[] := ARRAY(SELECT DISTINCT n.town FROM presence_town_new n);
    missing smallint;
BEGIN
    -- kept until this transaction ends: a town being removed waits for
    -- it, and then finds its records
    PERFORM 1 FROM town WHERE id = ANY(towns) FOR KEY SHARE;
    SELECT u.t INTO missing FROM unnest(towns) AS u(t) WHERE NOT EXISTS (SELECT 1 FROM town WHERE id = u.t) LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
            MESSAGE = format('presence: town %s does not exist', missing);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION town_records_check() RETURNS trigger
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

CREATE TRIGGER presence_town_insert AFTER INSERT ON presence
    REFERENCING NEW TABLE AS presence_town_new
    FOR EACH STATEMENT EXECUTE FUNCTION presence_town_check();
CREATE TRIGGER presence_town_update AFTER UPDATE ON presence
    REFERENCING NEW TABLE AS presence_town_new
    FOR EACH STATEMENT EXECUTE FUNCTION presence_town_check();
CREATE TRIGGER town_records AFTER DELETE ON town
    REFERENCING OLD TABLE AS town_old
    FOR EACH STATEMENT EXECUTE FUNCTION town_records_check();

ALTER TABLE presence_rollup ADD COLUMN town smallint NOT NULL DEFAULT 0;
DROP INDEX presence_rollup_time;
CREATE INDEX presence_rollup_town_time ON presence_rollup (town, observed_at);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION presence_rollup_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO presence_rollup (town, observed_at, wx, wy, zones, visitor, age_band, gender, nationality,
        origin_code, spend_class, weight, rkey, first_at, last_at)
    SELECT n.town, date_trunc('hour', n.observed_at, 'UTC'), (n.wx >> 16) << 16, (n.wy >> 16) << 16, n.zones, n.visitor,
           n.age_band, n.gender, n.nationality, n.origin_code, n.spend_class,
           sum(n.weight), sum(n.rkey::bigint & 4294967295), min(n.observed_at), max(n.observed_at)
    FROM presence_rollup_new n
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
    ORDER BY 1, 2;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- presence_rollup_hours recomputes the rows of the given UTC hours, of
-- every town, from presence (see 00005).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION presence_rollup_hours(hours timestamptz[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE presence_rollup IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM presence_rollup WHERE observed_at = ANY(hours);
    INSERT INTO presence_rollup (town, observed_at, wx, wy, zones, visitor, age_band, gender, nationality,
        origin_code, spend_class, weight, rkey, first_at, last_at)
    SELECT p.town, date_trunc('hour', p.observed_at, 'UTC'), (p.wx >> 16) << 16, (p.wy >> 16) << 16, p.zones, p.visitor,
           p.age_band, p.gender, p.nationality, p.origin_code, p.spend_class,
           sum(p.weight), sum(p.rkey::bigint & 4294967295), min(p.observed_at), max(p.observed_at)
    FROM presence p
    JOIN unnest(hours) AS h(t) ON p.observed_at >= h.t AND p.observed_at < h.t + interval '1 hour'
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
    ORDER BY 1, 2;
END
$$;
-- +goose StatementEnd

-- presence_rollup_refresh recomputes the rows of every town in the hours
-- from `from` to `to` (see 00005).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION presence_rollup_refresh(from_t timestamptz, to_t timestamptz) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    lo timestamptz := date_trunc('hour', from_t, 'UTC');
    hi timestamptz := date_trunc('hour', to_t, 'UTC') + interval '1 hour';
    n  bigint;
BEGIN
    LOCK TABLE presence_rollup IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM presence_rollup WHERE (lo IS NULL OR observed_at >= lo) AND (hi IS NULL OR observed_at < hi);
    INSERT INTO presence_rollup (town, observed_at, wx, wy, zones, visitor, age_band, gender, nationality,
        origin_code, spend_class, weight, rkey, first_at, last_at)
    SELECT p.town, date_trunc('hour', p.observed_at, 'UTC'), (p.wx >> 16) << 16, (p.wy >> 16) << 16, p.zones, p.visitor,
           p.age_band, p.gender, p.nationality, p.origin_code, p.spend_class,
           sum(p.weight), sum(p.rkey::bigint & 4294967295), min(p.observed_at), max(p.observed_at)
    FROM presence p
    WHERE (lo IS NULL OR p.observed_at >= lo) AND (hi IS NULL OR p.observed_at < hi)
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
    ORDER BY 1, 2;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
-- +goose StatementEnd

ANALYZE presence_rollup;

-- +goose Down
-- the functions of 00005, then the columns (every town's records become
-- one town's again)
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION presence_rollup_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO presence_rollup
    SELECT date_trunc('hour', n.observed_at, 'UTC'), (n.wx >> 16) << 16, (n.wy >> 16) << 16, n.zones, n.visitor,
           n.age_band, n.gender, n.nationality, n.origin_code, n.spend_class,
           sum(n.weight), sum(n.rkey::bigint & 4294967295), min(n.observed_at), max(n.observed_at)
    FROM presence_rollup_new n
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
    ORDER BY 1;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION presence_rollup_hours(hours timestamptz[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE presence_rollup IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM presence_rollup WHERE observed_at = ANY(hours);
    INSERT INTO presence_rollup
    SELECT date_trunc('hour', p.observed_at, 'UTC'), (p.wx >> 16) << 16, (p.wy >> 16) << 16, p.zones, p.visitor,
           p.age_band, p.gender, p.nationality, p.origin_code, p.spend_class,
           sum(p.weight), sum(p.rkey::bigint & 4294967295), min(p.observed_at), max(p.observed_at)
    FROM presence p
    JOIN unnest(hours) AS h(t) ON p.observed_at >= h.t AND p.observed_at < h.t + interval '1 hour'
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
    ORDER BY 1;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION presence_rollup_refresh(from_t timestamptz, to_t timestamptz) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    lo timestamptz := date_trunc('hour', from_t, 'UTC');
    hi timestamptz := date_trunc('hour', to_t, 'UTC') + interval '1 hour';
    n  bigint;
BEGIN
    LOCK TABLE presence_rollup IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM presence_rollup WHERE (lo IS NULL OR observed_at >= lo) AND (hi IS NULL OR observed_at < hi);
    INSERT INTO presence_rollup
    SELECT date_trunc('hour', p.observed_at, 'UTC'), (p.wx >> 16) << 16, (p.wy >> 16) << 16, p.zones, p.visitor,
           p.age_band, p.gender, p.nationality, p.origin_code, p.spend_class,
           sum(p.weight), sum(p.rkey::bigint & 4294967295), min(p.observed_at), max(p.observed_at)
    FROM presence p
    WHERE (lo IS NULL OR p.observed_at >= lo) AND (hi IS NULL OR p.observed_at < hi)
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
    ORDER BY 1;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
-- +goose StatementEnd

DROP INDEX presence_rollup_town_time;
ALTER TABLE presence_rollup DROP COLUMN town;
CREATE INDEX presence_rollup_time ON presence_rollup (observed_at);
DROP TRIGGER town_records ON town;
DROP TRIGGER presence_town_update ON presence;
DROP TRIGGER presence_town_insert ON presence;
DROP FUNCTION town_records_check();
DROP FUNCTION presence_town_check();
ALTER TABLE presence DROP COLUMN town;
