// Package mirror keeps in-memory stores equal to the PostGIS presence
// table (within a memory budget), one per served town, holding that
// town's records only; it follows the batches committed by any process
// through LISTEN/NOTIFY, owns the data version, and answers for each town
// as one tiles.Source: from memory what it holds, from PostGIS (pgstore,
// on the same town) the older months beyond the budget. The records of
// towns not served are never loaded.
package mirror

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowtiles/flowtiles/internal/db"
	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/tiles"
)

// loadColumns selects presence rows in the compact form of memstore.Row,
// as integers only, so that loading allocates nothing per row.
const loadColumns = `extract(epoch FROM p.observed_at)::bigint, p.wx, p.wy, p.weight::bigint,
    coalesce(p.visitor, 0),
    coalesce(p.origin_code::bigint, 0),
    coalesce(ascii(substr(p.nationality, 1, 1)) * 256 + ascii(substr(p.nationality, 2, 1)), 0)::bigint,
    (coalesce(array_position(ARRAY['0-17','18-24','25-34','35-44','45-54','55-64','65+'], p.age_band), 0)
     + 8 * coalesce(array_position(ARRAY['f','m','x'], p.gender), 0)
     + 32 * coalesce(array_position(ARRAY['low','medium','high'], p.spend_class), 0))::bigint,
    p.zones::bigint, p.rkey::bigint, p.town::bigint`

// Mirror keeps an in-memory store per served town equal to that town's
// rows of the presence table: Load fills them, Follow applies every batch
// committed afterwards (LISTEN/NOTIFY, with a catch-up after reconnecting),
// each row to its town's store. Batches are tracked by id, not by a
// high-water mark, because transactions may commit out of id order.
type Mirror struct {
	pool  *pgxpool.Pool
	cat   *refdata.Catalog
	mems  map[int16]*memstore.Store // by town ID
	towns []int16                   // the keys of mems
	since time.Time
	// version advances with every Load and catch-up that found batches
	// (of any town: a batch of towns not served moves it too): the data
	// version of every Source. spans[v] is the time span of the batches
	// version v loaded, when their rows record one (tiles.ChangeLog).
	version atomic.Uint64
	spanMu  sync.Mutex
	spans   map[uint64][2]time.Time
	// mu serialises Load and CatchUp (Follow's, and a server's own after
	// POST /api/ingest); loaded holds the committed batches already in mem.
	mu     sync.Mutex
	loaded map[int64]bool
}

// New returns a mirror of the presence table of pool into mems, the
// records of each town (tiles.Town.ID) into its store; the records of other
// towns are left out. Origin codes index cat. A non-zero since keeps only
// records observed at or after it in memory (the memory budget:
// BudgetSince).
func New(pool *pgxpool.Pool, cat *refdata.Catalog, mems map[int16]*memstore.Store, since time.Time) *Mirror {
	towns := make([]int16, 0, len(mems))
	for t := range mems {
		towns = append(towns, t)
	}
	slices.Sort(towns)
	return &Mirror{pool: pool, cat: cat, mems: mems, towns: towns, since: since, loaded: map[int64]bool{}, spans: map[uint64][2]time.Time{}}
}

// Towns are the IDs of the towns mirrored, in order.
func (m *Mirror) Towns() []int16 { return slices.Clone(m.towns) }

// Version is the data version: it changes whenever a load or catch-up
// brought new batches.
func (m *Mirror) Version() uint64 { return m.version.Load() }

// maxSpans bounds the versions whose spans a mirror remembers.
const maxSpans = 1024

// Changed implements tiles.ChangeLog over the mirror's versions.
func (m *Mirror) Changed(from, to uint64) (first, last time.Time, ok bool) {
	if to <= from || to-from > maxSpans {
		return first, last, false
	}
	m.spanMu.Lock()
	defer m.spanMu.Unlock()
	for v := from + 1; v <= to; v++ {
		sp, ok := m.spans[v]
		if !ok {
			return time.Time{}, time.Time{}, false
		}
		if first.IsZero() || sp[0].Before(first) {
			first = sp[0]
		}
		if sp[1].After(last) {
			last = sp[1]
		}
	}
	return first, last, true
}

