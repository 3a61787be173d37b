-- Towns are data (issue 17): the towns a deployment serves, with their names,
-- perimeter, time zone, default view, disclosure parameters and kiosk
-- settings. `flowtiles towns add|list|remove` keeps the table.
--
-- A database that held one town's data before becomes one town named
-- "town" (code "town", no perimeter: every record is its own); give it its
-- name and perimeter with `flowtiles towns add town --istat CODE`.
-- (00005 is left to the rollups of issue 14.)

-- +goose Up
CREATE TABLE town (
    id           smallint PRIMARY KEY CHECK (id >= 0),
    code         text NOT NULL UNIQUE CHECK (code ~ '^[a-z][a-z0-9-]{0,39}$'),
    istat_code   char(6) UNIQUE,                      -- NULL: not a municipality of the reference data
    name         text NOT NULL CHECK (name <> ''),
    names        jsonb NOT NULL DEFAULT '{}',         -- {"en": "..."}: the name in other languages
    population   integer,
    perimeter    geometry(MultiPolygon, 4326),        -- NULL: anywhere
    buffer_m     real NOT NULL DEFAULT 0 CHECK (buffer_m >= 0 AND buffer_m <= 5000),
    time_zone    text NOT NULL DEFAULT 'Europe/Rome',
    center_lon   double precision CHECK (center_lon BETWEEN -180 AND 180),
    center_lat   double precision CHECK (center_lat BETWEEN -85 AND 85),
    zoom         real CHECK (zoom BETWEEN 0 AND 22),
    k            integer CHECK (k >= 5),               -- NULL: the server's
    noise_d      integer CHECK (noise_d >= 2),
    noise_growth real CHECK (noise_growth BETWEEN 0 AND 2),
    kiosk        jsonb NOT NULL DEFAULT '{}',         -- {"title": {"it": ...}, "lang": "it", "zoom": 15.5}
    CHECK ((center_lon IS NULL) = (center_lat IS NULL))
);
CREATE INDEX town_perimeter ON town USING gist (perimeter);

INSERT INTO town (id, code, name) VALUES (0, 'town', 'Town');

-- +goose Down
DROP TABLE town;
