package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"

	"github.com/flowtiles/flowtiles/internal/demo"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/testdb"
	"github.com/flowtiles/flowtiles/internal/towns"
	"github.com/flowtiles/flowtiles/tiles"
)

var start = time.Date(2025, time.January, 1, 0, 0, 0, 0, time.UTC)

// The towns are real Umbrian municipalities, Deruta and Torgiano first,
// with codes a town may have, each once.
func TestPickTowns(t *testing.T) {
	picked, err := pickTowns(92)
	if err != nil {
		t.Fatal(err)
	}
	if picked[0].Town.ISTAT != "054017" || picked[0].Town.Code != "deruta" ||
		picked[1].Town.ISTAT != "054053" || picked[1].Town.Code != "torgiano" {
		t.Fatalf("the first towns: %+v, %+v", picked[0].Town, picked[1].Town)
	}
	seen := map[string]bool{}
	for _, b := range picked {
		if !umbrian(b.Town.ISTAT) || !tiles.ValidTownCode(b.Town.Code) || seen[b.Town.Code] || len(b.Town.Perimeter) == 0 {
			t.Errorf("town %+v: not an Umbrian municipality with a valid, unique code and a perimeter", b.Town.Code)
		}
		seen[b.Town.Code] = true
		if err := b.Town.Validate(); err != nil {
			t.Errorf("town %s: %v", b.Town.Code, err)
		}
		if !planar.MultiPolygonContains(b.Town.Perimeter, b.Town.Center) {
			t.Errorf("town %s: centre %v outside its perimeter", b.Town.Code, b.Town.Center)
		}
	}
	if _, err := pickTowns(93); err == nil {
		t.Error("93 towns: no error")
	}
	if got := townCode("Città della Pieve"); got != "citta-della-pieve" {
		t.Errorf("townCode: %q", got)
	}
}

// generated writes the records of the first n picked towns, records each,
// as CSV and returns the CSV's SHA-256 and the records by town.
func generated(t *testing.T, n, records int, seed uint64) (string, [][]presence.Record) {
	t.Helper()
	picked, err := pickTowns(n)
	if err != nil {
		t.Fatal(err)
	}
	ts := make([]tiles.Town, n)
	for i, b := range picked {
		ts[i] = b.Town
		ts[i].ID = int16(i + 1)
	}
	ix := tiles.NewTownIndex(ts)
	h := sha256.New()
	by := make([][]presence.Record, n)
	var line []byte
	for i, b := range picked {
		kept, dropped, err := b.generate(b.config(seed, records, start, 8), ix, i, func(r *presence.Record, id string) error {
			by[i] = append(by[i], *r)
			line = demo.AppendCSV(line[:0], r, id)
			h.Write(line)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// the records are the town's centre's: few fall outside it
		if kept != len(by[i]) || kept < 9*(kept+dropped)/10 {
			t.Errorf("town %s: %d kept, %d dropped", b.Town.Code, kept, dropped)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), by
}

// Each town's records lie inside its perimeter (checked against the
// perimeter itself, not the index that kept them), are about as many as
// asked, and are the town's; the same seed gives the same records, byte
// for byte, another seed others.
func TestRecords(t *testing.T) {
	const n, records = 4, 4000
	sum, by := generated(t, n, records, 1)
	picked, _ := pickTowns(n)
	for i, recs := range by {
		tw := picked[i].Town
		if len(recs) < records*8/10 || len(recs) > records*12/10 {
			t.Errorf("town %s: %d records, want about %d", tw.Code, len(recs), records)
		}
		for _, r := range recs {
			if !planar.MultiPolygonContains(tw.Perimeter, orb.Point{r.Lon, r.Lat}) || r.Town != int16(i+1) {
				t.Fatalf("town %s: record %+v outside it or not its own", tw.Code, r)
			}
			if i >= 2 && r.Origin == "054017" {
				t.Fatalf("town %s: a regular of Deruta: %+v", tw.Code, r)
			}
		}
	}
	again, _ := generated(t, n, records, 1)
	if again != sum {
		t.Errorf("the same seed: %s, then %s", sum, again)
	}
	if other, _ := generated(t, n, records, 2); other == sum {
		t.Error("another seed: the same records")
	}
}

// towns make on a database: the towns added (the migration's placeholder
// removed), every record loaded as its town's and inside the town's stored
// perimeter, as many as were kept, and daily batches of one day each.
func TestBuild(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	out := t.TempDir()
	o := makeOptions{Towns: 3, Records: 3000, Seed: 1, Start: start, Months: 8, Out: out,
		Daily: []string{"deruta", "bettona", "nowhere"}, Days: 2}
	made, err := build(ctx, pool, o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := towns.Load(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, s := range stored {
		codes = append(codes, s.Code)
	}
	if got := strings.Join(codes, ","); got != "deruta,torgiano,assisi" {
		t.Fatalf("towns %s", got)
	}
	// a record's town is the town whose perimeter covers it
	rows, err := pool.Query(ctx, `SELECT t.code, count(*) FROM presence p
		JOIN town t ON t.id = p.town AND ST_Covers(t.perimeter, p.geom) GROUP BY t.code`)
	if err != nil {
		t.Fatal(err)
	}
	inside := map[string]int{}
	for rows.Next() {
		var code string
		var n int
		if err := rows.Scan(&code, &n); err != nil {
			t.Fatal(err)
		}
		inside[code] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var total int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM presence").Scan(&total); err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, m := range made {
		if m.Kept == 0 || int64(m.Kept) != m.Loaded || inside[m.Town.Code] != m.Kept {
			t.Errorf("town %s: %d kept, %d loaded, %d inside its perimeter in the database", m.Town.Code, m.Kept, m.Loaded, inside[m.Town.Code])
		}
		sum += m.Kept
		if _, err := os.Stat(m.CSV); !os.IsNotExist(err) {
			t.Errorf("town %s: its CSV was left: %v", m.Town.Code, err)
		}
	}
	if total != sum {
		t.Errorf("%d records in the database, %d made", total, sum)
	}
	if len(made[0].Batches) != 2 || len(made[1].Batches) != 0 || len(made[2].Batches) != 0 {
		t.Fatalf("daily batches %v %v %v", made[0].Batches, made[1].Batches, made[2].Batches)
	}
	for d, path := range made[0].Batches {
		day := "2025-09-0" + string(rune('1'+d))
		if filepath.Base(path) != "deruta-"+day+".csv" {
			t.Errorf("batch %s", path)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		n := 0
		for sc.Scan() {
			if n > 0 && !strings.HasPrefix(sc.Text(), day+"T") {
				t.Fatalf("%s: a record of another day: %s", path, sc.Text())
			}
			n++
		}
		f.Close()
		// a day of about 3000 records over 243 days
		if n < 2 || n > 60 {
			t.Errorf("%s: %d lines", path, n)
		}
	}
}
