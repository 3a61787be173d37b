// Package ingest loads presence records into PostGIS: a file with `flowtiles
// ingest` (Loader), or a batch posted to POST /api/ingest (Sink). Every load
// is one transaction holding its ingest_batch row, its records (COPY) and a
// NOTIFY on flowtiles_batches, so a load is seen whole or not at all, and
// the same input is loaded at most once (one committed batch per checksum).
package ingest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/towns"
	"github.com/flowtiles/flowtiles/tiles"
)

// Channel is the NOTIFY channel a committed batch is announced on (its
// payload is the batch id); servers LISTEN on it to mirror new records.
const Channel = "flowtiles_batches"

// columns of presence written by COPY, in the order of encoder.values.
var columns = []string{"observed_at", "geom", "wx", "wy", "weight", "visitor", "age_band", "gender",
	"nationality", "origin_code", "spend_class", "zones", "batch_id", "rkey", "town"}

// encoder turns records into COPY rows of one batch. values reuses one
// slice and one geometry buffer: pgx encodes a row before asking for the
// next, so each row is valid only until the next call.
// A record's zone mask is over its own town's zones (by Record.Town).
type encoder struct {
	batch int64
	zones map[int16]*tiles.ZoneIndex // by town; a town without zones: none
	vals  []any
	geom  []byte
}

func newEncoder(batch int64, zones map[int16][]tiles.Place) *encoder {
	idx := make(map[int16]*tiles.ZoneIndex, len(zones))
	for town, zs := range zones {
		idx[town] = tiles.NewZoneIndex(zs)
	}
	return &encoder{batch: batch, zones: idx, vals: make([]any, len(columns)), geom: make([]byte, 0, 25)}
}

func (e *encoder) values(r *presence.Record) []any {
	w := r.World()
	e.geom = ewkbPoint(e.geom[:0], r.Lon, r.Lat)
	v := e.vals
	v[0] = r.ObservedAt
	v[1] = e.geom
	v[2] = int64(w.X)
	v[3] = int64(w.Y)
	v[4] = int32(r.Weight)
	v[5] = nil
	if r.Visitor != 0 {
		v[5] = r.Visitor
	}
	v[6] = text(r.Age.String())
	v[7] = text(r.Gender.String())
	v[8] = text(r.Nationality.String())
	v[9] = text(r.Origin)
	v[10] = text(r.Spend.String())
	v[11] = int32(0)
	if zi := e.zones[r.Town]; zi != nil {
		v[11] = int32(zi.Mask(orb.Point{r.Lon, r.Lat}))
	}
	v[12] = e.batch
	v[13] = int32(tiles.RecordKey(r.ObservedAt.Unix(), w, r.Weight, r.Visitor))
	v[14] = r.Town
	return v
}

func text(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ewkbPoint appends a little-endian EWKB point with SRID 4326 to b.
func ewkbPoint(b []byte, lon, lat float64) []byte {
	b = append(b, 1)
	b = binary.LittleEndian.AppendUint32(b, 0x20000001)
	b = binary.LittleEndian.AppendUint32(b, 4326)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(lon))
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(lat))
}

// batchRow is what an ingest_batch row records of a load.
type batchRow struct {
	source, checksum string
	started          time.Time
	read, loaded     int64
	rejected, weight int64
	from, to         time.Time
	message          string
}

// maxMessage bounds ingest_batch.message (the messages of row errors are
// bounded already; this is a last guard).
const maxMessage = 2000

func boundMessage(m string) string { return tiles.Truncate(m, maxMessage) }

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// claim inserts the committed batch row that makes this load the one for
// its checksum. It returns ok=false, having written nothing, when a
// committed batch with this checksum exists; a concurrent load of the same
// input waits here until the other commits or rolls back.
func claim(ctx context.Context, tx pgx.Tx, b *batchRow) (id int64, ok bool, err error) {
	err = tx.QueryRow(ctx, `INSERT INTO ingest_batch (source, checksum, status, started_at)
		VALUES ($1, $2, 'committed', $3)
		ON CONFLICT (checksum) WHERE status = 'committed' DO NOTHING
		RETURNING id`, b.source, b.checksum, b.started).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("recording the batch: %w", err)
	}
	return id, true, nil
}

