package ingest

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkt"

	"github.com/flowtiles/flowtiles/internal/db"
	"github.com/flowtiles/flowtiles/internal/demo"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/internal/testdb"
	"github.com/flowtiles/flowtiles/tiles"
)

// The kill test re-executes this test binary as a loader that stops in
// the middle of its COPY, and kills it there.
const (
	envChildFile = "FLOWTILES_INGEST_TEST_CHILD_FILE"
	envChildURL  = "FLOWTILES_INGEST_TEST_CHILD_URL"
	childMarker  = "COPYING"
)

func TestMain(m *testing.M) {
	if file := os.Getenv(envChildFile); file != "" {
		os.Exit(child(file, os.Getenv(envChildURL)))
	}
	os.Exit(m.Run())
}

// child loads file and, once 5,000 rows are in the COPY stream, says so on
// stdout and hangs until it is killed.
func child(file, url string) int {
	ctx := context.Background()
	pool, err := db.Open(ctx, url, 10*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	l := &Loader{Pool: pool}
	_, err = l.LoadFile(ctx, file, Options{Progress: func(p Progress) {
		if p.Phase == "load" && p.Rows >= 5000 {
			fmt.Println(childMarker)
			time.Sleep(time.Minute)
		}
	}})
	fmt.Fprintln(os.Stderr, "child finished:", err)
	return 3
}

// fixture copies testdata/ingest/name into a fresh directory (rejects files
// are written beside it) and returns its path.
func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "ingest", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

type counts struct{ rows, weight, committed, rejected int64 }

func count(t *testing.T, pool *pgxpool.Pool) counts {
	t.Helper()
	var c counts
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM presence), (SELECT coalesce(sum(weight), 0) FROM presence),
		(SELECT count(*) FROM ingest_batch WHERE status = 'committed'),
		(SELECT count(*) FROM ingest_batch WHERE status = 'rejected')`).Scan(&c.rows, &c.weight, &c.committed, &c.rejected)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLoadGoodFiles(t *testing.T) {
	pool := testdb.New(t)
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		t.Fatal(err)
	}
	l := &Loader{Pool: pool}
	want := counts{}
	for _, tc := range []struct {
		file         string
		rows, weight int64
	}{{"good.csv", 6, 20}, {"good.ndjson", 4, 17}, {"good.geojson", 4, 17}} {
		t.Run(tc.file, func(t *testing.T) {
			res, err := l.LoadFile(ctx, fixture(t, tc.file), Options{})
			if err != nil {
				t.Fatalf("%s: %v", tc.file, err)
			}
			if res.Duplicate || res.Rows != tc.rows || res.Loaded != tc.rows || res.Weight != tc.weight || res.Rejected != 0 || res.Batch == 0 {
				t.Fatalf("%s: %+v", tc.file, res)
			}
			want.rows += tc.rows
			want.weight += tc.weight
			want.committed++
			if got := count(t, pool); got != want {
				t.Fatalf("%s: %+v, want %+v", tc.file, got, want)
			}
			nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			n, err := conn.Conn().WaitForNotification(nctx)
			cancel()
			if err != nil || n.Payload != fmt.Sprint(res.Batch) {
				t.Fatalf("%s: notification %+v, %v; want batch %d", tc.file, n, err, res.Batch)
			}
			var (
				source, sum, status string
				read, loaded, wt    int64
				from, to            time.Time
			)
			if err := pool.QueryRow(ctx, `SELECT source, checksum, status, rows_read, rows_loaded, weight_loaded, min_observed_at, max_observed_at
				FROM ingest_batch WHERE id = $1`, res.Batch).Scan(&source, &sum, &status, &read, &loaded, &wt, &from, &to); err != nil {
				t.Fatal(err)
			}
			if source != tc.file || sum != res.Checksum || len(sum) != 64 || status != "committed" || read != tc.rows || loaded != tc.rows || wt != tc.weight ||
				!from.Equal(time.Date(2024, 5, 1, 7, 30, 0, 0, time.UTC)) {
				t.Errorf("%s: batch row %s %s %s %d %d %d %v %v", tc.file, source, sum, status, read, loaded, wt, from, to)
			}
		})
	}
	// The first record of good.csv, as stored: the visitor's hash only,
	// world coordinates, the attributes, in its town's month's partition.
	var (
		lon, lat                    float64
		wx, wy                      int64
		weight                      int32
		visitor                     *int64
		age, gender, nat, orig, spd *string
		part                        string
	)
	err = pool.QueryRow(ctx, `SELECT ST_X(geom), ST_Y(geom), wx, wy, weight, visitor, age_band, gender, nationality, origin_code, spend_class, tableoid::regclass::text
		FROM presence WHERE observed_at = '2024-05-01T07:30:00Z' AND batch_id = (SELECT min(id) FROM ingest_batch)`).
		Scan(&lon, &lat, &wx, &wy, &weight, &visitor, &age, &gender, &nat, &orig, &spd, &part)
	if err != nil {
		t.Fatal(err)
	}
	w := tiles.Project(12.4172, 42.9812)
	if lon != 12.4172 || lat != 42.9812 || wx != int64(w.X) || wy != int64(w.Y) || weight != 1 || visitor == nil || *visitor != presence.VisitorHash("v-001") ||
		*age != "35-44" || *gender != "f" || *nat != "IT" || *orig != "054017" || *spd != "medium" || part != "presence_t0_y2024m05" {
		t.Errorf("stored: %v %v %d %d %d %v %s %s %s %s %s %s", lon, lat, wx, wy, weight, visitor, *age, *gender, *nat, *orig, *spd, part)
	}
	var parts int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'presence_t0'::regclass`).Scan(&parts); err != nil || parts != 2 {
		t.Errorf("partitions: %d, %v (want town 0's May and June 2024)", parts, err)
	}
}

