-- Ingest integrity.
--
-- 1. Idempotency keys of POST /api/ingest get a table of their own, scoped by
--    who posted (the bearer token's scope) and bound to the checksum of the
--    body they were first used with. ingest_batch.checksum is then always the
--    SHA-256 of the input bytes, of a file or of a body: a client's key can
--    no longer collide with a file's checksum, nor store the same bytes twice
--    under two keys.
-- 2. presence_ensure_partition creates a month partition under a lock, so
--    that two loads opening the same new month at once both succeed (it
--    checked, then created: the second failed with 42P07).

-- +goose Up
CREATE TABLE ingest_key (
    scope      text NOT NULL,                  -- who posted: "token:<16 hex>" (never the token)
    key        text NOT NULL,                  -- the client's Idempotency-Key
    checksum   text NOT NULL,                  -- sha256 of the body first posted with it
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);

-- Batches posted before carried their client's key as the checksum, or
-- "sha256:<hex>" without one. A key (which may have been any string, a
-- file's checksum too) moves out of the checksums' way; a body's checksum
-- is kept bare, as files have it (unless the same bytes were also loaded as
-- a file, which the old scheme allowed). Neither change is undone by Down.
UPDATE ingest_batch SET checksum = 'legacy-key:' || checksum
WHERE source = 'api' AND checksum NOT LIKE 'sha256:%';
UPDATE ingest_batch b SET checksum = substr(b.checksum, 8)
WHERE b.source = 'api' AND b.checksum LIKE 'sha256:%'
  AND NOT EXISTS (SELECT 1 FROM ingest_batch o WHERE o.checksum = substr(b.checksum, 8) AND o.status = 'committed');

COMMENT ON COLUMN ingest_batch.checksum IS 'sha256 of the input bytes (a file, or a body posted to /api/ingest), hex';

-- presence_ensure_partition creates the month partition holding ts, if
-- absent, and returns its name. Creations are serialised by a transaction
-- advisory lock (released when the caller's transaction ends, so call it
-- in a transaction of its own); the check is repeated under the lock by
-- CREATE TABLE IF NOT EXISTS, which sees a partition committed meanwhile.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION presence_ensure_partition(ts timestamptz) RETURNS text
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

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION presence_ensure_partition(ts timestamptz) RETURNS text
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
COMMENT ON COLUMN ingest_batch.checksum IS NULL;
DROP TABLE ingest_key;
