package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowtiles/flowtiles/internal/db"
	"github.com/flowtiles/flowtiles/internal/testdb"
	"github.com/flowtiles/flowtiles/internal/towns"
	"github.com/flowtiles/flowtiles/tiles"
)

// The embedded demo is the town deruta: its pages under /t/deruta/, its
// name from data.
func TestEmbeddedTown(t *testing.T) {
	_, srv := start(t, Config{DemoRecords: 20000, DemoSeed: 3})
	for _, path := range []string{"/t/deruta/", "/t/deruta/kiosk", "/t/deruta/tiles/density.json", "/t/deruta/api/zones"} {
		if code, body := get(t, srv.URL+path); code != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
	}
	code, body := get(t, srv.URL+"/t/deruta/api/town")
	var doc struct{ Code, Name, ISTAT string }
	if err := json.Unmarshal(body, &doc); code != 200 || err != nil || doc.Name != "Deruta" || doc.ISTAT != "054017" {
		t.Fatalf("%d %s", code, body)
	}
	if _, err := New(context.Background(), Config{TimeZone: "Europe/Rome", DemoRecords: 1000, Towns: []string{"assisi"}}, nil); err == nil ||
		!strings.Contains(err.Error(), "unknown town assisi (the towns are deruta, torgiano)") {
		t.Fatalf("serving a town the demo does not have: %v", err)
	}
}

// With PostGIS the towns come from the town table: the served town's name
// and kiosk settings reach the pages, its stricter k the published
// figures; a server serves every town of the database, or those --towns
// names.
func TestPostGISTowns(t *testing.T) {
	ctx := context.Background()
	_, url := testdb.Create(t)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := db.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	// the migration's single town becomes Torgiano, with a title and k of its own
	if _, err := towns.Add(ctx, pool, tiles.Town{Code: "town", ISTAT: "054053", K: 25,
		Kiosk: tiles.Kiosk{Title: map[string]string{"it": "Torgiano, il borgo del vino"}}}); err != nil {
		t.Fatal(err)
	}
	a, srv := start(t, Config{DatabaseURL: url, Towns: []string{"town"}})
	code, body := get(t, srv.URL+"/t/town/api/town")
	if code != 200 || !strings.Contains(string(body), `"name":"Torgiano"`) || !strings.Contains(string(body), `"title":{"it":"Torgiano, il borgo del vino"}`) {
		t.Fatalf("%d %s", code, body)
	}
	if a.sites[0].Engine.Privacy().K != 25 {
		t.Fatalf("k %d, want the town's 25 (stricter than the server's 15)", a.sites[0].Engine.Privacy().K)
	}

	if _, err := New(ctx, Config{DatabaseURL: url, TimeZone: "Europe/Rome", Towns: []string{"deruta"}}, nil); err == nil ||
		!strings.Contains(err.Error(), "unknown town deruta (the towns are town)") {
		t.Fatalf("a town the database does not have: %v", err)
	}
	// A second town: a server serves every town of the database, or those
	// --towns names, in its order.
	if _, err := towns.Add(ctx, pool, tiles.Town{Code: "deruta", ISTAT: "054017"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ codes, want []string }{{nil, []string{"town", "deruta"}}, {[]string{"deruta", "town"}, []string{"deruta", "town"}}} {
		a, err := New(ctx, Config{DatabaseURL: url, TimeZone: "Europe/Rome", Towns: c.codes}, nil)
		if err != nil {
			t.Fatalf("two towns, --towns %v: %v", c.codes, err)
		}
		var got []string
		for _, tw := range a.Towns() {
			got = append(got, tw.Code)
		}
		a.Close()
		if !slices.Equal(got, c.want) {
			t.Fatalf("--towns %v serves %v, want %v", c.codes, got, c.want)
		}
	}
}

// A server of one town of a database of two publishes that town's people
// only, in every figure: stats of an area holding both towns, a tile of the
// town's centre, and none of the other town's tiles. So does each town of a
// server of both, under its prefix (and town=).
func TestPostGISServesOneTownOfTwo(t *testing.T) {
	url, pool := twoTownDatabase(t)
	people := map[string]int{"deruta": 30, "torgiano": 45}
	recs := loadPeople(t, pool, people)
	centres := map[string][2]float64{"deruta": derutaCentre, "torgiano": torgianoCentre}
	// a box around both towns
	both := "/api/stats?bbox=12.40,42.97,12.45,43.04"
	tile := func(code string) string {
		c := tiles.TileAt(16, tiles.Project(centres[code][0], centres[code][1]))
		return fmt.Sprintf("/tiles/density/16/%d/%d.mvt", c.X, c.Y)
	}
	a2, srv2 := start(t, Config{DatabaseURL: url}) // both towns
	for _, code := range []string{"deruta", "torgiano"} {
		other := "torgiano"
		if code == "torgiano" {
			other = "deruta"
		}
		for _, path := range []string{"/t/" + code + both, both + "&town=" + code} {
			if got, want := visitors(t, srv2.URL+path), published(a2, recs[code]); got != want {
				t.Errorf("a server of both towns, %s: visitors %v, want %v (%s's %d people only)", path, got, want, code, people[code])
			}
		}
		if status, body := get(t, srv2.URL+"/t/"+other+tile(code)); status != http.StatusNoContent {
			t.Errorf("a server of both towns, %s's tile of %s's centre: %d, %d bytes, want empty", other, code, status, len(body))
		}
		a, srv := start(t, Config{DatabaseURL: url, Towns: []string{code}})
		if got, want := visitors(t, srv.URL+"/t/"+code+both), published(a, recs[code]); got != want {
			t.Errorf("%s: visitors %v, want %v (its %d people only)", code, got, want, people[code])
		}
		if status, body := get(t, srv.URL+"/t/"+code+tile(code)); status != http.StatusOK || len(body) == 0 {
			t.Errorf("%s: its centre's tile: %d, %d bytes", code, status, len(body))
		}
		if status, body := get(t, srv.URL+"/t/"+code+tile(other)); status != http.StatusNoContent {
			t.Errorf("%s: %s's centre's tile: %d, %d bytes, want empty", code, other, status, len(body))
		}
	}
}

// Each town's live feed is its own: /t/torgiano/api/live speaks of
// Torgiano's zones, /t/deruta/api/live of Deruta's (a hub per town, over
// the town's records).
func TestLivePerTown(t *testing.T) {
	_, srv := start(t, Config{DemoRecords: 20000, DemoSeed: 3, LiveInterval: time.Second})
	for code, want := range map[string]string{"deruta": "piazza-dei-consoli", "torgiano": "piazza-baglioni"} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/t/"+code+"/api/live", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev struct {
			Zones []struct{ Zone string } `json:"zones"`
		}
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				if err := json.Unmarshal([]byte(data), &ev); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
		res.Body.Close()
		cancel()
		var zones []string
		for _, z := range ev.Zones {
			zones = append(zones, z.Zone)
		}
		if !slices.Contains(zones, want) {
			t.Errorf("%s's live zones %v, want %s among them", code, zones, want)
		}
		other := map[string]string{"deruta": "piazza-baglioni", "torgiano": "piazza-dei-consoli"}[code]
		if slices.Contains(zones, other) {
			t.Errorf("%s's live zones %v hold the other town's %s", code, zones, other)
		}
	}
}