func TestRejectWhole(t *testing.T) {
	pool := testdb.New(t)
	l := &Loader{Pool: pool}
	for _, tc := range []struct {
		file   string
		count  int64
		first  string
		listed int
	}{
		{"bad.csv", 16, `bad.csv:3: observed_at: "2024-05-01 09:30" is not an RFC 3339 timestamp with offset (like 2024-05-01T09:30:00+02:00)`, 16},
		{"bad.ndjson", 6, `bad.ndjson:2: weight: "0" is not a positive integer`, 6},
		{"bad.geojson", 5, `bad.geojson:3: geometry: "LineString" is not a Point`, 5},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := fixture(t, tc.file)
			res, err := l.LoadFile(context.Background(), path, Options{})
			var inv *InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("%s: %v, want an InvalidError", tc.file, err)
			}
			if inv.Count != tc.count || len(inv.Errors) != tc.listed || inv.Errors[0].Error() != filepath.Join(filepath.Dir(path), tc.first) {
				t.Errorf("%s: %d errors, %d listed, the first %v", tc.file, inv.Count, len(inv.Errors), inv.Errors[0])
			}
			for _, e := range inv.Errors {
				if !strings.HasPrefix(e.Error(), fmt.Sprintf("%s:%d: %s: ", path, e.Line, e.Column)) {
					t.Errorf("%s: %q is not file:line: column: reason", tc.file, e)
				}
			}
			if want := fmt.Sprintf("%s: %d invalid rows: nothing loaded (--skip-invalid loads the valid rows)", path, tc.count); err.Error() != want {
				t.Errorf("%s: %q, want %q", tc.file, err, want)
			}
			if res.Batch == 0 || res.Loaded != 0 || res.Rejected != tc.count {
				t.Errorf("%s: result %+v", tc.file, res)
			}
			if _, err := os.Stat(RejectsPath(path)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s: a rejects file without --skip-invalid: %v", tc.file, err)
			}
			if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
				t.Errorf("%s: files left beside the input: %v", tc.file, entries)
			}
		})
	}
	if got := count(t, pool); got != (counts{rejected: 3}) {
		t.Errorf("after rejected loads: %+v, want nothing but 3 rejected batches", got)
	}
	// The list is capped; the count is not.
	_, err := l.LoadFile(context.Background(), fixture(t, "bad.csv"), Options{MaxErrors: 3})
	var inv *InvalidError
	if !errors.As(err, &inv) || inv.Count != 16 || len(inv.Errors) != 3 || inv.Errors[2].Line != 5 {
		t.Errorf("capped: %v", err)
	}
}