// finish fills in the claimed batch row's figures and announces the batch
// to the servers; both take effect when tx commits.
func finish(ctx context.Context, tx pgx.Tx, id int64, b *batchRow) error {
	if _, err := tx.Exec(ctx, `UPDATE ingest_batch SET rows_read = $2, rows_loaded = $3, rows_rejected = $4,
		weight_loaded = $5, min_observed_at = $6, max_observed_at = $7, finished_at = clock_timestamp(), message = $8
		WHERE id = $1`, id, b.read, b.loaded, b.rejected, b.weight, nullTime(b.from), nullTime(b.to), text(boundMessage(b.message))); err != nil {
		return fmt.Errorf("recording the batch: %w", err)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", Channel, strconv.FormatInt(id, 10)); err != nil {
		return fmt.Errorf("announcing the batch: %w", err)
	}
	return nil
}

// execer runs a statement: a pool (autocommit) or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// partition names a leaf partition of presence: a town's UTC month.
type partition struct {
	town  int16
	month string // "2006-01"
}

// name is the partition's table name (presence_ensure_partition's).
func (p partition) name() string {
	return fmt.Sprintf("presence_t%d_y%sm%s", p.town, p.month[:4], p.month[5:])
}

// ensurePartitions creates the partitions of presence holding the given
// towns' months (any time within each). Call it on the pool, before the
// load's transaction: creating a partition locks the whole presence table
// (ACCESS EXCLUSIVE) until its transaction ends, which inside the load would
// stall every reader for as long as the COPY runs. An empty partition left
// by a load that then failed is harmless.
func ensurePartitions(ctx context.Context, db execer, parts map[partition]time.Time) error {
	for p, t := range parts {
		if _, err := db.Exec(ctx, "SELECT presence_ensure_partition($1, $2)", p.town, t); err != nil {
			return fmt.Errorf("creating the partition for town %d, %s: %w", p.town, p.month, err)
		}
	}
	return nil
}

// missingPartitions returns those of parts that tx does not see.
func missingPartitions(ctx context.Context, tx pgx.Tx, parts map[partition]time.Time) (map[partition]time.Time, error) {
	names := make([]string, 0, len(parts))
	byName := make(map[string]partition, len(parts))
	for p := range parts {
		names = append(names, p.name())
		byName[p.name()] = p
	}
	rows, err := tx.Query(ctx, "SELECT n FROM unnest($1::text[]) n WHERE to_regclass(n) IS NULL", names)
	if err != nil {
		return nil, fmt.Errorf("looking for partitions: %w", err)
	}
	missing := map[partition]time.Time{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		missing[byName[n]] = parts[byName[n]]
	}
	return missing, rows.Err()
}

// monthOf is the UTC month key of t (presence partitions are UTC months).
func monthOf(t time.Time) string { return t.UTC().Format("2006-01") }

// span tracks the time span and weight of loaded records.
type span struct {
	rows, weight int64
	from, to     time.Time
	parts        map[partition]time.Time
}

// add counts r, whose Town is set (the validator places it).
func (s *span) add(r *presence.Record) {
	s.rows++
	s.weight += int64(r.Weight)
	if s.from.IsZero() || r.ObservedAt.Before(s.from) {
		s.from = r.ObservedAt
	}
	if s.to.IsZero() || r.ObservedAt.After(s.to) {
		s.to = r.ObservedAt
	}
	if s.parts == nil {
		s.parts = map[partition]time.Time{}
	}
	if p := (partition{r.Town, monthOf(r.ObservedAt)}); s.parts[p].IsZero() {
		s.parts[p] = r.ObservedAt
	}
}

// townIndex reads the towns records must lie in.
func townIndex(ctx context.Context, pool *pgxpool.Pool) (*tiles.TownIndex, error) {
	ts, err := towns.Load(ctx, pool)
	if err != nil {
		return nil, err
	}
	return tiles.NewTownIndex(ts), nil
}
