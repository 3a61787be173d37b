package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/flowtiles/flowtiles/internal/ingest"
	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/internal/testdb"
	"github.com/flowtiles/flowtiles/internal/towns"
	"github.com/flowtiles/flowtiles/tiles"
)

// Points of the town tests: the centres of Deruta and Torgiano, and
// Perugia's, which lies in neither.
var (
	inDeruta   = [2]float64{12.4177, 42.9826}
	inTorgiano = [2]float64{12.4345, 43.0257}
	inPerugia  = [2]float64{12.3883, 43.1122}
)

// The tokens of the town tests: two of Deruta (an old and a rotated one),
// one of Torgiano, one of every town.
const townTokens = "deruta:der-secret, deruta:der-rotated, torgiano:tor:secret, every-secret"

// townSink is a sink of the town tests, with a count of what it stored and
// what removes a town from under it (nil: its towns are fixed).
type townSink struct {
	sink   Sink
	rows   func(t *testing.T) int64
	remove func(t *testing.T, code string) (deleted int64)
}

// townSinks are the two sinks, each with the towns Deruta and Torgiano
// (ISTAT 054017 and 054053, perimeters from the embedded reference data).
func townSinks() map[string]func(t *testing.T) townSink {
	return map[string]func(t *testing.T) townSink{
		"embedded": func(t *testing.T) townSink {
			var ts []tiles.Town
			for i, c := range [][2]string{{"deruta", "054017"}, {"torgiano", "054053"}} {
				shape, ok, err := towns.EmbeddedMunicipality(c[1])
				if err != nil || !ok {
					t.Fatalf("%s: %v %v", c[1], ok, err)
				}
				ts = append(ts, tiles.Town{ID: int16(i), Code: c[0], ISTAT: c[1], Name: c[0], Perimeter: shape})
			}
			s := memstore.New(refdata.Italy())
			return townSink{sink: ingest.NewMemorySink(s, sourcetest.Zones(), ts),
				rows: func(*testing.T) int64 { return int64(s.Stats().Rows) }}
		},
		"postgis": func(t *testing.T) townSink {
			ctx := context.Background()
			pool := testdb.New(t)
			for _, tw := range []tiles.Town{{Code: "deruta", ISTAT: "054017"}, {Code: "torgiano", ISTAT: "054053"}} {
				if _, err := towns.Add(ctx, pool, tw); err != nil {
					t.Fatal(err)
				}
			}
			// the migration's town, without a perimeter, would take every record
			if err := towns.Remove(ctx, pool, "town"); err != nil {
				t.Fatal(err)
			}
			return townSink{sink: ingest.NewPGSink(pool, nil),
				rows: func(t *testing.T) int64 {
					var n int64
					if err := pool.QueryRow(ctx, "SELECT count(*) FROM presence").Scan(&n); err != nil {
						t.Fatal(err)
					}
					return n
				},
				remove: func(t *testing.T, code string) int64 {
					// a town with records is kept from removal: its records go first
					tag, err := pool.Exec(ctx, "DELETE FROM presence WHERE town = (SELECT id FROM town WHERE code = $1)", code)
					if err != nil {
						t.Fatal(err)
					}
					if err := towns.Remove(ctx, pool, code); err != nil {
						t.Fatal(err)
					}
					return tag.RowsAffected()
				}}
		},
	}
}

// at returns NDJSON records of visitors prefix0… at the given points, in
// order.
func at(prefix string, points ...[2]float64) string {
	var b strings.Builder
	for i, p := range points {
		fmt.Fprintf(&b, `{"observed_at":"2025-05-01T09:%02d:%02d+02:00","lon":%v,"lat":%v,"visitor_id":"%s%d"}`+"\n", i/60%60, i%60, p[0], p[1], prefix, i)
	}
	return b.String()
}

// repeat returns n copies of p.
func repeat(p [2]float64, n int) [][2]float64 {
	out := make([][2]float64, n)
	for i := range out {
		out[i] = p
	}
	return out
}