func TestFileFaults(t *testing.T) {
	pool := testdb.New(t)
	l := &Loader{Pool: pool}
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ctx := context.Background()
	for _, tc := range []struct{ name, body, want string }{
		{"header.csv", "when,lon,lat\n2024-05-01T09:30:00Z,12,42\n", `header.csv:1: header: unknown column "when"`},
		{"empty.csv", "observed_at,lon,lat\n", `empty.csv: no records`},
		{"broken.geojson", `{"type":"FeatureCollection","features":[` + "\n" + `{"type":"Feature","geometry":{"type":"Point","coordinates":[12,42]},"properties":{"observed_at":"2024-05-01T09:30:00Z"}},` + "\n{", `broken.geojson:3: record: bad JSON`},
	} {
		for _, skip := range []bool{false, true} {
			_, err := l.LoadFile(ctx, write(tc.name, tc.body), Options{SkipInvalid: skip})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s (skip %v): %v, want %q", tc.name, skip, err, tc.want)
			}
		}
	}
	if _, err := l.LoadFile(ctx, filepath.Join(dir, "missing.csv"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if got := count(t, pool); got.rows != 0 || got.committed != 0 || got.rejected != 6 {
		t.Errorf("after faulty files: %+v", got)
	}
}

func TestSkipInvalid(t *testing.T) {
	pool := testdb.New(t)
	l := &Loader{Pool: pool}
	ctx := context.Background()
	var want counts
	for _, tc := range []struct {
		file           string
		loaded, reject int64
		header         []string
	}{
		{"bad.csv", 2, 16, []string{"observed_at", "lon", "lat", "weight", "visitor_id", "age_band", "gender", "nationality", "origin_code", "spend_class", "error"}},
		{"bad.ndjson", 1, 6, []string{"line", "error", "record"}},
		{"bad.geojson", 1, 5, []string{"line", "error", "record"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := fixture(t, tc.file)
			res, err := l.LoadFile(ctx, path, Options{SkipInvalid: true, MaxErrors: 2})
			if err != nil {
				t.Fatalf("%s: %v", tc.file, err)
			}
			if res.Loaded != tc.loaded || res.Rejected != tc.reject || len(res.Errors) != 2 || res.Rejects != RejectsPath(path) {
				t.Errorf("%s: %+v", tc.file, res)
			}
			want.rows += tc.loaded
			want.weight += tc.loaded
			want.committed++
			f, err := os.Open(RejectsPath(path))
			if err != nil {
				t.Fatal(err)
			}
			cr := csv.NewReader(f)
			cr.FieldsPerRecord = -1 // rows as written, short ones too
			rows, err := cr.ReadAll()
			f.Close()
			if err != nil {
				t.Fatalf("%s rejects: %v", tc.file, err)
			}
			if len(rows) != int(tc.reject)+1 || strings.Join(rows[0], ",") != strings.Join(tc.header, ",") {
				t.Fatalf("%s rejects: %d rows, header %q", tc.file, len(rows), rows[0])
			}
			for _, r := range rows[1:] {
				if msg := r[len(r)-1]; tc.file != "bad.csv" && msg != r[1] || !strings.HasPrefix(msg, path+":") {
					// CSV rows end with the error; JSON rows carry it second
					if tc.file == "bad.csv" || !strings.HasPrefix(r[1], path+":") {
						t.Errorf("%s rejects row %q", tc.file, r)
					}
				}
			}
			if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 2 {
				t.Errorf("%s: files beside the input: %v", tc.file, entries)
			}
			// the same file again, with or without the flag: already loaded
			for _, skip := range []bool{true, false} {
				res, err := l.LoadFile(ctx, path, Options{SkipInvalid: skip})
				if err != nil || !res.Duplicate || res.Loaded != 0 {
					t.Errorf("%s again (skip %v): %+v %v", tc.file, skip, res, err)
				}
			}
		})
	}
	if got := count(t, pool); got != want {
		t.Errorf("%+v, want %+v", got, want)
	}
}

func TestLoadTwice(t *testing.T) {
	pool := testdb.New(t)
	l := &Loader{Pool: pool}
	ctx := context.Background()
	path := fixture(t, "good.csv")
	first, err := l.LoadFile(ctx, path, Options{})
	if err != nil || first.Duplicate {
		t.Fatal(first, err)
	}
	again, err := l.LoadFile(ctx, path, Options{})
	if err != nil || !again.Duplicate || again.Checksum != first.Checksum || again.Batch != 0 {
		t.Fatalf("again: %+v %v", again, err)
	}
	// A copy under another name is the same bytes: also a no-op.
	other := filepath.Join(t.TempDir(), "renamed.csv")
	b, _ := os.ReadFile(path)
	os.WriteFile(other, b, 0o644)
	if res, err := l.LoadFile(ctx, other, Options{}); err != nil || !res.Duplicate {
		t.Fatalf("renamed copy: %+v %v", res, err)
	}
	if got := count(t, pool); got != (counts{rows: 6, weight: 20, committed: 1}) {
		t.Fatalf("after three loads of one file: %+v", got)
	}
	// Several loads of a new file at once: one loads it, the others find it loaded.
	path = fixture(t, "good.ndjson")
	var wg sync.WaitGroup
	results := make([]*Result, 4)
	errs := make([]error, 4)
	for i := range results {
		wg.Go(func() { results[i], errs[i] = l.LoadFile(ctx, path, Options{}) })
	}
	wg.Wait()
	loaded := 0
	for i, r := range results {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !r.Duplicate {
			loaded++
		}
	}
	if got := count(t, pool); loaded != 1 || got != (counts{rows: 10, weight: 37, committed: 2}) {
		t.Fatalf("concurrent loads: %d loaded, %+v", loaded, got)
	}
}

// bigFile writes n generated records as CSV.
func bigFile(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "big.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "observed_at,lon,lat,weight,visitor_id,age_band,gender,nationality,origin_code,spend_class")
	start := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		fmt.Fprintf(w, "%s,%.6f,%.6f,%d,v%d,35-44,f,IT,054017,medium\n", start.Add(time.Duration(i)*time.Minute).Format(time.RFC3339),
			12.41+float64(i%1000)*1e-5, 42.97+float64(i%777)*1e-5, 1+i%3, i%5000)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path
}

func TestKillMidCopy(t *testing.T) {
	_, url := testdb.Create(t)
	path := bigFile(t, 60_000)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChildFile+"="+path, envChildURL+"="+url)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	said := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == childMarker {
				said <- true
				break
			}
		}
		io.Copy(io.Discard, out)
		close(said)
	}()
	select {
	case ok := <-said:
		if !ok {
			cmd.Wait()
			t.Fatal("the loader ended before copying")
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("the loader did not reach its COPY in 30 s")
	}
	ctx := context.Background()
	pool, err := db.Open(ctx, url, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// Mid-COPY, the batch is invisible, and readers are not blocked...
	var copying int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'copy %presence%' AND state = 'active'`).Scan(&copying); err != nil || copying != 1 {
		t.Fatalf("the loader is not in its COPY: %d, %v", copying, err)
	}
	if got := count(t, pool); got != (counts{}) {
		t.Fatalf("during the load: %+v", got)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	// ...and after SIGKILL nothing of it is left.
	if got := count(t, pool); got != (counts{}) {
		t.Fatalf("after the kill: %+v, want nothing", got)
	}
	// The file was not loaded: loading it now does it whole.
	l := &Loader{Pool: pool}
	res, err := l.LoadFile(ctx, path, Options{})
	if err != nil || res.Duplicate || res.Loaded != 60_000 {
		t.Fatalf("reload: %+v %v", res, err)
	}
	if got := count(t, pool); got.rows != 60_000 || got.committed != 1 {
		t.Fatalf("after the reload: %+v", got)
	}
}

func TestCancelMidCopy(t *testing.T) {
	pool := testdb.New(t)
	path := bigFile(t, 20_000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := &Loader{Pool: pool}
	_, err := l.LoadFile(ctx, path, Options{Progress: func(p Progress) {
		if p.Phase == "load" && p.Rows >= 5000 {
			cancel() // SIGINT: the command's context ends
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled load: %v", err)
	}
	if got := count(t, pool); got != (counts{}) {
		t.Fatalf("after a cancelled load: %+v", got)
	}
}

func TestFileChangedBetweenPasses(t *testing.T) {
	pool := testdb.New(t)
	path := fixture(t, "good.csv")
	l := &Loader{Pool: pool}
	_, err := l.LoadFile(context.Background(), path, Options{Progress: func(p Progress) {
		if p.Phase == "validate" && p.Done {
			f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			fmt.Fprintln(f, "2024-05-01T10:00:00+02:00,12.4,42.9,1,,,,,,")
			f.Close()
		}
	}})
	if err == nil || !strings.Contains(err.Error(), "changed") {
		t.Fatalf("file changed between passes: %v", err)
	}
	if got := count(t, pool); got != (counts{}) {
		t.Fatalf("%+v", got)
	}
}

// insertZones writes zones into the zone table, as `areas import` would.
func insertZones(t *testing.T, pool *pgxpool.Pool, zones []tiles.Place) {
	t.Helper()
	for _, z := range zones {
		if _, err := pool.Exec(context.Background(), `INSERT INTO zone (id, name, geom) VALUES ($1, $2, ST_Multi(ST_GeomFromText($3, 4326)))`,
			z.Key, z.Code, wkt.MarshalString(z.Shape)); err != nil {
			t.Fatal(err)
		}
	}
}

type stored struct {
	x, y  uint32
	zones uint16
}

// storedRows reads (wx, wy, zones) of every presence row as a multiset.
func storedRows(t *testing.T, pool *pgxpool.Pool) map[stored]int {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT wx, wy, zones FROM presence`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[stored]int{}
	for rows.Next() {
		var wx, wy int64
		var z int32
		if err := rows.Scan(&wx, &wy, &z); err != nil {
			t.Fatal(err)
		}
		got[stored{uint32(wx), uint32(wy), uint16(z)}]++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// memRows is the same multiset as the memory store computes it.
func memRows(t *testing.T, recs []presence.Record, zones []tiles.Place) map[stored]int {
	t.Helper()
	want := map[stored]int{}
	masks := 0
	for _, r := range recs {
		w, z := r.World(), tiles.ZoneMask(zones, orb.Point{r.Lon, r.Lat})
		want[stored{w.X, w.Y, z}]++
		if z != 0 {
			masks++
		}
	}
	if masks == 0 || masks == len(recs) {
		t.Fatalf("%d of %d records in a zone: the test proves nothing", masks, len(recs))
	}
	return want
}

func sameRows(t *testing.T, got, want map[stored]int) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d distinct (wx, wy, zones), want %d", len(got), len(want))
	}
	bad := 0
	for k, n := range want {
		if got[k] != n && bad < 5 {
			bad++
			t.Errorf("%+v: %d rows, memstore %d", k, got[k], n)
		}
	}
}

func TestZoneMaskMatchesMemstore(t *testing.T) {
	pool := testdb.New(t)
	zones := sourcetest.Zones()
	insertZones(t, pool, zones)
	recs := sourcetest.Records(sourcetest.Seed(t), 4000)
	b, err := demo.NDJSON(recs)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "records.ndjson")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	l := &Loader{Pool: pool}
	if res, err := l.LoadFile(context.Background(), path, Options{}); err != nil || res.Loaded != 4000 {
		t.Fatalf("%+v %v", res, err)
	}
	sameRows(t, storedRows(t, pool), memRows(t, recs, zones))
}

