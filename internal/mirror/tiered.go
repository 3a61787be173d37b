package mirror

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowtiles/flowtiles/internal/db"
	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/pgstore"
	"github.com/flowtiles/flowtiles/tiles"
)

var (
	_ tiles.Source       = (*Tiered)(nil)
	_ tiles.VisitSource  = (*Tiered)(nil)
	_ tiles.VisitGrouper = (*Tiered)(nil)
	_ tiles.MultiSource  = (*Tiered)(nil)
	_ tiles.Versioned    = (*Tiered)(nil)
	_ tiles.ChangeLog    = (*Tiered)(nil)
)

// Tiered answers for one town from memory the queries whose time window
// memory holds entirely, and from PostGIS the others (older months beyond
// the memory budget). Both give identical answers for identical data;
// memory is just faster. Its data version is the mirror's.
type Tiered struct {
	Mem    *memstore.Store
	DB     *pgstore.Store
	mirror *Mirror
	// since is the Unix time from which memory holds every record (0: all).
	since int64
}

// Source returns the tiered source of a mirrored town over its memory and
// db, a store of the same town; it fails when the mirror does not hold the
// town or db answers for another.
func (m *Mirror) Source(town int16, db *pgstore.Store) (*Tiered, error) {
	mem := m.mems[town]
	switch {
	case mem == nil:
		return nil, fmt.Errorf("town %d is not mirrored (the mirror holds towns %v)", town, m.towns)
	case db.Town() != town:
		return nil, fmt.Errorf("a tiered source of town %d over a PostGIS store of town %d", town, db.Town())
	}
	t := &Tiered{Mem: mem, DB: db, mirror: m}
	if !m.since.IsZero() {
		t.since = m.since.Unix()
	}
	return t, nil
}

func (t *Tiered) inMemory(f tiles.Filter) bool {
	return t.since == 0 || !f.From.IsZero() && f.From.Unix() >= t.since
}

// Aggregate implements tiles.Source.
func (t *Tiered) Aggregate(ctx context.Context, q tiles.Query, fn func(tiles.Group) error) error {
	if t.inMemory(q.Filter) {
		return t.Mem.Aggregate(ctx, q, fn)
	}
	return t.DB.Aggregate(ctx, q, fn)
}

// AggregateMany implements tiles.MultiSource: in one pass in memory, as
// the PostGIS store's AggregateMany there.
func (t *Tiered) AggregateMany(ctx context.Context, q tiles.Query, by [][]tiles.Dim, fn func(int, tiles.Group) error) error {
	if t.inMemory(q.Filter) {
		return t.Mem.AggregateMany(ctx, q, by, fn)
	}
	return t.DB.AggregateMany(ctx, q, by, fn)
}

// Visits implements tiles.VisitSource.
func (t *Tiered) Visits(ctx context.Context, q tiles.Query, fn func(tiles.Visit) error) error {
	if t.inMemory(q.Filter) {
		return t.Mem.Visits(ctx, q, fn)
	}
	return t.DB.Visits(ctx, q, fn)
}

// VisitGroups implements tiles.VisitGrouper: in memory as the memory
// store groups them; what PostGIS answers is listed (tiles.ErrNotGrouped).
func (t *Tiered) VisitGroups(ctx context.Context, q tiles.Query, by []tiles.Dim, fn func(int64, []tiles.VisitEntry) error) error {
	if t.inMemory(q.Filter) {
		return t.Mem.VisitGroups(ctx, q, by, fn)
	}
	return tiles.ErrNotGrouped
}

// Version implements tiles.Versioned.
func (t *Tiered) Version() uint64 { return t.mirror.Version() }

// Changed implements tiles.ChangeLog.
func (t *Tiered) Changed(from, to uint64) (first, last time.Time, ok bool) {
	return t.mirror.Changed(from, to)
}

// BudgetSince returns the earliest month start from which the newest months
// of the records of towns (tiles.Town.ID) fit in budget bytes of memory
// (bytesPerRow each), or the zero time when everything fits. Other towns'
// records are not counted: a mirror of towns never loads them.
func BudgetSince(ctx context.Context, pool *pgxpool.Pool, towns []int16, budget, bytesPerRow int64) (time.Time, error) {
	if budget <= 0 {
		return time.Time{}, nil
	}
	rows, err := pool.Query(ctx, `SELECT date_trunc('month', observed_at AT TIME ZONE 'UTC'), count(*)
		FROM presence WHERE town IN `+townsIn(towns)+` GROUP BY 1 ORDER BY 1 DESC`)
	if err != nil {
		return time.Time{}, db.Wrap(ctx, "sizing the memory budget", err)
	}
	defer rows.Close()
	var total int64
	var since time.Time
	for rows.Next() {
		var month time.Time
		var n int64
		if err := rows.Scan(&month, &n); err != nil {
			return time.Time{}, db.Wrap(ctx, "sizing the memory budget", err)
		}
		if total+n*bytesPerRow > budget {
			if since.IsZero() {
				return time.Time{}, fmt.Errorf("the memory budget of %d bytes does not hold even the latest month (%d records)", budget, n)
			}
			return since, nil
		}
		total += n * bytesPerRow
		since = time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Time{}, db.Wrap(ctx, "sizing the memory budget", rows.Err())
}