// A town's token (--ingest-token deruta:SECRET) writes only records inside
// its town: a batch with records elsewhere is refused whole, 403, naming
// those records (a bounded list) and the town each lies in; a token of
// every town writes any town. Idempotency keys are the town's: the same key
// under two towns is two batches. Both sinks.
func TestIngestTownTokens(t *testing.T) {
	for name, newSink := range townSinks() {
		t.Run(name, func(t *testing.T) {
			ts := newSink(t)
			e := echo.New()
			e.HTTPErrorHandler = statsTestErrors
			(&IngestAPI{Tokens: ParseTokens(townTokens), Sink: ts.sink, Decode: testDecode, MaxBytes: 1 << 20}).Register(e)
			srv := httptest.NewServer(e)
			defer srv.Close()
			stored := int64(0)
			ok := func(t *testing.T, token, body string, header ...string) map[string]any {
				t.Helper()
				resp, out := post(t, srv.URL, token, "application/x-ndjson", body, header...)
				if resp.StatusCode != http.StatusCreated || out["duplicate"] != false {
					t.Fatalf("%d %v, want 201 stored", resp.StatusCode, out)
				}
				stored += int64(out["records"].(float64))
				if n := ts.rows(t); n != stored {
					t.Fatalf("%d rows stored, want %d", n, stored)
				}
				return out
			}
			refused := func(t *testing.T, token, body string, count int, rows string) map[string]any {
				t.Helper()
				resp, out := post(t, srv.URL, token, "application/x-ndjson", body)
				if resp.StatusCode != http.StatusForbidden || out["error_count"] != float64(count) || fmt.Sprint(out["rows"]) != rows {
					t.Errorf("%d %v, want 403 with %d rows %s", resp.StatusCode, out, count, rows)
				}
				if n := ts.rows(t); n != stored {
					t.Fatalf("%d rows after a refused batch, want %d (nothing of it stored)", n, stored)
				}
				return out
			}

			t.Run("a record of another town", func(t *testing.T) {
				out := refused(t, "der-secret", at("a", inTorgiano), 1, "[map[record:1 town:torgiano]]")
				if out["error"] != "1 record lies outside town deruta, the token's: nothing stored" ||
					fmt.Sprint(out["errors"]) != "[record 1: in town torgiano]" {
					t.Errorf("%v", out)
				}
			})
			t.Run("a mixed batch names only the others' records", func(t *testing.T) {
				body := at("b", inDeruta, inTorgiano, inDeruta, inPerugia, inDeruta)
				out := refused(t, "der-secret", body, 2, "[map[record:2 town:torgiano] map[record:4 town:<nil>]]")
				if fmt.Sprint(out["errors"]) != "[record 2: in town torgiano record 4: outside every town]" ||
					!strings.HasPrefix(fmt.Sprint(out["error"]), "2 records lie outside town deruta") {
					t.Errorf("%v", out)
				}
				// and Torgiano's token is refused the Deruta records
				refused(t, "tor:secret", body, 4, "[map[record:1 town:deruta] map[record:3 town:deruta] map[record:4 town:<nil>] map[record:5 town:deruta]]")
			})
			t.Run("a large batch lists a bounded number", func(t *testing.T) {
				points := append(repeat(inDeruta, 50), repeat(inTorgiano, 250)...)
				resp, out := post(t, srv.URL, "der-secret", "application/x-ndjson", at("c", points...))
				rows, _ := out["rows"].([]any)
				errs, _ := out["errors"].([]any)
				if resp.StatusCode != http.StatusForbidden || out["error_count"] != 250.0 || len(rows) != maxListedErrors || len(errs) != maxListedErrors {
					t.Fatalf("%d: %d rows listed of %v (%v)", resp.StatusCode, len(rows), out["error_count"], out["error"])
				}
				if fmt.Sprint(rows[0]) != "map[record:51 town:torgiano]" || fmt.Sprint(rows[maxListedErrors-1]) != "map[record:150 town:torgiano]" ||
					errs[0] != "record 51: in town torgiano" {
					t.Errorf("listed %v … %v, %v", rows[0], rows[maxListedErrors-1], errs[0])
				}
				if n := ts.rows(t); n != stored {
					t.Fatalf("%d rows after a refused batch", n)
				}
			})
			t.Run("its own town", func(t *testing.T) {
				ok(t, "der-secret", at("d", inDeruta, inDeruta))
				ok(t, "tor:secret", at("d", inTorgiano))
			})
			t.Run("a token of every town", func(t *testing.T) {
				ok(t, "every-secret", at("e", inDeruta, inTorgiano))
				// and, as ever, no record outside every town
				resp, out := post(t, srv.URL, "every-secret", "application/x-ndjson", at("e", inDeruta, inPerugia))
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["errors"]), "record 2: lon: 12.3883,43.1122 is outside every town") {
					t.Errorf("%d %v", resp.StatusCode, out)
				}
			})
			t.Run("bytes stored before are refused all the same", func(t *testing.T) {
				// stored by the token of every town: a town's token is not
				// told they are a duplicate
				body := at("e", inDeruta, inTorgiano)
				refused(t, "der-secret", body, 1, "[map[record:2 town:torgiano]]")
				if resp, out := post(t, srv.URL, "every-secret", "application/x-ndjson", body); resp.StatusCode != http.StatusOK || out["duplicate"] != true {
					t.Errorf("the same token again: %d %v", resp.StatusCode, out)
				}
			})
			t.Run("idempotency keys are the town's", func(t *testing.T) {
				der, tor := at("f", inDeruta, inDeruta, inDeruta), at("f", inTorgiano, inTorgiano)
				ok(t, "der-secret", der, "Idempotency-Key", "feed-1")
				// the same key under another town's token: another batch
				if out := ok(t, "tor:secret", tor, "Idempotency-Key", "feed-1"); out["batch"] != "feed-1" {
					t.Errorf("%v", out)
				}
				// under another token of the same town: the town's key, bound
				// to its body (a retry after rotating the token is a retry)
				if resp, out := post(t, srv.URL, "der-rotated", "application/x-ndjson", der, "Idempotency-Key", "feed-1"); resp.StatusCode != http.StatusOK || out["duplicate"] != true {
					t.Errorf("the same key and body under a second Deruta token: %d %v", resp.StatusCode, out)
				}
				if resp, out := post(t, srv.URL, "der-rotated", "application/x-ndjson", at("g", inDeruta), "Idempotency-Key", "feed-1"); resp.StatusCode != http.StatusConflict {
					t.Errorf("the same key, another body, under a second Deruta token: %d %v", resp.StatusCode, out)
				}
				// a token of every town has keys of its own
				ok(t, "every-secret", at("h", inDeruta), "Idempotency-Key", "feed-1")
			})
			if ts.remove != nil {
				t.Run("a town removed while the server runs", func(t *testing.T) {
					stored -= ts.remove(t, "torgiano")
					out := refused(t, "tor:secret", at("i", inTorgiano, inDeruta), 2, "[map[record:1 town:<nil>] map[record:2 town:deruta]]")
					if out["error"] != "the token's town torgiano is not a town of this server: nothing stored" {
						t.Errorf("%v", out)
					}
				})
			}
		})
	}
}
