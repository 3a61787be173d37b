package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb/geojson"

	"github.com/flowtiles/flowtiles/internal/demo"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/testdb"
	"github.com/flowtiles/flowtiles/tiles"
)

// served is an App serving on a local port.
type served struct{ URL string }

// start builds an App and serves it (hub, background tasks, HTTP) until the
// test ends; the cleanup waits for every goroutine to return.
func start(t *testing.T, cfg Config) (*App, served) {
	t.Helper()
	if cfg.TimeZone == "" {
		cfg.TimeZone = "Europe/Rome"
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := New(ctx, cfg, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		a.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return a, served{URL: "http://" + ln.Addr().String()}
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// The embedded mode, end to end over HTTP: the demo data answers tiles,
// TileJSON, stats and the pages, and an ingested batch reaches live clients.
func TestEmbeddedEndToEnd(t *testing.T) {
	a, srv := start(t, Config{DemoRecords: 60000, DemoSeed: 7, IngestToken: []string{"secret"}, LiveInterval: time.Second, IngestMaxBytes: 1 << 20})
	if a.Mode != "embedded" {
		t.Fatalf("mode %q", a.Mode)
	}
	for _, path := range []string{"/healthz", "/readyz", "/tiles", "/tiles/density.json", "/styles/planner.json", "/", "/kiosk",
		"/api/stats?zone=" + demo.Zones()[0].Code} {
		if code, body := get(t, srv.URL+path); code != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
	}
	// A density tile over the centre at zoom 16 has features.
	code, body := get(t, srv.URL+"/tiles/density/16/35028/24085.mvt")
	if code != http.StatusOK || len(body) == 0 {
		t.Errorf("density tile over the centre: %d, %d bytes", code, len(body))
	}
	code, body = get(t, srv.URL+"/tiles/density/16/35028/24085.mvt?age=old")
	if code != http.StatusBadRequest || !strings.Contains(string(body), `"age"`) {
		t.Errorf("bad filter: %d %s", code, body)
	}
	liveRoundTrip(t, srv.URL, srv.URL)
}

// liveRoundTrip posts a batch to one server and waits for the other's SSE
// stream to announce new data, within a second. It returns the batch.
func liveRoundTrip(t *testing.T, postTo, listenOn string) []presence.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, listenOn+"/api/live", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	events := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				events <- name
			}
		}
		close(events)
	}()
	// the first live event says the stream is up
	for ev := range events {
		if ev == "live" {
			break
		}
	}
	sent := time.Now()
	recs := postBatch(t, postTo, "rt", 40)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("stream ended")
			}
			if ev == "tiles" {
				t.Logf("tiles event %v after the ingest", time.Since(sent))
				return recs
			}
		case <-ctx.Done():
			t.Fatal("no tiles event after the ingest")
		}
	}
}

// postBatch posts n records of distinct people (ids prefix-0…) at the
// first demo zone, observed in the last minute, and returns them.
func postBatch(t *testing.T, url, prefix string, n int) []presence.Record {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	var csv strings.Builder
	csv.WriteString("observed_at,lon,lat,weight,visitor_id\n")
	z := demo.Zones()[0].Point
	lon, _ := strconv.ParseFloat(fmt.Sprintf("%.6f", z[0]), 64)
	lat, _ := strconv.ParseFloat(fmt.Sprintf("%.6f", z[1]), 64)
	var recs []presence.Record
	for i := range n {
		r := presence.Record{ObservedAt: now.Add(-time.Duration(i) * time.Second), Lon: lon, Lat: lat, Weight: 1,
			Visitor: presence.VisitorHash(fmt.Sprintf("%s-%d", prefix, i))}
		recs = append(recs, r)
		fmt.Fprintf(&csv, "%s,%.6f,%.6f,1,%s-%d\n", r.ObservedAt.Format(time.RFC3339), lon, lat, prefix, i)
	}
	post, _ := http.NewRequest(http.MethodPost, url+"/api/ingest", strings.NewReader(csv.String()))
	post.Header.Set("Authorization", "Bearer secret")
	post.Header.Set("Content-Type", "text/csv")
	pres, err := http.DefaultClient.Do(post)
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := io.ReadAll(pres.Body)
	pres.Body.Close()
	if pres.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/ingest: %d %s", pres.StatusCode, pb)
	}
	var stored struct{ Records int }
	json.Unmarshal(pb, &stored)
	if stored.Records != n {
		t.Fatalf("stored %s", pb)
	}
	return recs
}

// published is the visitors figure the app publishes about exactly recs
// (distinct people, each with a visitor id): the true count perturbed with
// the app's own keys, as every figure is.
func published(a *App, recs []presence.Record) float64 {
	var g tiles.Group
	for _, r := range recs {
		g.Count++
		g.Visitors++
		g.CountKey += tiles.RecordKey(r.ObservedAt.Unix(), r.World(), r.Weight, r.Visitor)
		g.PeopleKey += tiles.VisitorKey(r.Visitor)
	}
	_, v := a.sites[0].Engine.Privacy().Publish(g, false)
	n, _ := v.Value()
	return n
}

