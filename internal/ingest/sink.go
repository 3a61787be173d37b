package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowtiles/flowtiles/internal/areas"
	"github.com/flowtiles/flowtiles/internal/db"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/towns"
	"github.com/flowtiles/flowtiles/tiles"
)

// PGSink stores batches posted to POST /api/ingest in PostGIS, each as one
// ingest_batch (source "api", checksum = the SHA-256 of the body, as a file
// has it) in one transaction, so the same bytes are stored once however
// often, however concurrently and under whatever key they are posted, and
// a file of the same bytes is "already loaded". A client's Idempotency-Key
// is kept in ingest_key, scoped by who posted and bound to the checksum of
// its first use.
type PGSink struct {
	pool  *pgxpool.Pool
	zones map[int16][]tiles.Place
}

// NewPGSink returns a sink into pool. zones (by town) give records their
// zone masks, each over its own town's zones; with nil zones each batch
// reads the zone table in its transaction, which also follows zones
// re-imported while the server runs.
func NewPGSink(pool *pgxpool.Pool, zones map[int16][]tiles.Place) *PGSink {
	return &PGSink{pool: pool, zones: zones}
}

// Store stores a batch (it implements server.Sink). It sets each record's
// Town from the towns as its transaction sees them, and refuses a town's
// token (bid.Town) records outside its town with a *presence.TownError.
func (s *PGSink) Store(ctx context.Context, bid presence.BatchID, recs []presence.Record) (duplicate bool, err error) {
	defer func() { err = db.Wrap(ctx, "storing a posted batch", err) }() // outages: tiles.ErrUnavailable
	started := time.Now()
	for range 3 {
		dup, missing, err := s.store(ctx, bid, recs, started)
		if err != nil || len(missing) == 0 {
			return dup, err
		}
		// the records' towns are known only in the transaction: their
		// partitions are created outside it (see ensurePartitions), and
		// the batch is tried again
		if err := ensurePartitions(ctx, s.pool, missing); err != nil {
			return false, err
		}
	}
	return false, errors.New("the partitions of the batch's towns went missing three times (towns changing?)")
}

// store is one try of Store: it stores nothing and returns the partitions
// missing when some of the batch's towns' months have none.
func (s *PGSink) store(ctx context.Context, bid presence.BatchID, recs []presence.Record, started time.Time) (duplicate bool, missing map[partition]time.Time, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, nil, fmt.Errorf("ingest batch: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // (error ignored) after Commit, a no-op
	// records must lie in a town, and in the token's town when it has one:
	// the towns as this transaction sees them; checked before the key and
	// the checksum (townSet.place)
	ts, err := towns.Load(ctx, tx)
	if err != nil {
		return false, nil, err
	}
	if err := newTownSet(ts).place(bid, recs); err != nil {
		return false, nil, err
	}
	var sp span
	for i := range recs {
		sp.add(&recs[i])
	}
	if missing, err := missingPartitions(ctx, tx, sp.parts); err != nil || len(missing) > 0 {
		return false, missing, err
	}
	b := &batchRow{source: "api", checksum: bid.Checksum, started: started,
		read: sp.rows, loaded: sp.rows, weight: sp.weight, from: sp.from, to: sp.to}
	if bid.Key != "" {
		seen, err := bindKey(ctx, tx, bid)
		if err != nil || seen {
			return seen, nil, err
		}
	}
	id, ok, err := claim(ctx, tx, b)
	if err != nil {
		return false, nil, err
	}
	if !ok {
		// the same bytes were stored before: keep the key's binding
		if err := tx.Commit(ctx); err != nil {
			return false, nil, fmt.Errorf("committing the batch: %w", err)
		}
		return true, nil, nil
	}
	zones := s.zones
	if zones == nil {
		if zones, err = areas.ReadZones(ctx, tx, true); err != nil {
			return false, nil, err
		}
	}
	enc := newEncoder(id, zones)
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"presence"}, columns, pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
		return enc.values(&recs[i]), nil
	}))
	if err != nil {
		return false, nil, fmt.Errorf("copying %d records: %w", len(recs), err)
	}
	if n != int64(len(recs)) {
		return false, nil, fmt.Errorf("copied %d records of %d", n, len(recs))
	}
	if err := finish(ctx, tx, id, b); err != nil {
		return false, nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return false, nil, fmt.Errorf("committing the batch: %w", err)
	}
	return false, nil, nil
}

// bindKey records the batch's idempotency key in its scope, bound to its
// checksum. seen: the key was used before for the same checksum (a retry;
// nothing to store). A key used before for another checksum is a
// *presence.KeyConflictError. A concurrent first use of the same key waits
// here until the other transaction ends.
func bindKey(ctx context.Context, tx pgx.Tx, bid presence.BatchID) (seen bool, err error) {
	tag, err := tx.Exec(ctx, `INSERT INTO ingest_key (scope, key, checksum) VALUES ($1, $2, $3)
		ON CONFLICT (scope, key) DO NOTHING`, bid.Scope, bid.Key, bid.Checksum)
	if err != nil {
		return false, fmt.Errorf("recording the idempotency key: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return false, nil
	}
	var sum string
	if err := tx.QueryRow(ctx, `SELECT checksum FROM ingest_key WHERE scope = $1 AND key = $2`, bid.Scope, bid.Key).Scan(&sum); err != nil {
		return false, fmt.Errorf("reading the idempotency key: %w", err)
	}
	if sum != bid.Checksum {
		return false, &presence.KeyConflictError{Key: bid.Key}
	}
	return true, nil
}