// Load reads every committed batch into memory, in one consistent snapshot,
// and returns the number of rows loaded.
func (m *Mirror) Load(ctx context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tx, err := m.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, db.Wrap(ctx, "loading presence", err)
	}
	defer tx.Rollback(context.Background()) // (error ignored) read-only
	if err := noStatementTimeout(ctx, tx); err != nil {
		return 0, err
	}
	batches, err := committed(ctx, tx)
	if err != nil {
		return 0, err
	}
	cond, args := "true", []any{}
	if !m.since.IsZero() {
		cond, args = "p.observed_at >= $1", []any{m.since}
	}
	n, err := m.load(ctx, tx, cond, args)
	if err != nil {
		return n, err
	}
	for _, b := range batches {
		m.loaded[b.id] = true
	}
	m.version.Add(1)
	return n, nil
}

// noStatementTimeout lifts the pool's statement_timeout for tx: loading
// every row, or the batches of a long absence, takes as long as it takes
// (ctx bounds it).
func noStatementTimeout(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, "SET LOCAL statement_timeout = 0")
	return db.Wrap(ctx, "lifting the statement timeout", err)
}

// batch is a committed ingest batch and the time span of its records
// (nil when its row does not record one).
type batch struct {
	id     int64
	lo, hi *time.Time
}

func committed(ctx context.Context, q pgx.Tx) ([]batch, error) {
	rows, err := q.Query(ctx, `SELECT id, min_observed_at, max_observed_at FROM ingest_batch WHERE status = 'committed' ORDER BY id`)
	if err != nil {
		return nil, db.Wrap(ctx, "listing batches", err)
	}
	bs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (batch, error) {
		var b batch
		err := r.Scan(&b.id, &b.lo, &b.hi)
		return b, err
	})
	return bs, db.Wrap(ctx, "listing batches", err)
}

// townsIn is towns as an SQL list, "(0,3)", written into a statement
// rather than passed as an array parameter: PostgreSQL prunes the other
// towns' partitions of presence (00010) by a list it sees when it plans
// the statement; an array parameter prunes only in a plan made for its
// value, not in the generic plan a statement run often may get, which
// would read every town's partitions.
func townsIn(towns []int16) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, t := range towns {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(t)))
	}
	if len(towns) == 0 {
		b.WriteString("NULL") // no town: nothing
	}
	b.WriteByte(')')
	return b.String()
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// load streams the presence rows of the mirrored towns matching cond (its
// parameters $1.. are args) into their towns' stores, committing in chunks
// so that readers see progress.
func (m *Mirror) load(ctx context.Context, q querier, cond string, args []any) (int64, error) {
	rows, err := q.Query(ctx, "SELECT "+loadColumns+" FROM presence p WHERE "+cond+" AND p.town IN "+townsIn(m.towns), args...)
	if err != nil {
		return 0, db.Wrap(ctx, "loading presence", err)
	}
	defer rows.Close()
	origins := make(map[int64]uint16, len(m.cat.Municipalities))
	for i, mu := range m.cat.Municipalities {
		code, _ := strconv.ParseInt(mu.Code, 10, 64)
		origins[code] = uint16(i + 1)
	}
	var n int64
	builders := make(map[int16]*memstore.Builder, len(m.mems))
	for t, mem := range m.mems {
		builders[t] = mem.NewBuilder()
	}
	for rows.Next() {
		raw := rows.RawValues() // binary int8 columns: read them directly
		if len(raw) != 11 {
			return n, fmt.Errorf("loading presence: %d columns", len(raw))
		}
		v := func(i int) int64 { return int64(binary.BigEndian.Uint64(raw[i])) }
		row := memstore.Row{
			T: uint32(v(0)), X: uint32(v(1)), Y: uint32(v(2)), Weight: uint32(v(3)), Visitor: v(4),
			Origin: origins[v(5)], Attrs: tiles.Attrs(v(7)), Zones: uint16(v(8)), Key: uint32(v(9)),
		}
		if nat := v(6); nat != 0 {
			row.Nat = tiles.CountryIndex(tiles.Country{byte(nat >> 8), byte(nat)})
		}
		b := builders[int16(v(10))]
		if b == nil {
			return n, fmt.Errorf("loading presence: a row of town %d, which is not mirrored", v(10))
		}
		b.Add(row)
		n++
		if b.Len() >= 1<<21 {
			b.Commit()
		}
	}
	if err := rows.Err(); err != nil {
		return n, db.Wrap(ctx, "loading presence", err)
	}
	for _, b := range builders {
		b.Commit()
	}
	return n, nil
}