func TestSink(t *testing.T) {
	pool := testdb.New(t)
	zones := sourcetest.Zones()
	insertZones(t, pool, zones)
	recs := sourcetest.Records(sourcetest.Seed(t), 3000)
	ctx := context.Background()
	var weight int64
	for _, r := range recs {
		weight += int64(r.Weight)
	}
	// nil zones: the sink reads the zone table.
	s := NewPGSink(pool, nil)
	dup, err := s.Store(ctx, presence.BatchID{Checksum: "sum-1", Scope: "s", Key: "batch-1"}, recs)
	if err != nil || dup {
		t.Fatalf("first store: %v %v", dup, err)
	}
	want := counts{rows: 3000, weight: weight, committed: 1}
	if got := count(t, pool); got != want {
		t.Fatalf("%+v, want %+v", got, want)
	}
	sameRows(t, storedRows(t, pool), memRows(t, recs, zones))
	// The same key and checksum again (a retry): nothing written.
	if dup, err := s.Store(ctx, presence.BatchID{Checksum: "sum-1", Scope: "s", Key: "batch-1"}, recs); err != nil || !dup {
		t.Fatalf("same key: %v %v", dup, err)
	}
	// The same key from several requests at once: stored once. (Each
	// request has records of its own: Store sets their towns.)
	var wg sync.WaitGroup
	dups := make([]bool, 6)
	errs := make([]error, 6)
	for i := range dups {
		wg.Go(func() {
			dups[i], errs[i] = NewPGSink(pool, map[int16][]tiles.Place{0: zones}).Store(ctx, presence.BatchID{Checksum: "sum-2"}, slices.Clone(recs[:100]))
		})
	}
	wg.Wait()
	stored := 0
	for i := range dups {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !dups[i] {
			stored++
		}
	}
	var w100 int64
	for _, r := range recs[:100] {
		w100 += int64(r.Weight)
	}
	want = counts{rows: 3100, weight: weight + w100, committed: 2}
	if got := count(t, pool); stored != 1 || got != want {
		t.Fatalf("concurrent: stored %d times, %+v, want %+v", stored, got, want)
	}
	var source, checksum string
	var loaded int64
	if err := pool.QueryRow(ctx, `SELECT source, checksum, rows_loaded FROM ingest_batch ORDER BY id LIMIT 1`).Scan(&source, &checksum, &loaded); err != nil ||
		source != "api" || checksum != "sum-1" || loaded != 3000 {
		t.Errorf("batch row: %s %s %d %v", source, checksum, loaded, err)
	}
	// A cancelled request stores nothing.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Store(cctx, presence.BatchID{Checksum: "sum-3"}, recs); err == nil {
		t.Error("cancelled store: no error")
	}
	if got := count(t, pool); got != want {
		t.Fatalf("after a cancelled store: %+v", got)
	}
}

// A batch announced on the channel is visible to whoever reads it then.
func TestSinkNotifies(t *testing.T) {
	pool := testdb.New(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pool.Config().ConnConfig.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		t.Fatal(err)
	}
	if _, err := NewPGSink(pool, nil).Store(ctx, presence.BatchID{Checksum: "k"}, sourcetest.Records(1, 10)); err != nil {
		t.Fatal(err)
	}
	nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := conn.WaitForNotification(nctx)
	if err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM presence WHERE batch_id = $1::bigint`, n.Payload).Scan(&rows); err != nil || rows != 10 {
		t.Fatalf("batch %s: %d rows, %v", n.Payload, rows, err)
	}
}

func TestUnmigratedDatabase(t *testing.T) {
	pool := testdb.New(t)
	if _, err := pool.Exec(context.Background(), "DROP TABLE ingest_batch"); err != nil {
		t.Fatal(err)
	}
	l := &Loader{Pool: pool}
	_, err := l.LoadFile(context.Background(), fixture(t, "good.csv"), Options{})
	if err == nil || !strings.Contains(err.Error(), "run flowtiles migrate") {
		t.Fatalf("%v", err)
	}
}
