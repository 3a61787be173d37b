package towns_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/testdb"
	"github.com/flowtiles/flowtiles/internal/towns"
	"github.com/flowtiles/flowtiles/tiles"
)

func codes(ts []tiles.Town) string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Code
	}
	return strings.Join(out, ",")
}

// A town is data: added from its ISTAT code (name, population and
// perimeter from the reference areas), changed by adding it again, listed,
// removed; a database that held one town's data is one town after the
// migration.
func TestTowns(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	ts, err := towns.Load(ctx, pool)
	if err != nil || codes(ts) != "town" || len(ts[0].Perimeter) != 0 {
		t.Fatalf("a migrated database: %v %+v", err, ts)
	}

	deruta, err := towns.Add(ctx, pool, tiles.Town{Code: "deruta", ISTAT: "054017", Names: map[string]string{"en": "Deruta"},
		Kiosk: tiles.Kiosk{Title: map[string]string{"it": "Centro storico di Deruta"}, Zoom: 16}, K: 20})
	if err != nil {
		t.Fatal(err)
	}
	ts, err = towns.Load(ctx, pool)
	if err != nil || codes(ts) != "town,deruta" {
		t.Fatalf("%v %s", err, codes(ts))
	}
	got := ts[1]
	if got.Name != "Deruta" || got.Population < 9000 || got.TimeZone != "Europe/Rome" || got.K != 20 ||
		got.Kiosk.Title["it"] != "Centro storico di Deruta" || got.Kiosk.Zoom != 16 || got.Names["en"] != "Deruta" {
		t.Fatalf("%+v", got)
	}
	// the perimeter is Deruta's: its historic centre is inside, Perugia's is not
	if len(got.Perimeter) == 0 || !planar.MultiPolygonContains(got.Perimeter, orb.Point{12.4177, 42.9826}) ||
		planar.MultiPolygonContains(got.Perimeter, orb.Point{12.3883, 43.1122}) {
		t.Fatalf("perimeter of %d polygons, bound %v", len(got.Perimeter), got.Perimeter.Bound())
	}
	if len(deruta.Perimeter) != len(got.Perimeter) {
		t.Fatalf("Add returned another town than it stored")
	}

	// adding it again changes it in place
	if _, err := towns.Add(ctx, pool, tiles.Town{Code: "deruta", ISTAT: "054017", Name: "Deruta (PG)", Center: orb.Point{12.42, 42.98}}); err != nil {
		t.Fatal(err)
	}
	ts, _ = towns.Load(ctx, pool)
	if codes(ts) != "town,deruta" || ts[1].Name != "Deruta (PG)" || ts[1].Center != (orb.Point{12.42, 42.98}) || ts[1].K != 0 {
		t.Fatalf("%+v", ts)
	}

	for name, tc := range map[string]struct {
		town tiles.Town
		want string
	}{
		"bad code":        {tiles.Town{Code: "Deruta!", Name: "x"}, `code "Deruta!"`},
		"weak k":          {tiles.Town{Code: "x", Name: "x", K: 3}, "k 3: at least 5"},
		"unknown zone":    {tiles.Town{Code: "x", Name: "x", TimeZone: "Europe/Nowhere"}, `time zone "Europe/Nowhere"`},
		"wide buffer":     {tiles.Town{Code: "x", Name: "x", Buffer: 9000}, "buffer 9000 m"},
		"unknown ISTAT":   {tiles.Town{Code: "x", ISTAT: "999999"}, "ISTAT code 999999: no such municipality"},
		"taken ISTAT":     {tiles.Town{Code: "deruta-bis", ISTAT: "054017"}, "already another town's"},
		"no name":         {tiles.Town{Code: "x"}, "name: empty"},
		"outside the map": {tiles.Town{Code: "x", Name: "x", Center: orb.Point{200, 0}}, "outside the world"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := towns.Add(ctx, pool, tc.town)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
		})
	}
	if ts, _ := towns.Load(ctx, pool); codes(ts) != "town,deruta" {
		t.Fatalf("a refused town was stored: %s", codes(ts))
	}

	if _, err := towns.Select(ts, []string{"deruta", "assisi"}); err == nil || !strings.Contains(err.Error(), "unknown town assisi (the towns are town, deruta)") {
		t.Fatal(err)
	}
	if sel, err := towns.Select(ts, []string{"deruta"}); err != nil || codes(sel) != "deruta" {
		t.Fatal(sel, err)
	}

	if err := towns.Remove(ctx, pool, "assisi"); err == nil || !strings.Contains(err.Error(), `no town "assisi"`) {
		t.Fatal(err)
	}
	if err := towns.Remove(ctx, pool, "town"); err != nil {
		t.Fatal(err)
	}
	if err := towns.Remove(ctx, pool, "deruta"); err == nil || !strings.Contains(err.Error(), "last town") {
		t.Fatal(err)
	}
	if ts, _ := towns.Load(ctx, pool); codes(ts) != "deruta" {
		t.Fatalf("%s", codes(ts))
	}
	// a new town takes the next id: it lists after the others
	if _, err := towns.Add(ctx, pool, tiles.Town{Code: "torgiano", ISTAT: "054053"}); err != nil {
		t.Fatal(err)
	}
	if ts, _ := towns.Load(ctx, pool); codes(ts) != "deruta,torgiano" || ts[1].Name != "Torgiano" {
		t.Fatalf("%+v", ts)
	}
}

