package app

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowtiles/flowtiles/internal/db"
	"github.com/flowtiles/flowtiles/internal/testdb"
	"github.com/flowtiles/flowtiles/internal/towns"
	"github.com/flowtiles/flowtiles/tiles"
)

// postIngest posts one CSV record at Deruta's centre with token.
func postIngest(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/api/ingest",
		strings.NewReader("observed_at,lon,lat\n2025-05-01T09:30:00+02:00,12.4177,42.9826\n"))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "text/csv")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// A town's ingest token names a town the server has: a token of another,
// or one that cannot be read, stops the start with an error that names
// the town (never the secret). Embedded, the demo's deruta and torgiano.
func TestIngestTokenTownsEmbedded(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct{ token, want string }{
		{"assisi:hidden-secret", "--ingest-token: a token of town assisi, which the embedded demo does not have (it has deruta, torgiano)"},
		{"Deruta:hidden-secret", "--ingest-token: token 1: the text before its first ':' is not a town code"},
		{"deruta:", "--ingest-token: token 1: a token of town deruta with an empty secret"},
	} {
		_, err := New(ctx, Config{TimeZone: "Europe/Rome", DemoRecords: 1000, DemoSeed: 3, IngestToken: []string{c.token}}, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "hidden") {
			t.Errorf("%q: %v, want %q", c.token, err, c.want)
		}
	}
	_, srv := start(t, Config{DemoRecords: 1000, DemoSeed: 3, IngestToken: []string{"deruta:der-secret"}})
	if code, body := postIngest(t, srv.URL, "der-secret"); code != http.StatusCreated {
		t.Fatalf("the demo town's token: %d %s", code, body)
	}
}

// With PostGIS, the town of a token must be in the database at start (add
// it first); the server then takes its batches.
func TestIngestTokenTownsPostGIS(t *testing.T) {
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
	_, err = New(ctx, Config{DatabaseURL: url, TimeZone: "Europe/Rome", IngestToken: []string{"deruta:hidden-secret"}}, nil)
	if err == nil || strings.Contains(err.Error(), "hidden") || !strings.Contains(err.Error(),
		"--ingest-token: a token of town deruta, which the database does not have (it has town); add it first with `flowtiles towns add deruta --istat CODE`") {
		t.Fatalf("a town the database does not have: %v", err)
	}
	if _, err := towns.Add(ctx, pool, tiles.Town{Code: "deruta", ISTAT: "054017"}); err != nil {
		t.Fatal(err)
	}
	if err := towns.Remove(ctx, pool, "town"); err != nil {
		t.Fatal(err)
	}
	_, srv := newPostGISApp(t, url, Config{IngestToken: []string{"deruta:der-secret"}})
	if code, body := postIngest(t, srv.URL, "der-secret"); code != http.StatusCreated {
		t.Fatalf("the database town's token: %d %s", code, body)
	}
}
