package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/flowtiles/flowtiles/internal/app"
	"github.com/flowtiles/flowtiles/tiles"
)

// exportAndCompare runs cmd (the embedded demo of 30,000 records, seed 3,
// from 2025-01-01) and compares every tile of its MBTiles archive with the
// tile a server of the same data serves at path (…/{z}/{x}/{y}.mvt?query);
// check sees each tile's coordinates. It returns the number of tiles.
func exportAndCompare(t *testing.T, cmd *ExportCmd, path string, check func(z, x, y int)) int {
	t.Helper()
	cmd.K, cmd.NoiseD, cmd.NoiseGrowth, cmd.TimeZone = 15, 5, 0.5, "Europe/Rome"
	cmd.DemoRecords, cmd.DemoSeed, cmd.DemoStart, cmd.Progress = 30000, 3, "2025-01-01", "none"
	if err := cmd.Run(&Env{Ctx: context.Background(), Log: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), app.Config{TimeZone: "Europe/Rome", DemoRecords: 30000, DemoSeed: 3,
		DemoStart: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ts := httptest.NewServer(a.Handler())
	defer ts.Close()
	conn, err := sqlite.OpenConn(cmd.Out, sqlite.OpenReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n := 0
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	err = sqlitex.Execute(conn, "SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles", &sqlitex.ExecOptions{ResultFunc: func(s *sqlite.Stmt) error {
		n++
		z, x, y := s.ColumnInt(0), s.ColumnInt(1), (1<<s.ColumnInt(0))-1-s.ColumnInt(2)
		if check != nil {
			check(z, x, y)
		}
		got := make([]byte, s.ColumnLen(3))
		s.ColumnBytes(3, got)
		req, _ := http.NewRequest(http.MethodGet, ts.URL+fmt.Sprintf(path, z, x, y), nil)
		req.Header.Set("Accept-Encoding", "gzip")
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		want, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(got) != string(want) {
			t.Errorf("tile %d/%d/%d: the archive's %d bytes differ from the served %d", z, x, y, len(got), len(want))
		}
		return nil
	}})
	if err != nil || n == 0 {
		t.Fatalf("%d tiles: %v", n, err)
	}
	return n
}

// `flowtiles export` writes what `flowtiles serve` with the same data and
// settings serves: every tile of the archive is the served tile's bytes.
func TestExportCommandMatchesServe(t *testing.T) {
	cmd := &ExportCmd{Out: filepath.Join(t.TempDir(), "zones.mbtiles"), Layer: "zones", MinZoom: 14, MaxZoom: 16, Filter: "from=2025-02-01&to=2025-03-01"}
	exportAndCompare(t, cmd, "/tiles/zones/%d/%d/%d.mvt?from=2025-02-01&to=2025-03-01", nil)
}

// --town exports one town's tiles: those a server of every town serves
// under the town's prefix, over that town only.
func TestExportTown(t *testing.T) {
	cmd := &ExportCmd{Out: filepath.Join(t.TempDir(), "torgiano.mbtiles"), Layer: "density", MinZoom: 13, MaxZoom: 14,
		Filter: "from=2025-02-01&to=2025-03-01", Town: "torgiano"}
	exportAndCompare(t, cmd, "/t/torgiano/tiles/density/%d/%d/%d.mvt?from=2025-02-01&to=2025-03-01", func(z, x, y int) {
		// Torgiano's municipality: lon 12.4065-12.4988, lat 42.9954-43.0885
		w, so, e, no := tiles.TileID{Z: uint8(z), X: uint32(x), Y: uint32(y)}.Rect().LonLatBounds()
		if e < 12.40 || w > 12.50 || no < 42.99 || so > 43.09 {
			t.Errorf("tile %d/%d/%d lies outside Torgiano", z, x, y)
		}
	})
}