// visitors is the published visitors figure of a stats response (-1 when
// withheld).
func visitors(t *testing.T, url string) float64 {
	t.Helper()
	code, body := get(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
	var s struct {
		Period struct {
			Total struct {
				Visitors *struct{ Value float64 } `json:"visitors"`
			} `json:"total"`
		} `json:"period"`
	}
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	if s.Period.Total.Visitors == nil {
		return -1
	}
	return s.Period.Total.Visitors.Value
}

// Two instances share one PostGIS: a batch posted to one reaches the other's
// live clients (LISTEN/NOTIFY), and the other's tiles change.
func TestTwoInstancesShareOnePostGIS(t *testing.T) {
	_, url := testdb.Create(t)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for _, z := range demo.Zones() {
		if _, err := pool.Exec(context.Background(), `INSERT INTO zone (id, name, geom) VALUES ($1, $2, ST_Multi(ST_GeomFromGeoJSON($3)))`,
			z.Key, z.Code, geoJSON(z)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{DatabaseURL: url, IngestToken: []string{"secret"}, LiveInterval: time.Second, IngestMaxBytes: 1 << 20}
	a1, one := start(t, cfg)
	_, two := start(t, cfg)
	stats := "/api/stats?zone=" + demo.Zones()[0].Code
	if v := visitors(t, two.URL+stats); v != -1 {
		t.Fatalf("visitors before any ingest: %v, want withheld", v)
	}
	recs := liveRoundTrip(t, one.URL, two.URL)
	// the other instance's figures now count the 40 people posted to the
	// first, perturbed with the database's keys: the same figure
	if v, want := visitors(t, two.URL+stats), published(a1, recs); v != want {
		t.Errorf("visitors on the second instance after the ingest: %v, want %v (40 people)", v, want)
	}
	// and an instance reads its own batch as soon as its POST returns
	recs = append(recs, postBatch(t, one.URL, "again", 20)...)
	want := published(a1, recs)
	if v := visitors(t, one.URL+stats); v != want {
		t.Errorf("visitors on the first instance right after its POST: %v, want %v (60 people)", v, want)
	}
	if v := visitors(t, two.URL+stats); v != want {
		// the second instance may still be catching up: wait for it
		deadline := time.Now().Add(20 * time.Second)
		for v != want && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			v = visitors(t, two.URL+stats)
		}
		if v != want {
			t.Errorf("visitors on the second instance: %v, want %v like the first", v, want)
		}
	}
	// a third instance, started now, publishes the same figure
	_, three := start(t, cfg)
	if v := visitors(t, three.URL+stats); v != want {
		t.Errorf("visitors on a new instance: %v, want %v", v, want)
	}
}

func geoJSON(p tiles.Place) string {
	b, err := geojson.NewGeometry(p.Shape).MarshalJSON()
	if err != nil {
		panic(err)
	}
	return string(b)
}

// Without a demo start, the embedded demo is the eight months ending today:
// nothing loaded is in the future, and records whose time comes while the
// server runs are added to it (and announced) as they come.
func TestEmbeddedDemoIsLive(t *testing.T) {
	a, srv := start(t, Config{DemoRecords: 60000, DemoSeed: 3, LiveInterval: time.Second})
	now := time.Now()
	for _, r := range a.b.demo.pending {
		if r.ObservedAt.Before(now.Add(-5 * time.Second)) {
			t.Fatalf("a pending record at %v, before the start", r.ObservedAt)
		}
	}
	loc, _ := time.LoadLocation("Europe/Rome")
	zone := "/api/stats?zone=" + demo.Zones()[0].Code
	monthAgo := now.In(loc).AddDate(0, -1, 0).Format(time.DateOnly)
	if v := visitors(t, srv.URL+zone+"&from="+monthAgo); v < 15 {
		t.Errorf("visitors in the last month: %v, want the period to end today", v)
	}
	tomorrow := now.In(loc).AddDate(0, 0, 1).Format(time.DateOnly)
	if v := visitors(t, srv.URL+zone+"&from="+tomorrow); v > 0 {
		t.Errorf("%v visitors after today were loaded", v)
	}

	// The replay, on a demo of fixed (past) months: 30 people due now are
	// added and announced.
	b, bsrv := start(t, Config{DemoRecords: 20000, DemoSeed: 3, LiveInterval: time.Second, DemoStart: time.Date(2025, 1, 1, 0, 0, 0, 0, loc)})
	if len(b.b.demo.pending) != 0 {
		t.Fatalf("%d pending records with a fixed demo start", len(b.b.demo.pending))
	}
	today := now.In(loc).Format(time.DateOnly)
	if v := visitors(t, bsrv.URL+zone+"&from="+today); v > 0 {
		t.Fatalf("visitors today before the replay: %v", v)
	}
	z := demo.Zones()[0].Point
	for i := range 30 {
		b.b.demo.pending = append(b.b.demo.pending, presence.Record{ObservedAt: now.Add(time.Duration(i) * time.Millisecond).Truncate(time.Second),
			Lon: z[0], Lat: z[1], Weight: 1, Visitor: presence.VisitorHash(fmt.Sprintf("replay-%d", i))})
	}
	want := published(b, b.b.demo.pending)
	v0 := dataVersion(t, bsrv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.b.demo.every = 100 * time.Millisecond
	go b.b.demo.run(ctx) // (error ignored) ends with ctx
	deadline := time.Now().Add(10 * time.Second)
	for visitors(t, bsrv.URL+zone+"&from="+today) != want {
		if time.Now().After(deadline) {
			t.Fatal("the replayed records never reached the stats")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if dataVersion(t, bsrv.URL) == v0 {
		t.Error("the data version did not change")
	}
}

// dataVersion is the server's data version, from its tile catalog.
func dataVersion(t *testing.T, url string) uint64 {
	t.Helper()
	code, body := get(t, url+"/tiles")
	var doc struct {
		DataVersion uint64 `json:"data_version"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &doc) != nil {
		t.Fatalf("GET /tiles: %d %s", code, body)
	}
	return doc.DataVersion
}