// Follow applies new batches until ctx ends. After a lost connection it
// reconnects and catches up. onAreas is called when reference areas or
// zones change (channel flowtiles_areas), e.g. to reload them.
func (m *Mirror) Follow(ctx context.Context, log *slog.Logger, onAreas func()) {
	for ctx.Err() == nil {
		err := m.listen(ctx, onAreas)
		if ctx.Err() != nil {
			return
		}
		log.Warn("following new batches failed; retrying", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

// listen waits for notifications on a connection of its own, outside the
// pool, so that following new batches takes none of the pool's
// connections from the requests; catching up borrows one from the pool
// for each batch.
func (m *Mirror) listen(ctx context.Context, onAreas func()) error {
	conn, err := db.Connect(ctx, m.pool, "flowtiles listen")
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn.Close(cctx) // (error ignored) a clean close if the server still listens
		cancel()
	}()
	for _, ch := range []string{"flowtiles_batches", "flowtiles_areas"} {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return err
		}
	}
	// catch up on anything committed while we were not listening
	if err := m.CatchUp(ctx); err != nil {
		return err
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		switch n.Channel {
		case "flowtiles_areas":
			if onAreas != nil {
				onAreas()
			}
		case "flowtiles_batches":
			if err := m.CatchUp(ctx); err != nil {
				return err
			}
		}
	}
}

// CatchUp loads every committed batch not yet in memory. It is safe to
// call from several goroutines.
func (m *Mirror) CatchUp(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	tx, err := m.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return db.Wrap(ctx, "catching up", err)
	}
	defer tx.Rollback(context.Background()) // (error ignored) read-only
	if err := noStatementTimeout(ctx, tx); err != nil {
		return err
	}
	batches, err := committed(ctx, tx)
	if err != nil {
		return err
	}
	// The new batches' time span prunes partitions and lets the BRIN index
	// on observed_at skip the rest: presence has no index on batch_id, and
	// a live batch of a few records must not scan every month. Batch rows
	// not written by flowtiles may lack a span; then only since bounds it.
	var (
		fresh  []int64
		lo, hi time.Time
		spans  = true
	)
	for _, b := range batches {
		if m.loaded[b.id] {
			continue
		}
		fresh = append(fresh, b.id)
		if b.lo == nil || b.hi == nil {
			spans = false
			continue
		}
		if lo.IsZero() || b.lo.Before(lo) {
			lo = *b.lo
		}
		if hi.IsZero() || b.hi.After(hi) {
			hi = *b.hi
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	cond, args := "p.batch_id = ANY($1)", []any{fresh}
	if spans {
		if !m.since.IsZero() && lo.Before(m.since) {
			lo = m.since
		}
		cond, args = cond+" AND p.observed_at >= $2 AND p.observed_at <= $3", append(args, lo, hi)
	} else if !m.since.IsZero() {
		cond, args = cond+" AND p.observed_at >= $2", append(args, m.since)
	}
	if _, err := m.load(ctx, tx, cond, args); err != nil {
		return err
	}
	for _, id := range fresh {
		m.loaded[id] = true
	}
	v := m.version.Add(1)
	if spans {
		m.spanMu.Lock()
		m.spans[v] = [2]time.Time{lo, hi}
		delete(m.spans, v-maxSpans)
		m.spanMu.Unlock()
	}
	return nil
}
