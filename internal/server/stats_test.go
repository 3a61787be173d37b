package server

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/internal/admit"
	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/internal/stats"
	"github.com/flowtiles/flowtiles/tiles"
)

// statsEnv is a memory store with the test zones, and the stats, live and
// ingest endpoints on one Echo.
type statsEnv struct {
	e      *echo.Echo
	store  *memstore.Store
	places *tiles.Gazetteer
}

// statsResolver resolves origins with the catalog and zones by name.
type statsResolver struct{ places *tiles.Gazetteer }

func (r statsResolver) ResolveOrigin(code string) ([]string, bool) {
	return refdata.Italy().ResolveOrigin(code)
}

func (r statsResolver) ZoneID(name string) (int, bool) {
	p, ok := r.places.ByCode(tiles.LevelZone, name)
	if !ok {
		return 0, false
	}
	return int(p.Key), true
}

// statsTestErrors stands in for the central error handler: typed filter
// errors are 400s naming the parameter.
func statsTestErrors(err error, c echo.Context) {
	errorsOnly.handleError(err, c)
}

// errorsOnly is a server that only answers errors: the central error
// handler, for test routes registered on a bare Echo.
var errorsOnly = &Server{log: slog.New(slog.DiscardHandler), cfg: Config{RetryAfter: time.Second}}

// crowdAt returns n visitors each seen twice at p, 40 minutes apart,
// starting at the given local time.
func crowdAt(prefix string, n int, p orb.Point, at time.Time, nat string) []presence.Record {
	c, _ := tiles.ParseCountry(nat)
	var out []presence.Record
	for i := range n {
		v := presence.VisitorHash(fmt.Sprintf("%s%d", prefix, i))
		for _, d := range []time.Duration{0, 40 * time.Minute} {
			out = append(out, presence.Record{ObservedAt: at.Add(d), Lon: p[0], Lat: p[1], Weight: 1, Visitor: v, Nationality: c, Age: tiles.Age25to34})
		}
	}
	return out
}

func newStatsEnv(t testing.TB, recs []presence.Record) *statsEnv {
	t.Helper()
	return newStatsEnvWith(t, recs, nil)
}

// newStatsEnvWith is newStatsEnv whose reports wait for a slot of heavy.
func newStatsEnvWith(t testing.TB, recs []presence.Record, heavy *admit.Pool) *statsEnv {
	t.Helper()
	zones := sourcetest.Zones()
	s := memstore.New(refdata.Italy())
	if err := s.Add(recs, tiles.NewZoneIndex(zones)); err != nil {
		t.Fatal(err)
	}
	places := tiles.NewGazetteer(zones)
	e := echo.New()
	e.HTTPErrorHandler = statsTestErrors
	svc := stats.New(stats.Config{Source: s, Places: places, Privacy: tiles.UnperturbedForTests(15), Loc: sourcetest.Rome})
	(&StatsAPI{Stats: svc, Loc: sourcetest.Rome, Resolver: statsResolver{places}, Heavy: heavy}).Register(e)
	return &statsEnv{e: e, store: s, places: places}
}

func (env *statsEnv) get(t testing.TB, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	env.e.ServeHTTP(rec, req)
	return rec
}

// statsFixture: Monday 3 March 2025 at 10:00, 20 Italians, 2 Germans and 3
// Americans in centro, each seen at 10:00 and 10:40. (Two small rows: one
// alone would be the total minus Italy, and the margin rule would withhold
// Italy with it.)
func statsFixture() []presence.Record {
	at := time.Date(2025, 3, 3, 10, 0, 0, 0, sourcetest.Rome)
	recs := append(crowdAt("it", 20, sourcetest.Centre, at, "IT"), crowdAt("de", 2, sourcetest.Centre, at, "DE")...)
	return append(recs, crowdAt("us", 3, sourcetest.Centre, at, "US")...)
}

