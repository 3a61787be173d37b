package app

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

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
		!strings.Contains(err.Error(), "unknown town assisi (the towns are deruta)") {
		t.Fatalf("serving a town the demo does not have: %v", err)
	}
}

// With PostGIS the towns come from the town table: the served town's name
// and kiosk settings reach the pages, its stricter k the published
// figures; a database of several towns is refused for now.
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
	// A second town: until the stores tell towns' records apart, a server
	// would publish both towns' people under one name, so it refuses.
	if _, err := towns.Add(ctx, pool, tiles.Town{Code: "deruta", ISTAT: "054017"}); err != nil {
		t.Fatal(err)
	}
	for _, codes := range [][]string{nil, {"deruta"}} {
		if _, err := New(ctx, Config{DatabaseURL: url, TimeZone: "Europe/Rome", Towns: codes}, nil); err == nil ||
			!strings.Contains(err.Error(), "the database has 2 towns (town, deruta)") {
			t.Fatalf("two towns, --towns %v: %v", codes, err)
		}
	}
}
