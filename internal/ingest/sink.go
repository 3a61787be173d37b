package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowtiles/flowtiles/internal/areas"
	"github.com/flowtiles/flowtiles/internal/live"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/tiles"
)

// Sink stores batches posted to POST /api/ingest in PostGIS, each as one
// ingest_batch (source "api", checksum = the idempotency key) in one
// transaction, so a key is stored once however often, and however
// concurrently, it is posted.
type Sink struct {
	pool  *pgxpool.Pool
	zones []tiles.Place
}

var _ live.Sink = (*Sink)(nil)

// NewSink returns a sink into pool. zones give records their zone masks;
// with nil zones each batch reads the zone table in its transaction, which
// also follows zones re-imported while the server runs.
func NewSink(pool *pgxpool.Pool, zones []tiles.Place) *Sink {
	return &Sink{pool: pool, zones: zones}
}

// Store implements live.Sink. recs are only read.
func (s *Sink) Store(ctx context.Context, key string, recs []presence.Record) (duplicate bool, err error) {
	b := &batchRow{source: "api", checksum: key, started: time.Now()}
	var sp span
	for i := range recs {
		sp.add(&recs[i])
	}
	b.read, b.loaded, b.weight, b.from, b.to = sp.rows, sp.rows, sp.weight, sp.from, sp.to
	if err := ensurePartitions(ctx, s.pool, sp.months); err != nil {
		return false, err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("ingest batch: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit, a no-op
	id, ok, err := claim(ctx, tx, b)
	if err != nil || !ok {
		return !ok && err == nil, err
	}
	zones := s.zones
	if zones == nil {
		if zones, err = areas.ReadZones(ctx, tx, true); err != nil {
			return false, err
		}
	}
	enc := newEncoder(id, zones)
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"presence"}, columns, pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
		return enc.values(&recs[i]), nil
	}))
	if err != nil {
		return false, fmt.Errorf("copying %d records: %w", len(recs), err)
	}
	if n != int64(len(recs)) {
		return false, fmt.Errorf("copied %d records of %d", n, len(recs))
	}
	if err := finish(ctx, tx, id, b); err != nil {
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("committing the batch: %w", err)
	}
	return false, nil
}
