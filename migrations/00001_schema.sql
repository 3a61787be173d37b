-- flowtiles schema: presence records, reference areas, ingest batches.
-- Applied by `flowtiles migrate` (and by `flowtiles serve` unless --no-migrate).

-- +goose Up
CREATE EXTENSION IF NOT EXISTS postgis;

-- Reference areas ---------------------------------------------------------

CREATE TABLE region (
    code        char(2) PRIMARY KEY,           -- ISTAT region code, "10" = Umbria
    name        text NOT NULL,
    population  bigint,                        -- sum of its municipalities (2011 census)
    geom        geometry(MultiPolygon, 4326) NOT NULL,
    point       geometry(Point, 4326) NOT NULL -- representative point (on surface)
);
CREATE INDEX region_geom ON region USING gist (geom);

CREATE TABLE province (
    code        char(3) PRIMARY KEY,           -- ISTAT province code, "054" = Perugia
    abbrev      text NOT NULL UNIQUE,          -- vehicle-plate abbreviation, "PG"
    region_code char(2) NOT NULL,
    population  bigint,
    geom        geometry(MultiPolygon, 4326) NOT NULL,
    point       geometry(Point, 4326) NOT NULL
);
CREATE INDEX province_geom ON province USING gist (geom);

CREATE TABLE municipality (
    istat_code    char(6) PRIMARY KEY,         -- "054017" = Deruta
    name          text NOT NULL,
    province_code char(3) NOT NULL,
    region_code   char(2) NOT NULL,
    population    integer,                     -- 2011 census; NULL where ISTAT has none
    geom          geometry(MultiPolygon, 4326) NOT NULL,
    point         geometry(Point, 4326) NOT NULL
);
CREATE INDEX municipality_geom ON municipality USING gist (geom);
CREATE INDEX municipality_province ON municipality (province_code);
CREATE INDEX municipality_region ON municipality (region_code);

CREATE TABLE country (
    iso_a2     char(2) PRIMARY KEY,
    iso_a3     char(3) NOT NULL,
    name       text NOT NULL,
    population bigint,
    geom       geometry(MultiPolygon, 4326) NOT NULL,
    point      geometry(Point, 4326) NOT NULL
);
CREATE INDEX country_geom ON country USING gist (geom);

-- Zones drawn by the town (the historic centre, a market square). A record's
-- zone membership is kept with it as a bit mask (presence.zones), so that
-- every store answers zone questions from the same bits.
CREATE TABLE zone (
    id    smallint PRIMARY KEY CHECK (id BETWEEN 0 AND 15),
    name  text NOT NULL UNIQUE,
    geom  geometry(MultiPolygon, 4326) NOT NULL
);
CREATE INDEX zone_geom ON zone USING gist (geom);

-- Ingest batches: every load, committed or rejected, is accounted for. -----

CREATE TABLE ingest_batch (
    id              bigserial PRIMARY KEY,
    source          text NOT NULL,             -- file name, or "api"
    checksum        text NOT NULL,             -- sha256 of the input bytes (or of the idempotency key)
    status          text NOT NULL CHECK (status IN ('committed', 'rejected')),
    rows_read       bigint NOT NULL DEFAULT 0,
    rows_loaded     bigint NOT NULL DEFAULT 0,
    rows_rejected   bigint NOT NULL DEFAULT 0,
    weight_loaded   bigint NOT NULL DEFAULT 0,
    min_observed_at timestamptz,
    max_observed_at timestamptz,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL DEFAULT now(),
    message         text
);
-- Loading the same bytes twice is a no-op: one committed batch per checksum.
CREATE UNIQUE INDEX ingest_batch_committed_checksum ON ingest_batch (checksum) WHERE status = 'committed';

-- Presence records ------------------------------------------------------------
-- One row: `weight` people observed at a point at a time. Partitioned by UTC
-- month (presence_yYYYYmMM, created by presence_ensure_partition) so that a
-- year of a large town stays fast and old months can be dropped whole.

CREATE TABLE presence (
    observed_at  timestamptz NOT NULL,          -- whole seconds
    geom         geometry(Point, 4326) NOT NULL,
    -- Web Mercator world coordinates, 2^32 units across (tiles.Project):
    -- both stores bin from these integers, so they agree to the record.
    wx           bigint NOT NULL CHECK (wx >= 0 AND wx < 4294967296),
    wy           bigint NOT NULL CHECK (wy >= 0 AND wy < 4294967296),
    weight       integer NOT NULL CHECK (weight > 0),
    -- 64-bit hash of the visitor id; raw ids are never stored.
    visitor      bigint,
    age_band     text CHECK (age_band IN ('0-17', '18-24', '25-34', '35-44', '45-54', '55-64', '65+')),
    gender       text CHECK (gender IN ('f', 'm', 'x')),
    nationality  char(2),
    origin_code  char(6),
    spend_class  text CHECK (spend_class IN ('low', 'medium', 'high')),
    zones        integer NOT NULL DEFAULT 0,    -- bit z set: inside zone z
    batch_id     bigint NOT NULL
) PARTITION BY RANGE (observed_at);

CREATE INDEX presence_geom ON presence USING gist (geom);
CREATE INDEX presence_time ON presence USING brin (observed_at);

-- presence_ensure_partition creates the month partition holding ts, if absent,
-- and returns its name.
-- +goose StatementBegin
CREATE FUNCTION presence_ensure_partition(ts timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    m    timestamp := date_trunc('month', ts AT TIME ZONE 'UTC');
    name text := format('presence_y%sm%s', to_char(m, 'YYYY'), to_char(m, 'MM'));
BEGIN
    IF to_regclass(name) IS NULL THEN
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF presence FOR VALUES FROM (%L) TO (%L)',
            name, (m AT TIME ZONE 'UTC'), ((m + interval '1 month') AT TIME ZONE 'UTC'));
    END IF;
    RETURN name;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION presence_ensure_partition(timestamptz);
DROP TABLE presence;
DROP TABLE ingest_batch;
DROP TABLE zone;
DROP TABLE country;
DROP TABLE municipality;
DROP TABLE province;
DROP TABLE region;
