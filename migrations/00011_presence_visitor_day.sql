-- presence_visitor_day: presence records summed per town, zone, local day
-- (in the town's time zone, town.time_zone), visitor and attribute
-- combination, so that the statements of a stats report about a zone or a
-- whole town (the total, the rows by origin, nationality or another
-- attribute, the visits, the visitors by hour) read one row per visitor and
-- day instead of one per visitor, hour and cell (issue 14: the rollup's
-- 1.7 M rows for six months at 3 M records against 0.45 M here for a zone).
--
-- A record is counted in the row of each zone it lies in (zone = the zone's
-- bit index, 0 to 15) and in the town's row (zone = -1), so that a query
-- about one zone, or about the whole town, reads only that zone's rows.
-- Columns:
--   town, zone, day (the local date of the records), visitor, age_band,
--   gender, nationality, origin_code, spend_class: the key;
--   weight       the sum of the records' weights;
--   rkey         the sum of the records' keys, each taken unsigned
--                (rkey & 4294967295), as in presence_rollup;
--   first_at, last_at  the first and last observed_at of the records;
--   hours        the local hours (bit h: a record at local hour h).
--
-- As presence_rollup (00005), rows are appended per statement (two rows
-- may share a key; readers sum them) by statement triggers on presence in
-- the same transaction:
--   INSERT (COPY too): the new records' rows are appended;
--   UPDATE, DELETE: the rows of every (town, local day) touched are
--     recomputed from presence;
--   TRUNCATE of presence empties it;
--   a town's time zone changed: the town's rows are recomputed.
-- Writes that bypass the parent table (a statement on one partition, a
-- dropped or detached partition) do not reach it: call
-- presence_visitor_day_refresh(from, to) after them.

-- +goose Up
CREATE TABLE presence_visitor_day (
    town         smallint NOT NULL,
    zone         smallint NOT NULL,
    day          date NOT NULL,
    visitor      bigint,
    age_band     text,
    gender       text,
    nationality  char(2),
    origin_code  char(6),
    spend_class  text,
    weight       bigint NOT NULL,
    rkey         bigint NOT NULL,
    first_at     timestamptz NOT NULL,
    last_at      timestamptz NOT NULL,
    hours        integer NOT NULL
);
CREATE INDEX presence_visitor_day_key ON presence_visitor_day (town, zone, day);

-- presence_zone_hour: the records summed per town, zone (as above: -1 for
-- the town) and UTC hour, apart for records with and without a visitor:
-- the presences of a report's rows by local hour, weekday or date, which
-- need no visitors (those come from presence_visitor_day's hours). Kept
-- with presence_visitor_day, by the same triggers.
CREATE TABLE presence_zone_hour (
    town         smallint NOT NULL,
    zone         smallint NOT NULL,
    observed_at  timestamptz NOT NULL,
    anonymous    boolean NOT NULL,
    weight       bigint NOT NULL,
    rkey         bigint NOT NULL
);
CREATE INDEX presence_zone_hour_key ON presence_zone_hour (town, zone, observed_at);

-- presence_visitor_day_of is the text of the rows of a relation of presence
-- records (%s: its name, aliased p), for the triggers and refreshes.
-- +goose StatementBegin
CREATE FUNCTION presence_visitor_day_of(rel text, cond text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    -- summed per zone mask first, then counted in each of its zones (the
    -- masks of a visitor's day are few: this expands fewer rows)
    SELECT format($f$
    SELECT g.town, z.z, g.day, g.visitor, g.age_band, g.gender, g.nationality, g.origin_code, g.spend_class,
           sum(g.weight), sum(g.rkey), min(g.first_at), max(g.last_at), bit_or(g.hours)
    FROM (SELECT p.town, (p.observed_at AT TIME ZONE t.time_zone)::date AS day, p.visitor,
            p.age_band, p.gender, p.nationality, p.origin_code, p.spend_class, p.zones,
            sum(p.weight) AS weight, sum(p.rkey::bigint & 4294967295) AS rkey, min(p.observed_at) AS first_at,
            max(p.observed_at) AS last_at, bit_or(1 << extract(hour FROM p.observed_at AT TIME ZONE t.time_zone)::int) AS hours
        FROM %s p
        JOIN town t ON t.id = p.town
        WHERE %s
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9) g
    CROSS JOIN LATERAL (SELECT -1 AS z UNION ALL
        SELECT b FROM generate_series(0, 15) b WHERE g.zones & (1 << b) <> 0) z
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
    ORDER BY 1, 2, 3$f$, rel, cond)
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION presence_zone_hour_of(rel text, cond text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT format($f$
    SELECT g.town, z.z, g.hour, g.anonymous, sum(g.weight), sum(g.rkey)
    FROM (SELECT p.town, date_trunc('hour', p.observed_at, 'UTC') AS hour, p.visitor IS NULL AS anonymous, p.zones,
            sum(p.weight) AS weight, sum(p.rkey::bigint & 4294967295) AS rkey
        FROM %s p
        WHERE %s
        GROUP BY 1, 2, 3, 4) g
    CROSS JOIN LATERAL (SELECT -1 AS z UNION ALL
        SELECT b FROM generate_series(0, 15) b WHERE g.zones & (1 << b) <> 0) z
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3$f$, rel, cond)
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION presence_visitor_day_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE 'INSERT INTO presence_visitor_day ' || presence_visitor_day_of('presence_visitor_day_new', 'true');
    EXECUTE 'INSERT INTO presence_zone_hour ' || presence_zone_hour_of('presence_visitor_day_new', 'true');
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- presence_visitor_day_days recomputes the rows of the given towns' local
-- days (towns[i], days[i]) from presence. The lock waits for loads that
-- have appended rows and not yet committed (and keeps new ones out until
-- this transaction ends), as presence_rollup_hours.
-- +goose StatementBegin
CREATE FUNCTION presence_visitor_day_days(towns smallint[], days date[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE presence_visitor_day IN SHARE ROW EXCLUSIVE MODE;
    LOCK TABLE presence_zone_hour IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM presence_visitor_day d USING unnest(towns, days) AS k(t, d)
        WHERE d.town = k.t AND d.day = k.d;
    -- the UTC hours that overlap those days, whole
    DELETE FROM presence_zone_hour h USING unnest(towns, days) AS k(t, d), town t
        WHERE t.id = k.t AND h.town = k.t
            AND h.observed_at >= date_trunc('hour', (k.d::timestamp AT TIME ZONE t.time_zone), 'UTC')
            AND h.observed_at < ((k.d + 1)::timestamp AT TIME ZONE t.time_zone);
    EXECUTE 'INSERT INTO presence_zone_hour ' || presence_zone_hour_of(
        '(SELECT DISTINCT ON (p.tableoid, p.ctid) p.* FROM presence p JOIN town t ON t.id = p.town JOIN (SELECT DISTINCT * FROM unnest($1, $2)) AS k(t, d) ON p.town = k.t
            AND p.observed_at >= date_trunc(''hour'', (k.d::timestamp AT TIME ZONE t.time_zone), ''UTC'')
            AND p.observed_at < date_trunc(''hour'', ((k.d + 1)::timestamp AT TIME ZONE t.time_zone) - interval ''1 microsecond'', ''UTC'') + interval ''1 hour'')', 'true')
        USING towns, days;
    -- the records of those days: a range of two days around each (for the
    -- partitions and the index), then the day itself
    EXECUTE 'INSERT INTO presence_visitor_day ' || presence_visitor_day_of(
        '(SELECT p.* FROM presence p JOIN town t ON t.id = p.town JOIN (SELECT DISTINCT * FROM unnest($1, $2)) AS k(t, d) ON p.town = k.t
            AND p.observed_at >= ((k.d - 1)::timestamp AT TIME ZONE t.time_zone)
            AND p.observed_at < ((k.d + 2)::timestamp AT TIME ZONE t.time_zone)
            AND (p.observed_at AT TIME ZONE t.time_zone)::date = k.d)', 'true')
        USING towns, days;
END
$$;
-- +goose StatementEnd

-- presence_visitor_day_refresh recomputes the rows of the records from
-- `from` to `to` (both included; NULL: unbounded), whole local days of every
-- town, for writes that bypassed the triggers. It returns the number of rows
-- of those days.
-- +goose StatementBegin
CREATE FUNCTION presence_visitor_day_refresh(from_t timestamptz, to_t timestamptz) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    lo timestamptz := from_t;
    hi timestamptz := to_t;
    n  bigint;
BEGIN
    IF from_t IS NULL AND to_t IS NULL THEN
        LOCK TABLE presence_visitor_day IN SHARE ROW EXCLUSIVE MODE;
        LOCK TABLE presence_zone_hour IN SHARE ROW EXCLUSIVE MODE;
        DELETE FROM presence_visitor_day;
        DELETE FROM presence_zone_hour;
        EXECUTE 'INSERT INTO presence_visitor_day ' || presence_visitor_day_of('presence', 'true');
        GET DIAGNOSTICS n = ROW_COUNT;
        EXECUTE 'INSERT INTO presence_zone_hour ' || presence_zone_hour_of('presence', 'true');
        RETURN n;
    END IF;
    IF lo IS NULL THEN
        lo := least((SELECT min(observed_at) FROM presence), (SELECT min(first_at) FROM presence_visitor_day));
    END IF;
    IF hi IS NULL THEN
        hi := greatest((SELECT max(observed_at) FROM presence), (SELECT max(last_at) FROM presence_visitor_day));
    END IF;
    IF lo IS NULL OR hi IS NULL OR lo > hi THEN
        RETURN 0;
    END IF;
    -- every town's local days from lo's to hi's
    PERFORM presence_visitor_day_days(array_agg(k.t), array_agg(k.d)) FROM (
        SELECT t.id AS t, g.d::date AS d FROM town t CROSS JOIN LATERAL generate_series(
            (lo AT TIME ZONE t.time_zone)::date::timestamp, (hi AT TIME ZONE t.time_zone)::date::timestamp, interval '1 day') AS g(d)) k;
    SELECT count(*) INTO n FROM presence_visitor_day d JOIN town t ON t.id = d.town
        WHERE d.day BETWEEN (lo AT TIME ZONE t.time_zone)::date AND (hi AT TIME ZONE t.time_zone)::date;
    RETURN n;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION presence_visitor_day_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM presence_visitor_day_days(array_agg(k.t), array_agg(k.d)) FROM (
        SELECT o.town AS t, (o.observed_at AT TIME ZONE t.time_zone)::date AS d
        FROM presence_visitor_day_old o JOIN town t ON t.id = o.town
        UNION SELECT n.town, (n.observed_at AT TIME ZONE t.time_zone)::date
        FROM presence_visitor_day_new n JOIN town t ON t.id = n.town) k;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION presence_visitor_day_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM presence_visitor_day_days(array_agg(k.t), array_agg(k.d)) FROM (
        SELECT DISTINCT o.town AS t, (o.observed_at AT TIME ZONE t.time_zone)::date AS d
        FROM presence_visitor_day_old o JOIN town t ON t.id = o.town) k;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION presence_visitor_day_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE presence_visitor_day, presence_zone_hour;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- a town's days are its time zone's: a new zone recomputes its rows
-- +goose StatementBegin
CREATE FUNCTION presence_visitor_day_town() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE presence_visitor_day IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM presence_visitor_day WHERE town = NEW.id;
    EXECUTE 'INSERT INTO presence_visitor_day ' || presence_visitor_day_of('presence', 'p.town = $1') USING NEW.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER presence_visitor_day_insert AFTER INSERT ON presence
    REFERENCING NEW TABLE AS presence_visitor_day_new
    FOR EACH STATEMENT EXECUTE FUNCTION presence_visitor_day_insert();
CREATE TRIGGER presence_visitor_day_update AFTER UPDATE ON presence
    REFERENCING OLD TABLE AS presence_visitor_day_old NEW TABLE AS presence_visitor_day_new
    FOR EACH STATEMENT EXECUTE FUNCTION presence_visitor_day_update();
CREATE TRIGGER presence_visitor_day_delete AFTER DELETE ON presence
    REFERENCING OLD TABLE AS presence_visitor_day_old
    FOR EACH STATEMENT EXECUTE FUNCTION presence_visitor_day_delete();
CREATE TRIGGER presence_visitor_day_truncate AFTER TRUNCATE ON presence
    FOR EACH STATEMENT EXECUTE FUNCTION presence_visitor_day_truncate();
CREATE TRIGGER presence_visitor_day_town AFTER UPDATE OF time_zone ON town
    FOR EACH ROW WHEN (OLD.time_zone IS DISTINCT FROM NEW.time_zone)
    EXECUTE FUNCTION presence_visitor_day_town();

-- the records already loaded
SELECT presence_visitor_day_refresh(NULL, NULL);
ANALYZE presence_visitor_day;
ANALYZE presence_zone_hour;

-- +goose Down
DROP TRIGGER presence_visitor_day_town ON town;
DROP TRIGGER presence_visitor_day_truncate ON presence;
DROP TRIGGER presence_visitor_day_delete ON presence;
DROP TRIGGER presence_visitor_day_update ON presence;
DROP TRIGGER presence_visitor_day_insert ON presence;
DROP FUNCTION presence_visitor_day_town();
DROP FUNCTION presence_visitor_day_truncate();
DROP FUNCTION presence_visitor_day_delete();
DROP FUNCTION presence_visitor_day_update();
DROP FUNCTION presence_visitor_day_refresh(timestamptz, timestamptz);
DROP FUNCTION presence_visitor_day_days(smallint[], date[]);
DROP FUNCTION presence_visitor_day_insert();
DROP FUNCTION presence_zone_hour_of(text, text);
DROP FUNCTION presence_visitor_day_of(text, text);
DROP TABLE presence_zone_hour;
DROP TABLE presence_visitor_day;
