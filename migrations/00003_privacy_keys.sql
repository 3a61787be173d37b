-- Keys of the cell key method (tiles/privacy.go, docs/PRIVACY.md).
--
-- privacy_secret holds the one secret that keys the noise of every published
-- figure. It is generated here, once per database, from PostgreSQL's strong
-- random source (gen_random_uuid: 122 random bits each), and never leaves the
-- server: every flowtiles instance on this database reads it at start, so
-- all of them publish the same figures, also after a restart. Changing it
-- changes every published figure (and lets a patient client average old
-- and new answers): never rotate it while figures are public.
--
-- presence.rkey is each record's key (tiles.RecordKey of its time, place,
-- weight and visitor hash), written by ingest. Rows already present, and
-- rows inserted by other tools, get a random key: what matters is that
-- every store reads the same one.

-- +goose Up
CREATE TABLE privacy_secret (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    secret     bytea NOT NULL CHECK (length(secret) >= 16),
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO privacy_secret (secret)
VALUES (decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));

ALTER TABLE presence ADD COLUMN rkey integer NOT NULL
    DEFAULT (floor(random() * 4294967296) - 2147483648)::integer;

-- +goose Down
ALTER TABLE presence DROP COLUMN rkey;
DROP TABLE privacy_secret;
