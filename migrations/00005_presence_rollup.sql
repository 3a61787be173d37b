-- presence_rollup: presence records summed per UTC hour, z16 cell, zone
-- mask, visitor and attribute combination, so that a long window reads
-- hours, not records (pgstore answers from it the queries it can answer
-- exactly: whole hours, areas made of whole cells, no hexagon bins).
--
-- A row has the columns of presence that queries read, under the same
-- names and types, so that one query text serves both tables:
--   observed_at  the start of the UTC hour;
--   wx, wy       the cell's corner: (wx >> 16) << 16, (wy >> 16) << 16;
--   zones, visitor and the attributes as in presence;
--   weight       the sum of the records' weights;
--   rkey         the sum of the records' keys, each taken unsigned
--                (rkey & 4294967295): the low 32 bits are the sum mod 2^32;
--   first_at, last_at  the first and last observed_at of the records.
-- Distinct visitors stay exact: a visitor keeps a row of its own in every
-- hour and place, so a query counts it once however many hours it spans.
--
-- Rows are only appended per statement: two rows may share a key (a later
-- batch in the same hour), and every reader sums them. The table follows
-- presence in the same transaction, whoever writes it, through statement
-- triggers with transition tables:
--   INSERT (COPY too): the new records' rows are appended;
--   UPDATE, DELETE: the rows of every hour touched are recomputed from
--     presence (areas import recomputes zone masks with an UPDATE);
--   TRUNCATE of presence empties it.
-- Writes that bypass the parent table (a statement on one partition, a
-- dropped or detached partition) do not reach it: call
-- presence_rollup_refresh(from, to) after them.

-- +goose Up
CREATE TABLE presence_rollup (
    observed_at  timestamptz NOT NULL,
    wx           bigint NOT NULL,
    wy           bigint NOT NULL,
    zones        integer NOT NULL,
    visitor      bigint,
    age_band     text,
    gender       text,
    nationality  char(2),
    origin_code  char(6),
    spend_class  text,
    weight       bigint NOT NULL,
    rkey         bigint NOT NULL,
    first_at     timestamptz NOT NULL,
    last_at      timestamptz NOT NULL
);
CREATE INDEX presence_rollup_time ON presence_rollup (observed_at);

-- +goose StatementBegin
CREATE FUNCTION presence_rollup_insert() RETURNS trigger
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

-- presence_rollup_hours recomputes the rows of the given UTC hours from
-- presence. The lock waits for loads that have appended rows and not yet
-- committed (and keeps new ones out until this transaction ends), so that
-- no load's rows are both kept and recomputed.
-- +goose StatementBegin
CREATE FUNCTION presence_rollup_hours(hours timestamptz[]) RETURNS void
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

-- presence_rollup_refresh recomputes the rows of the hours from `from` to
-- `to` (both included; NULL: unbounded), for writes that bypassed the
-- triggers. It returns the number of rows written.
-- +goose StatementBegin
CREATE FUNCTION presence_rollup_refresh(from_t timestamptz, to_t timestamptz) RETURNS bigint
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

-- +goose StatementBegin
CREATE FUNCTION presence_rollup_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM presence_rollup_hours(ARRAY(
        SELECT date_trunc('hour', o.observed_at, 'UTC') FROM presence_rollup_old o
        UNION SELECT date_trunc('hour', n.observed_at, 'UTC') FROM presence_rollup_new n));
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION presence_rollup_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM presence_rollup_hours(ARRAY(
        SELECT DISTINCT date_trunc('hour', o.observed_at, 'UTC') FROM presence_rollup_old o));
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION presence_rollup_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE presence_rollup;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

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

-- the records already loaded
SELECT presence_rollup_refresh(NULL, NULL);
ANALYZE presence_rollup;

-- +goose Down
DROP TRIGGER presence_rollup_truncate ON presence;
DROP TRIGGER presence_rollup_delete ON presence;
DROP TRIGGER presence_rollup_update ON presence;
DROP TRIGGER presence_rollup_insert ON presence;
DROP FUNCTION presence_rollup_truncate();
DROP FUNCTION presence_rollup_delete();
DROP FUNCTION presence_rollup_update();
DROP FUNCTION presence_rollup_refresh(timestamptz, timestamptz);
DROP FUNCTION presence_rollup_hours(timestamptz[]);
DROP FUNCTION presence_rollup_insert();
DROP TABLE presence_rollup;