func TestStatsJSON(t *testing.T) {
	env := newStatsEnv(t, statsFixture())
	rec := env.get(t, "/api/stats?zone=centro&from=2025-03-03&to=2025-03-03&by=nationality")
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("%d %s: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	var rep struct {
		Area   map[string]any `json:"area"`
		Period struct {
			Total map[string]any   `json:"total"`
			Rows  []map[string]any `json:"rows"`
		} `json:"period"`
		Units map[string]string `json:"units"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	// 25 people, 50 presences, 25 visits of 40 minutes each.
	total, _ := json.Marshal(rep.Period.Total)
	want := `{"dwell_30_120_share":{"value":1},"dwell_median_minutes":{"value":40},"dwell_over_120_share":{"value":0},"dwell_under_30_share":{"value":0},` +
		`"key":"total","label":"All","presences":{"value":50},"repeat_visitors":{"value":0},"visitors":{"value":25},"visits":{"value":25}}`
	if string(total) != want {
		t.Errorf("total %s\nwant  %s", total, want)
	}
	// Germany (2 people) is withheld; Italy (20) is shown.
	rows, _ := json.Marshal(rep.Period.Rows)
	if !strings.Contains(string(rows), `{"key":"DE","label":"DE","suppressed":true}`) || !strings.Contains(string(rows), `"key":"IT","label":"IT","presences":{"value":40}`) {
		t.Errorf("rows: %s", rows)
	}
	if rep.Area["kind"] != "zone" || rep.Units["dwell_median_minutes"] != "minutes" {
		t.Errorf("area %v, units %v", rep.Area, rep.Units)
	}
}

// A JSON report asked for again over the same data is its first answer's
// bytes, kept (gzipped, and plain for a client without gzip), with the
// same ETag, and 304 to a client that has it, without waiting for a heavy
// slot, where a report not kept waits; the bytes are what Echo's JSON
// writes (compared with its indented form, compacted); and new data make
// a new report, not the kept one.
func TestStatsJSONKept(t *testing.T) {
	heavy := admit.New(admit.Config{Slots: 1, QueueWait: 20 * time.Millisecond})
	env := newStatsEnvWith(t, statsFixture(), heavy)
	const target = "/api/stats?zone=centro&from=2025-03-03&to=2025-03-03&by=nationality"
	first := env.get(t, target)
	etag := first.Header().Get("ETag")
	if first.Code != http.StatusOK || etag == "" || first.Header().Get("Cache-Control") != "no-cache" ||
		first.Header().Get("Content-Type") != echo.MIMEApplicationJSON {
		t.Fatalf("first: %d, ETag %q, Cache-Control %q, Content-Type %q", first.Code, etag, first.Header().Get("Cache-Control"), first.Header().Get("Content-Type"))
	}
	again := env.get(t, target)
	if again.Code != http.StatusOK || again.Body.String() != first.Body.String() || again.Header().Get("ETag") != etag {
		t.Fatalf("again: %d, ETag %q against %q, same body: %v", again.Code, again.Header().Get("ETag"), etag, again.Body.String() == first.Body.String())
	}
	gz := env.get(t, target, "Accept-Encoding", "gzip")
	plain, err := gunzipAll(gz.Body.Bytes())
	if gz.Header().Get("Content-Encoding") != "gzip" || err != nil || string(plain) != first.Body.String() {
		t.Fatalf("gzipped: Content-Encoding %q, %v, same body: %v", gz.Header().Get("Content-Encoding"), err, string(plain) == first.Body.String())
	}
	if rec := env.get(t, target, "If-None-Match", etag); rec.Code != http.StatusNotModified {
		t.Fatalf("If-None-Match its ETag: %d", rec.Code)
	}
	release, err := heavy.Acquire(context.Background(), "someone else")
	if err != nil {
		t.Fatal(err)
	}
	if rec := env.get(t, target, "Accept-Encoding", "gzip"); rec.Code != http.StatusOK || rec.Body.String() != gz.Body.String() {
		t.Errorf("the kept report, gzipped, with the only heavy slot taken: %d %s", rec.Code, rec.Body)
	}
	if rec := env.get(t, target, "If-None-Match", etag); rec.Code != http.StatusNotModified {
		t.Errorf("the kept report's ETag with the only heavy slot taken: %d %s", rec.Code, rec.Body)
	}
	// its plain bytes are decompressed for the client, its brotli made
	// for the first client that asks: they wait
	if rec := env.get(t, target); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("the kept report, plain, with the only heavy slot taken: %d", rec.Code)
	}
	if rec := env.get(t, target, "Accept-Encoding", "br"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("the kept report's first brotli with the only heavy slot taken: %d", rec.Code)
	}
	release()
	if rec := env.get(t, target, "Accept-Encoding", "br"); rec.Code != http.StatusOK || rec.Header().Get("Content-Encoding") != "br" {
		t.Fatalf("the kept report's first brotli: %d %q", rec.Code, rec.Header().Get("Content-Encoding"))
	}
	if release, err = heavy.Acquire(context.Background(), "someone else"); err != nil {
		t.Fatal(err)
	}
	if rec := env.get(t, target, "Accept-Encoding", "br"); rec.Code != http.StatusOK {
		t.Errorf("the kept report's brotli, made, with the only heavy slot taken: %d", rec.Code)
	}
	if rec := env.get(t, target+"&gender=f"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("a report not kept with the only heavy slot taken: %d %s", rec.Code, rec.Body)
	}
	release()
	pretty := env.get(t, target+"&pretty")
	var compact bytes.Buffer
	if err := json.Compact(&compact, pretty.Body.Bytes()); err != nil || compact.String()+"\n" != first.Body.String() {
		t.Fatalf("Echo's JSON (pretty, compacted) differs from the kept report (%v):\n%s\n%s", err, compact.String(), first.Body)
	}

	// five more Germans: a new data version, a new report
	at := time.Date(2025, 3, 3, 10, 0, 0, 0, sourcetest.Rome)
	if err := env.store.Add(crowdAt("de2-", 5, sourcetest.Centre, at, "DE"), tiles.NewZoneIndex(sourcetest.Zones())); err != nil {
		t.Fatal(err)
	}
	fresh := env.get(t, target)
	if fresh.Code != http.StatusOK || fresh.Header().Get("ETag") == etag || !strings.Contains(fresh.Body.String(), `"visitors":{"value":30}`) {
		t.Fatalf("after new data: %d, ETag %q (was %q): %s", fresh.Code, fresh.Header().Get("ETag"), etag, fresh.Body)
	}
}

func TestStatsCSV(t *testing.T) {
	env := newStatsEnv(t, statsFixture())
	for _, c := range []struct{ target, accept string }{
		{"/api/stats?zone=centro&by=nationality&format=csv", ""},
		{"/api/stats?zone=centro&by=nationality", "text/csv"},
		{"/api/stats?zone=centro&by=nationality", "text/csv, application/json;q=0.5"},
	} {
		rec := env.get(t, c.target, "Accept", c.accept)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/csv; charset=utf-8" {
			t.Fatalf("%s (Accept %q): %d %s", c.target, c.accept, rec.Code, rec.Header().Get("Content-Type"))
		}
		if cd := rec.Header().Get("Content-Disposition"); cd != `attachment; filename=flowtiles-stats-zone-centro-by-nationality.csv` {
			t.Errorf("Content-Disposition: %s", cd)
		}
		r := csv.NewReader(strings.NewReader(rec.Body.String()))
		r.Comment = '#'
		lines, err := r.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) != 5 || lines[0][0] != "key" || lines[1][0] != "total" || lines[2][0] != "DE" || lines[3][0] != "IT" || lines[4][0] != "US" {
			t.Fatalf("CSV lines: %q", lines)
		}
		if de := lines[2]; de[2] != "" || de[len(de)-1] != "row" {
			t.Errorf("DE must be withheld and marked: %q", de)
		}
		if it := lines[3]; it[2] != "40" || it[3] != "20" {
			t.Errorf("IT: %q", it)
		}
	}
	// JSON is the default, also for browsers' Accept headers.
	for _, accept := range []string{"", "text/html,application/xhtml+xml,*/*;q=0.8", "application/json, text/csv"} {
		if rec := env.get(t, "/api/stats?zone=centro", "Accept", accept); !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Errorf("Accept %q: %s", accept, rec.Header().Get("Content-Type"))
		}
	}
}

func TestStatsErrors(t *testing.T) {
	env := newStatsEnv(t, statsFixture())
	for target, param := range map[string]string{
		"/api/stats": "zone|municipality|bbox",
		"/api/stats?zone=centro&bbox=12,42,13,43":        "bbox",
		"/api/stats?zone=nowhere":                        "zone",
		"/api/stats?municipality=054017":                 "municipality", // no boundary loaded
		"/api/stats?municipality=12":                     "municipality",
		"/api/stats?bbox=12,42,13":                       "bbox",
		"/api/stats?bbox=13,42,12,43":                    "bbox",
		"/api/stats?zone=centro&by=week":                 "by",
		"/api/stats?zone=centro&gender=q":                "gender",
		"/api/stats?zone=centro&days=monday":             "days",
		"/api/stats?zone=centro&format=xml":              "format",
		"/api/stats?zone=centro&compare_from=2025-03-01": "compare_to",
	} {
		rec := env.get(t, target)
		var body map[string]string
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != http.StatusBadRequest || body["param"] != param || body["error"] == "" {
			t.Errorf("%s: %d %s, want 400 naming %s", target, rec.Code, rec.Body, param)
		}
	}
}