// A town that has records is not removed: the error says how many and how
// to delete them, and nothing is removed; without its records it goes.
func TestRemoveTownWithRecords(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	torgiano, err := towns.Add(ctx, pool, tiles.Town{Code: "torgiano", ISTAT: "054053"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 5, 1, 9, 0, 0, 0, time.UTC)
	recs := []presence.Record{
		{ObservedAt: at, Lon: 12.4345, Lat: 43.0257, Weight: 1, Town: torgiano.ID},
		{ObservedAt: at.Add(time.Minute), Lon: 12.4345, Lat: 43.0257, Weight: 2, Town: torgiano.ID},
		{ObservedAt: at.Add(2 * time.Minute), Lon: 12.4177, Lat: 42.9826, Weight: 3, Town: 0},
	}
	testdb.Insert(t, pool, recs, nil)
	err = towns.Remove(ctx, pool, "torgiano")
	want := fmt.Sprintf("town torgiano has 2 records: a town with records is not removed, nothing was removed "+
		"(to remove it, delete its records first, e.g. in psql: DELETE FROM presence WHERE town = %d; then remove it again)", torgiano.ID)
	if err == nil || err.Error() != want {
		t.Fatalf("removing a town with records: %v", err)
	}
	var rows int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM presence").Scan(&rows); err != nil || rows != 3 {
		t.Fatalf("%d records (%v)", rows, err)
	}
	if ts, _ := towns.Load(ctx, pool); codes(ts) != "town,torgiano" {
		t.Fatalf("%s", codes(ts))
	}
	// presence.town references town.id (checked per statement, migration
	// 00007): nor can a town with records be deleted by hand, nor records
	// name a town that is not
	var pe *pgconn.PgError
	if _, err := pool.Exec(ctx, "DELETE FROM town WHERE code = 'torgiano'"); !errors.As(err, &pe) || pe.Code != "23503" {
		t.Fatalf("deleting a town with records: %v", err)
	}
	// presence is partitioned by town (00010): a town that is not has no
	// partition, nor can one be made for it
	_, err = pool.Exec(ctx, `INSERT INTO presence (observed_at, geom, wx, wy, weight, batch_id, town)
		SELECT observed_at, geom, wx, wy, weight, batch_id, 9 FROM presence LIMIT 1`)
	if !errors.As(err, &pe) || pe.Code != "23514" || !strings.Contains(pe.Message, "no partition") {
		t.Fatalf("a record of no town: %v", err)
	}
	_, err = pool.Exec(ctx, "SELECT presence_ensure_partition(9::smallint, $1)", at)
	if !errors.As(err, &pe) || pe.Code != "23503" || !strings.Contains(pe.Message, "town 9 does not exist") {
		t.Fatalf("a partition for no town: %v", err)
	}
	if _, err := pool.Exec(ctx, "DELETE FROM presence WHERE town = $1", torgiano.ID); err != nil {
		t.Fatal(err)
	}
	if err := towns.Remove(ctx, pool, "torgiano"); err != nil {
		t.Fatal(err)
	}
	if ts, _ := towns.Load(ctx, pool); codes(ts) != "town" {
		t.Fatalf("%s", codes(ts))
	}
	// its empty partitions went with it
	var parts int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_class WHERE relname LIKE $1", fmt.Sprintf("presence\\_t%d%%", torgiano.ID)).Scan(&parts); err != nil || parts != 0 {
		t.Fatalf("%d partitions of the removed town left (%v)", parts, err)
	}
}

// A town removed while a load of its records is in flight waits for the
// load and then finds its records: nothing removed, no record without
// its town.
func TestRemoveTownDuringLoad(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	torgiano, err := towns.Add(ctx, pool, tiles.Town{Code: "torgiano", ISTAT: "054053"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 5, 1, 9, 0, 0, 0, time.UTC)
	if _, err := pool.Exec(ctx, "SELECT presence_ensure_partition($1, $2)", torgiano.ID, at); err != nil {
		t.Fatal(err)
	}
	load, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer load.Rollback(ctx) // (error ignored) after Commit, a no-op
	if _, err := load.Exec(ctx, `INSERT INTO presence (observed_at, geom, wx, wy, weight, batch_id, town)
		VALUES ($1, ST_SetSRID(ST_MakePoint(12.4345, 43.0257), 4326), 2296000000, 1573000000, 1, 1, $2)`, at, torgiano.ID); err != nil {
		t.Fatal(err)
	}
	removed := make(chan error, 1)
	go func() { removed <- towns.Remove(ctx, pool, "torgiano") }()
	// the removal waits for the load's lock on the town
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		var waiting bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
			AND wait_event_type = 'Lock' AND query LIKE 'DELETE FROM town%')`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the removal never waited for the load")
		}
	}
	if err := load.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-removed; err == nil || !strings.Contains(err.Error(), "town torgiano has records: a town with records is not removed, nothing was removed") {
		t.Fatalf("removing a town during a load of its records: %v", err)
	}
	if ts, _ := towns.Load(ctx, pool); codes(ts) != "town,torgiano" {
		t.Fatalf("%s", codes(ts))
	}
}
