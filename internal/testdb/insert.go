package testdb

import (
	"context"
	"encoding/binary"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/tiles"
)

// Insert writes records into the presence table as one committed batch and
// announces it (NOTIFY flowtiles_batches), as another process's load would:
// the rows ingest writes (zone masks against zones, record keys), but a
// batch row without the time span flowtiles' own loads record, each record
// in its Town (the column is written only when some record is in a town
// other than 0, its default, so that a database migrated down to before
// the column takes the rows too). It returns the batch id. The tests of the stores and the mirror use it; the write
// path itself (internal/ingest) has tests of its own.
func Insert(t testing.TB, pool *pgxpool.Pool, records []presence.Record, zones []tiles.Place) int64 {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) // (error ignored) after Commit, a no-op
	var batch int64
	if err := tx.QueryRow(ctx, `INSERT INTO ingest_batch (source, checksum, status, started_at, rows_loaded)
		VALUES ('test', md5(random()::text), 'committed', now(), $1) RETURNING id`, len(records)).Scan(&batch); err != nil {
		t.Fatal(err)
	}
	type partition struct {
		town  int16
		month string
	}
	parts := map[partition]bool{}
	for _, r := range records {
		if p := (partition{r.Town, r.ObservedAt.UTC().Format("2006-01")}); !parts[p] {
			parts[p] = true
			if err := EnsurePartition(ctx, tx, r.Town, r.ObservedAt); err != nil {
				t.Fatal(err)
			}
		}
	}
	text := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	towns := false
	for _, r := range records {
		towns = towns || r.Town != 0
	}
	rows := make([][]any, len(records))
	for i, r := range records {
		w := r.World()
		var visitor any
		if r.Visitor != 0 {
			visitor = r.Visitor
		}
		rows[i] = []any{r.ObservedAt, ewkbPoint(r.Lon, r.Lat), int64(w.X), int64(w.Y), int32(r.Weight), visitor,
			text(r.Age.String()), text(r.Gender.String()), text(r.Nationality.String()), text(r.Origin), text(r.Spend.String()),
			int32(tiles.ZoneMask(zones, orb.Point{r.Lon, r.Lat})), batch, int32(tiles.RecordKey(r.ObservedAt.Unix(), w, r.Weight, r.Visitor))}
		if towns {
			rows[i] = append(rows[i], r.Town)
		}
	}
	cols := []string{"observed_at", "geom", "wx", "wy", "weight", "visitor", "age_band", "gender", "nationality", "origin_code", "spend_class", "zones", "batch_id", "rkey"}
	if towns {
		cols = append(cols, "town")
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"presence"}, cols, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_notify('flowtiles_batches', $1)", strconv.FormatInt(batch, 10)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return batch
}

// ewkbPoint is a little-endian EWKB point with SRID 4326.
func ewkbPoint(lon, lat float64) []byte {
	b := make([]byte, 0, 25)
	b = append(b, 1)
	b = binary.LittleEndian.AppendUint32(b, 0x20000001)
	b = binary.LittleEndian.AppendUint32(b, 4326)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(lon))
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(lat))
}

// EnsurePartition creates the partition of presence holding town's records
// at ts, whichever the schema's version: by town and month (00010), by
// month alone before.
func EnsurePartition(ctx context.Context, db interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	QueryRow(context.Context, string, ...any) pgx.Row
}, town int16, ts time.Time) error {
	var byTown bool
	if err := db.QueryRow(ctx, "SELECT to_regprocedure('presence_ensure_partition(smallint, timestamptz)') IS NOT NULL").Scan(&byTown); err != nil {
		return err
	}
	if !byTown {
		_, err := db.Exec(ctx, "SELECT presence_ensure_partition($1)", ts)
		return err
	}
	_, err := db.Exec(ctx, "SELECT presence_ensure_partition($1, $2)", town, ts)
	return err
}
