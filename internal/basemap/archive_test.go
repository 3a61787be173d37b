package basemap_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/maptile"

	"github.com/flowtiles/flowtiles/internal/basemap"
	"github.com/flowtiles/flowtiles/internal/basemap/sample"
)

// A PMTiles and an MBTiles archive, built here, are read tile by tile, with
// their metadata, and get a style that draws their layers.
func TestArchives(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ file, schema string }{
		{"sample.pmtiles", "protomaps"},
		{"sample.mbtiles", "protomaps"},
		{"plain layers.mbtiles", "plain"}, // a name pmtiles' URL patterns would refuse
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join(dir, tc.file)
			var err error
			if filepath.Ext(path) == ".pmtiles" {
				err = sample.WritePMTiles(path, tc.schema)
			} else {
				err = sample.WriteMBTiles(path, tc.schema)
			}
			if err != nil {
				t.Fatal(err)
			}
			a, err := basemap.Open(context.Background(), path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			m := a.Metadata()
			if m.MinZoom != sample.MinZoom || m.MaxZoom != sample.MaxZoom {
				t.Errorf("zooms %d-%d", m.MinZoom, m.MaxZoom)
			}
			if m.Bounds[0] > 12.41 || m.Bounds[2] < 12.43 {
				t.Errorf("bounds %v", m.Bounds)
			}
			wantSchema := map[string]string{"protomaps": "protomaps", "plain": ""}[tc.schema]
			if m.Schema() != wantSchema {
				t.Errorf("schema %q, want %q (layers %v)", m.Schema(), wantSchema, m.VectorLayers)
			}
			tile := maptile.At(orb.Point{12.4177, 42.9826}, 15)
			b, gz, err := a.Tile(context.Background(), 15, tile.X, tile.Y)
			if err != nil {
				t.Fatal(err)
			}
			if gz {
				zr, err := gzip.NewReader(bytes.NewReader(b))
				if err != nil {
					t.Fatal(err)
				}
				b, _ = io.ReadAll(zr)
			}
			layers, err := mvt.Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			street := false
			for _, l := range layers {
				for _, f := range l.Features {
					street = street || f.Properties.MustString("name", "") == sample.StreetName
				}
			}
			if !street {
				t.Errorf("tile %v: no %s", tile, sample.StreetName)
			}
			if _, _, err := a.Tile(context.Background(), 15, 0, 0); !errors.Is(err, basemap.ErrNoTile) {
				t.Errorf("a tile outside: %v", err)
			}
			if _, _, err := a.Tile(context.Background(), 3, 4, 2); !errors.Is(err, basemap.ErrNoTile) {
				t.Errorf("a zoom outside: %v", err)
			}
			st, err := basemap.Style(m, "http://h", "it")
			if err != nil {
				t.Fatal(err)
			}
			used := map[string]bool{}
			for _, l := range st["layers"].([]map[string]any) {
				if sl, ok := l["source-layer"].(string); ok {
					used[sl] = true
				}
				if lay, _ := l["layout"].(map[string]any); lay["icon-image"] != nil {
					t.Errorf("layer %v needs a sprite", l["id"])
				}
			}
			for _, vl := range m.VectorLayers {
				if !used[vl.ID] {
					t.Errorf("the style draws nothing of layer %s", vl.ID)
				}
			}
			if st["glyphs"] != "http://h/fonts/{fontstack}/{range}.pbf" {
				t.Errorf("glyphs %v", st["glyphs"])
			}
		})
	}
}

// Files that are no archive are refused with their name and the reason.
func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pmtiles")
	os.WriteFile(junk, []byte("not an archive at all"), 0o644)
	for _, p := range []string{junk, filepath.Join(dir, "missing.pmtiles")} {
		_, err := basemap.Open(context.Background(), p, nil)
		var oe *basemap.OpenError
		if !errors.As(err, &oe) || oe.Path != p {
			t.Errorf("%s: %v", p, err)
		}
	}
}
