package export_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/flowtiles/flowtiles/internal/basemap"
	"github.com/flowtiles/flowtiles/internal/export"
	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/server"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// newServer is a tile server over the test records with the k=15
// disclosure rules, on a real listener.
func newServer(t *testing.T) (*server.Server, *httptest.Server) {
	t.Helper()
	zones := sourcetest.Zones()
	store := memstore.New(refdata.Italy())
	if err := store.Add(sourcetest.Records(sourcetest.Seed(t), 4000), tiles.NewZoneIndex(zones)); err != nil {
		t.Fatal(err)
	}
	ref, err := refdata.Places()
	if err != nil {
		t.Fatal(err)
	}
	places := append(append([]tiles.Place(nil), ref...), zones...)
	engine := tiles.NewEngine(store, tiles.NewGazetteer(places), tiles.Config{Privacy: sourcetest.Privacy(t, 15), Loc: sourcetest.Rome, Town: sourcetest.Centre})
	srv := server.New(server.Config{
		Engine: engine, Version: store.Version, Loc: sourcetest.Rome, Log: slog.New(slog.DiscardHandler),
		Bounds: func() (orb.Bound, bool) {
			w, s, e, n := store.Bounds().LonLatBounds()
			return orb.Bound{Min: orb.Point{w, s}, Max: orb.Point{e, n}}, true
		},
	})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return srv, ts
}

var plain = &http.Client{Transport: &http.Transport{DisableCompression: true}}

// served fetches a tile from the running server as a client would.
func served(t *testing.T, base, layer string, z uint8, x, y uint32, q url.Values) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/tiles/%s/%d/%d/%d.mvt?%s", base, layer, z, x, y, q.Encode()), nil)
	req.Header.Set("Accept-Encoding", "gzip")
	res, err := plain.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// An export holds, for every tile of the zoom range and box, exactly the
// gzipped bytes the server serves for the same filter (empty tiles
// absent), and the layer's TileJSON metadata; in both formats.
func TestExportIsTheServedTiles(t *testing.T) {
	srv, ts := newServer(t)
	dir := t.TempDir()
	q := url.Values{"gender": {"f"}, "from": {"2025-03-01"}}
	c := sourcetest.Centre
	cfg := export.Config{Handler: srv.Handler(), Layer: tiles.LayerDensity, MinZoom: 13, MaxZoom: 16, Query: q,
		BBox: [4]float64{c[0] - 0.01, c[1] - 0.01, c[0] + 0.01, c[1] + 0.01}}
	progress := 0
	cfg.Progress = func(done, total int) { progress = done }
	for _, name := range []string{"density.mbtiles", "density.pmtiles"} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(dir, name)
			res, err := export.Write(context.Background(), cfg, out)
			if err != nil {
				t.Fatal(err)
			}
			if res.Tiles == 0 || res.Requested < res.Tiles || progress != res.Requested {
				t.Fatalf("result %+v, progress %d", res, progress)
			}
			var get func(z uint8, x, y uint32) ([]byte, bool)
			if strings.HasSuffix(name, ".mbtiles") {
				conn, err := sqlite.OpenConn(out, sqlite.OpenReadOnly)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				meta := map[string]string{}
				sqlitex.Execute(conn, "SELECT name, value FROM metadata", &sqlitex.ExecOptions{ResultFunc: func(s *sqlite.Stmt) error {
					meta[s.ColumnText(0)] = s.ColumnText(1)
					return nil
				}})
				if !strings.Contains(meta["json"], `"vector_layers"`) || meta["format"] != "pbf" || meta["minzoom"] != "13" || meta["maxzoom"] != "16" ||
					meta["flowtiles:filter"] != q.Encode() || meta["flowtiles:data_version"] == "" {
					t.Errorf("metadata %v", meta)
				}
				get = func(z uint8, x, y uint32) ([]byte, bool) {
					var b []byte
					found := false
					sqlitex.Execute(conn, "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?", &sqlitex.ExecOptions{
						Args: []any{int(z), int(x), (1 << z) - 1 - int(y)},
						ResultFunc: func(s *sqlite.Stmt) error {
							b = make([]byte, s.ColumnLen(0))
							s.ColumnBytes(0, b)
							found = true
							return nil
						}})
					return b, found
				}
			} else {
				a, err := basemap.Open(context.Background(), out, slog.New(slog.DiscardHandler))
				if err != nil {
					t.Fatal(err)
				}
				defer a.Close()
				if m := a.Metadata(); len(m.VectorLayers) != 2 || m.MinZoom != 13 || m.MaxZoom != 16 {
					t.Errorf("PMTiles metadata %+v", m)
				}
				get = func(z uint8, x, y uint32) ([]byte, bool) {
					b, gz, err := a.Tile(context.Background(), z, x, y)
					if err != nil {
						return nil, false
					}
					if !gz {
						t.Fatalf("tile %d/%d/%d stored uncompressed", z, x, y)
					}
					return b, true
				}
			}
			n := 0
			for z := uint8(13); z <= 16; z++ {
				a, b := tiles.TileAt(z, tiles.Project(cfg.BBox[0], cfg.BBox[3])), tiles.TileAt(z, tiles.Project(cfg.BBox[2], cfg.BBox[1]))
				for x := a.X; x <= b.X; x++ {
					for y := a.Y; y <= b.Y; y++ {
						status, want := served(t, ts.URL, cfg.Layer, z, x, y, q)
						got, ok := get(z, x, y)
						switch {
						case status == http.StatusNoContent && ok:
							t.Errorf("%d/%d/%d: stored, but the server has no tile", z, x, y)
						case status == http.StatusOK && !ok:
							t.Errorf("%d/%d/%d: missing", z, x, y)
						case status == http.StatusOK && !bytes.Equal(got, want):
							t.Errorf("%d/%d/%d: %d bytes, the server serves %d other bytes", z, x, y, len(got), len(want))
						}
						if ok {
							n++
						}
					}
				}
			}
			if n != res.Tiles {
				t.Errorf("%d tiles found, %d written", n, res.Tiles)
			}
			if strings.HasSuffix(name, ".mbtiles") {
				if _, err := exec.LookPath("ogrinfo"); err == nil {
					out, err := exec.Command("ogrinfo", "-ro", "-so", "-al", out).CombinedOutput()
					if err != nil || !strings.Contains(string(out), "Layer name: density") || !strings.Contains(string(out), "count: Real") {
						t.Errorf("ogrinfo: %v\n%s", err, out)
					}
				}
			}
		})
	}
}

// Bad requests are refused before anything is written.
func TestExportRefuses(t *testing.T) {
	srv, _ := newServer(t)
	dir := t.TempDir()
	for _, c := range []struct {
		cfg  export.Config
		file string
		want string
	}{
		{export.Config{Layer: "nope", MaxZoom: 3}, "x.pmtiles", "unknown layer"},
		{export.Config{Layer: "density", MaxZoom: 3}, "x.zip", "unknown archive format"},
		{export.Config{Layer: "zones", MinZoom: 2, MaxZoom: 3}, "x.mbtiles", "zooms 2-3"},
		{export.Config{Layer: "density", MaxZoom: 3, Query: url.Values{"gender": {"q"}}}, "x.mbtiles", "gender"},
	} {
		c.cfg.Handler = srv.Handler()
		_, err := export.Write(context.Background(), c.cfg, filepath.Join(dir, c.file))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Errorf("files left: %v", m)
	}
}
