package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowtiles/flowtiles/internal/db"
	"github.com/flowtiles/flowtiles/internal/ingest"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/testdb"
	"github.com/flowtiles/flowtiles/internal/towns"
	"github.com/flowtiles/flowtiles/tiles"
)

// nginxBin is Debian's nginx (scripts/prereqs installs nginx-light).
const nginxBin = "/usr/sbin/nginx"

// startNginx runs nginx as a child of the test with the shipped server-group
// configuration, docs/nginx/flowtiles-groups.conf, its upstream addresses
// replaced by groupA's and groupB's, and returns its URL.
func startNginx(t *testing.T, groupA, groupB string) string {
	t.Helper()
	if _, err := os.Stat(nginxBin); err != nil {
		if os.Getenv("FLOWTILES_TEST_STRICT") != "" {
			t.Fatalf("nginx: %v (scripts/prereqs installs nginx-light)", err)
		}
		t.Skipf("nginx: %v (scripts/prereqs installs nginx-light)", err)
	}
	shipped, err := os.ReadFile("../../docs/nginx/flowtiles-groups.conf")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nginx takes the port (a race with another process is unlikely and fails loudly)
	conf := strings.NewReplacer("127.0.0.1:8081", groupA, "127.0.0.1:8082", groupB, "listen 8080;", "listen "+addr+";").Replace(string(shipped))
	for _, want := range []string{groupA, groupB, addr} {
		if !strings.Contains(conf, want) {
			t.Fatalf("the shipped configuration no longer has the addresses this test replaces:\n%s", conf)
		}
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil { // nginx's workers may run as another user
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "groups.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	main := fmt.Sprintf(`worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
daemon off;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/groups.conf;
}
`, dir)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginxBin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt) // fast shutdown
		cmd.Wait()
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "error.log")); err == nil {
				t.Logf("nginx error.log:\n%s", b)
			}
		}
	})
	url := "http://" + addr
	deadline := time.Now().Add(2 * time.Minute) // generous: a busy machine
	for {
		res, err := http.Get(url + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return url
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not answer /healthz: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// twoTownDatabase makes a database of two towns, Deruta and Torgiano (their
// perimeters from the reference data), without records.
func twoTownDatabase(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	_, url := testdb.Create(t)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := db.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	for _, tw := range []tiles.Town{{Code: "deruta", ISTAT: "054017"}, {Code: "torgiano", ISTAT: "054053"}} {
		if _, err := towns.Add(ctx, pool, tw); err != nil {
			t.Fatal(err)
		}
	}
	if err := towns.Remove(ctx, pool, "town"); err != nil { // the migration's catch-all town
		t.Fatal(err)
	}
	return url, pool
}

// loadPeople loads people[code] distinct people at each town's centre
// (lon, lat to 4 decimals) through `flowtiles ingest`'s loader, the
// records' towns coming from where they are, and returns each town's.
func loadPeople(t *testing.T, pool *pgxpool.Pool, people map[string]int) map[string][]presence.Record {
	t.Helper()
	centres := map[string][2]float64{"deruta": derutaCentre, "torgiano": torgianoCentre}
	now := time.Now().UTC().Truncate(time.Second)
	var csv strings.Builder
	csv.WriteString("observed_at,lon,lat,weight,visitor_id\n")
	recs := map[string][]presence.Record{}
	total := 0
	for _, code := range []string{"deruta", "torgiano"} {
		c := centres[code]
		for i := range people[code] {
			r := presence.Record{ObservedAt: now.Add(-time.Duration(i) * time.Second), Lon: c[0], Lat: c[1], Weight: 1,
				Visitor: presence.VisitorHash(fmt.Sprintf("%s-%d", code, i))}
			recs[code] = append(recs[code], r)
			fmt.Fprintf(&csv, "%s,%.4f,%.4f,1,%s-%d\n", r.ObservedAt.Format(time.RFC3339), c[0], c[1], code, i)
			total++
		}
	}
	file := filepath.Join(t.TempDir(), "two-towns.csv")
	if err := os.WriteFile(file, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if res, err := (&ingest.Loader{Pool: pool}).LoadFile(context.Background(), file, ingest.Options{}); err != nil || res.Loaded != int64(total) {
		t.Fatalf("%v %+v", err, res)
	}
	return recs
}

// Town centres inside each perimeter.
var (
	derutaCentre   = [2]float64{12.4177, 42.9826}
	torgianoCentre = [2]float64{12.4343, 43.0262}
)

// postPeople posts n records of distinct people (ids prefix-0…) at lon, lat
// to url's ingest endpoint and fails unless they are stored.
func postPeople(t *testing.T, url, prefix string, at [2]float64, n int) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	var csv strings.Builder
	csv.WriteString("observed_at,lon,lat,weight,visitor_id\n")
	for i := range n {
		fmt.Fprintf(&csv, "%s,%.6f,%.6f,1,%s-%d\n", now.Add(-time.Duration(i)*time.Second).Format(time.RFC3339), at[0], at[1], prefix, i)
	}
	req, _ := http.NewRequest(http.MethodPost, url+"/api/ingest", strings.NewReader(csv.String()))
	req.Header.Set("Authorization", "Bearer secret-token-1234")
	req.Header.Set("Content-Type", "text/csv")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST %s/api/ingest: %d %s", url, res.StatusCode, body)
	}
}

// Two server groups on one database behind the shipped nginx
// configuration, each serving one town: the root's town picker lists both,
// a town's requests reach its group by the /t/{town}/ prefix, its
// documents lead back through the proxy, and a batch posted for one town
// reaches only its group's memory and figures.
func TestServerGroupsBehindNginx(t *testing.T) {
	url, _ := twoTownDatabase(t)
	cfg := Config{DatabaseURL: url, IngestToken: []string{"secret-token-1234"}, IngestMaxBytes: 1 << 20, LiveInterval: time.Second,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	cfgA, cfgB := cfg, cfg
	cfgA.Towns, cfgB.Towns = []string{"deruta"}, []string{"torgiano"}
	a, groupA := start(t, cfgA)
	b, groupB := start(t, cfgB)
	proxy := startNginx(t, strings.TrimPrefix(groupA.URL, "http://"), strings.TrimPrefix(groupB.URL, "http://"))

	// the root, at the default group (Deruta's), is the town picker of
	// the whole fleet: /api/towns lists both towns, each telling whether
	// the answering group serves it
	if status, body := get(t, proxy+"/"); status != 200 || !strings.Contains(string(body), "/static/js/towns.js") {
		t.Fatalf("/ through the proxy: %d %s; want the town picker", status, body)
	}
	status, body := get(t, proxy+"/api/towns")
	var list struct {
		Towns []struct {
			Code, URL string
			KioskURL  string `json:"kiosk_url"`
			Served    bool
		}
	}
	if err := json.Unmarshal(body, &list); status != 200 || err != nil || len(list.Towns) != 2 ||
		list.Towns[0].Code != "deruta" || !list.Towns[0].Served || list.Towns[1].Code != "torgiano" || list.Towns[1].Served {
		t.Fatalf("/api/towns through the proxy: %d %s; want deruta (served) and torgiano (another group's)", status, body)
	}
	// each listed town's pages, followed through the proxy, reach its own
	// group: its planner, its kiosk, and its /api/town naming it
	for _, tw := range list.Towns {
		for page, want := range map[string]string{tw.URL: "/static/js/app.js", tw.KioskURL: "/static/js/kiosk.js"} {
			if status, body := get(t, proxy+page); status != 200 || !strings.Contains(string(body), want) {
				t.Fatalf("%s's page %s through the proxy: %d %s", tw.Code, page, status, body)
			}
		}
		status, body := get(t, proxy+tw.URL+"api/town")
		var town struct{ Code string }
		if err := json.Unmarshal(body, &town); status != 200 || err != nil || town.Code != tw.Code {
			t.Fatalf("%sapi/town through the proxy: %d %s", tw.URL, status, body)
		}
	}
	// Torgiano's group, asked directly, lists the fleet too; Deruta's,
	// asked directly for Torgiano, says another group serves it
	if status, body := get(t, groupB.URL+"/api/towns"); status != 200 || !strings.Contains(string(body), `"code":"deruta"`) || !strings.Contains(string(body), `"served":false`) {
		t.Fatalf("Torgiano's group's /api/towns: %d %s", status, body)
	}
	if status, body := get(t, groupA.URL+"/t/torgiano/"); status != http.StatusNotFound || !strings.Contains(string(body), `served by another server group`) {
		t.Fatalf("Deruta's group, /t/torgiano/: %d %s", status, body)
	}
	// documents lead back through the proxy, under the town's prefix, also
	// when asked for with town= (routed by it: Deruta's group would answer
	// 400, it does not serve Torgiano)
	for _, path := range []string{"/t/torgiano/tiles/density.json", "/tiles/density.json?town=torgiano"} {
		status, body := get(t, proxy+path)
		var doc struct{ Tiles []string }
		if err := json.Unmarshal(body, &doc); status != 200 || err != nil || len(doc.Tiles) != 1 || !strings.HasPrefix(doc.Tiles[0], proxy+"/t/torgiano/tiles/density/") {
			t.Fatalf("%s through the proxy: %d %s", path, status, body)
		}
	}

	// people in both towns, posted through the proxy to each town's group
	postPeople(t, proxy+"/t/deruta", "d", derutaCentre, 40)
	postPeople(t, proxy+"/t/torgiano", "t", torgianoCentre, 40)
	// a box around both towns
	stats := "/api/stats?bbox=12.40,42.97,12.45,43.04&from=" + time.Now().Add(-48*time.Hour).Format(time.DateOnly)
	waitFor(t, "both groups to hold their town's first batch", func() bool {
		return visitors(t, proxy+"/t/deruta"+stats) > 20 && visitors(t, proxy+"/t/torgiano"+stats) > 20
	})
	derutaBefore := visitors(t, proxy+"/t/deruta"+stats)
	rowsA := a.b.sites[0].mem.Stats().Rows
	versionA := a.b.version()

	// a batch for Torgiano lands in Torgiano's group only
	postPeople(t, proxy+"/t/torgiano", "t2", torgianoCentre, 40)
	if v := visitors(t, proxy+"/t/torgiano"+stats); v < 60 {
		t.Fatalf("Torgiano's visitors after its second batch: %v, want about 80", v)
	}
	// Deruta's group hears of the batch (its data version moves) and keeps
	// none of it: its memory and its figures are unchanged
	waitFor(t, "Deruta's group to follow the database", func() bool { return a.b.version() != versionA })
	if rows := a.b.sites[0].mem.Stats().Rows; rows != rowsA {
		t.Fatalf("Deruta's group holds %d rows after Torgiano's batch, had %d", rows, rowsA)
	}
	if v := visitors(t, proxy+"/t/deruta"+stats); v != derutaBefore {
		t.Fatalf("Deruta's visitors moved from %v to %v with a batch of Torgiano's", derutaBefore, v)
	}
	if rows := b.b.sites[0].mem.Stats().Rows; rows < 80 {
		t.Fatalf("Torgiano's group holds %d rows, want its 80", rows)
	}
}

// waitFor polls cond until it holds, for at most two minutes (generous: a
// busy machine; the test asserts the outcome, never the time it took).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited two minutes for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
