// Package sample writes small basemap archives for tests: a few streets,
// a river, a park and the town's name around Deruta, in the Protomaps
// basemap schema (earth, water, landuse, roads, places) or in a schema of
// its own, as MBTiles (SQLite) or PMTiles. It is not part of the server.
package sample

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"
	"github.com/protomaps/go-pmtiles/pmtiles"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// Bounds of the sample (around Deruta's historic centre).
var Bounds = orb.Bound{Min: orb.Point{12.40, 42.97}, Max: orb.Point{12.44, 42.995}}

// Zooms of the sample's tiles.
const MinZoom, MaxZoom = 12, 16

// StreetName is the name on the sample's main street.
const StreetName = "Via della Prova"

// features returns the sample's layers in WGS 84, by schema.
func features(schema string) map[string]*geojson.FeatureCollection {
	fc := func(fs ...*geojson.Feature) *geojson.FeatureCollection {
		c := geojson.NewFeatureCollection()
		c.Features = fs
		return c
	}
	feat := func(g orb.Geometry, props geojson.Properties) *geojson.Feature {
		f := geojson.NewFeature(g)
		f.Properties = props
		return f
	}
	b := Bounds
	earth := orb.Polygon{{b.Min, {b.Max[0], b.Min[1]}, b.Max, {b.Min[0], b.Max[1]}, b.Min}}
	river := orb.Polygon{{{12.400, 42.970}, {12.405, 42.970}, {12.412, 42.995}, {12.407, 42.995}, {12.400, 42.970}}}
	park := orb.Polygon{{{12.419, 42.984}, {12.421, 42.984}, {12.421, 42.986}, {12.419, 42.986}, {12.419, 42.984}}}
	street := orb.LineString{{12.4150, 42.9800}, {12.4177, 42.9826}, {12.4200, 42.9850}}
	lane := orb.LineString{{12.4160, 42.9840}, {12.4195, 42.9812}}
	town := orb.Point{12.4177, 42.9826}
	if schema == "protomaps" {
		return map[string]*geojson.FeatureCollection{
			"earth":   fc(feat(earth, geojson.Properties{"kind": "earth"})),
			"water":   fc(feat(river, geojson.Properties{"kind": "river", "name": "Tevere"})),
			"landuse": fc(feat(park, geojson.Properties{"kind": "park"})),
			"roads": fc(
				feat(street, geojson.Properties{"kind": "major_road", "kind_detail": "primary", "name": StreetName, "min_zoom": 12}),
				feat(lane, geojson.Properties{"kind": "minor_road", "kind_detail": "residential", "name": "Vicolo", "min_zoom": 14})),
			"places": fc(feat(town, geojson.Properties{"kind": "locality", "name": "Deruta", "min_zoom": 8, "population_rank": 9})),
		}
	}
	return map[string]*geojson.FeatureCollection{
		"land":    fc(feat(earth, geojson.Properties{"class": "land"})),
		"streets": fc(feat(street, geojson.Properties{"name": StreetName}), feat(lane, geojson.Properties{"name": "Vicolo"})),
		"towns":   fc(feat(town, geojson.Properties{"name": "Deruta"})),
	}
}

// tiles renders every sample tile: gzipped MVT by z/x/y.
func tiles(schema string) (map[maptile.Tile][]byte, error) {
	out := map[maptile.Tile][]byte{}
	for z := maptile.Zoom(MinZoom); z <= MaxZoom; z++ {
		lo := maptile.At(orb.Point{Bounds.Min[0], Bounds.Max[1]}, z)
		hi := maptile.At(orb.Point{Bounds.Max[0], Bounds.Min[1]}, z)
		for x := lo.X; x <= hi.X; x++ {
			for y := lo.Y; y <= hi.Y; y++ {
				t := maptile.New(x, y, z)
				layers := mvt.NewLayers(clone(features(schema)))
				for _, l := range layers {
					l.Version = 2 // MVT 2.1
				}
				// fixed order: byte-stable tiles
				sortLayers(layers)
				layers.ProjectToTile(t)
				layers.Clip(mvt.MapboxGLDefaultExtentBound)
				layers.RemoveEmpty(0, 0)
				if len(layers) == 0 {
					continue
				}
				b, err := mvt.MarshalGzipped(layers)
				if err != nil {
					return nil, err
				}
				out[t] = b
			}
		}
	}
	return out, nil
}

func clone(m map[string]*geojson.FeatureCollection) map[string]*geojson.FeatureCollection {
	out := map[string]*geojson.FeatureCollection{}
	for k, fc := range m {
		c := geojson.NewFeatureCollection()
		for _, f := range fc.Features {
			g := geojson.NewFeature(orb.Clone(f.Geometry))
			g.Properties = f.Properties.Clone()
			c.Features = append(c.Features, g)
		}
		out[k] = c
	}
	return out
}

func sortLayers(ls mvt.Layers) {
	slices.SortFunc(ls, func(a, b *mvt.Layer) int { return strings.Compare(a.Name, b.Name) })
}

// vectorLayers is the TileJSON vector_layers of a schema.
func vectorLayers(schema string) string {
	var parts []string
	names := []string{}
	for name := range features(schema) {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fields := map[string]bool{}
		for _, f := range features(schema)[name].Features {
			for k := range f.Properties {
				fields[k] = true
			}
		}
		var fs []string
		for k := range fields {
			fs = append(fs, fmt.Sprintf("%q:\"String\"", k))
		}
		slices.Sort(fs)
		parts = append(parts, fmt.Sprintf(`{"id":%q,"fields":{%s},"minzoom":%d,"maxzoom":%d}`, name, strings.Join(fs, ","), MinZoom, MaxZoom))
	}
	return `{"vector_layers":[` + strings.Join(parts, ",") + `]}`
}

// WriteMBTiles writes the sample in schema ("protomaps" or "plain") as an
// MBTiles file.
func WriteMBTiles(path, schema string) error {
	ts, err := tiles(schema)
	if err != nil {
		return err
	}
	os.Remove(path)
	conn, err := sqlite.OpenConn(path, sqlite.OpenReadWrite, sqlite.OpenCreate)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := sqlitex.ExecuteScript(conn, `
CREATE TABLE metadata (name text, value text);
CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, tile_data blob);
CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);`, nil); err != nil {
		return err
	}
	meta := [][2]string{
		{"name", "flowtiles sample " + schema}, {"format", "pbf"}, {"type", "baselayer"},
		{"minzoom", fmt.Sprint(MinZoom)}, {"maxzoom", fmt.Sprint(MaxZoom)},
		{"bounds", fmt.Sprintf("%g,%g,%g,%g", Bounds.Min[0], Bounds.Min[1], Bounds.Max[0], Bounds.Max[1])},
		{"center", fmt.Sprintf("%g,%g,%d", 12.4177, 42.9826, 14)},
		{"attribution", "flowtiles test sample"},
		{"json", vectorLayers(schema)},
	}
	for _, m := range meta {
		if err := sqlitex.Execute(conn, "INSERT INTO metadata (name, value) VALUES (?, ?)", &sqlitex.ExecOptions{Args: []any{m[0], m[1]}}); err != nil {
			return err
		}
	}
	for t, b := range ts {
		row := (1 << t.Z) - 1 - t.Y // MBTiles rows count from the south (TMS)
		if err := sqlitex.Execute(conn, "INSERT INTO tiles VALUES (?, ?, ?, ?)", &sqlitex.ExecOptions{Args: []any{int(t.Z), int(t.X), int(row), b}}); err != nil {
			return err
		}
	}
	return nil
}

// WritePMTiles writes the sample as a PMTiles file (an MBTiles file
// converted by go-pmtiles, as `pmtiles convert` does).
func WritePMTiles(path, schema string) error {
	dir, err := os.MkdirTemp("", "flowtiles-sample-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	mb := filepath.Join(dir, "sample.mbtiles")
	if err := WriteMBTiles(mb, schema); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "convert-")
	if err != nil {
		return err
	}
	defer tmp.Close()
	var out bytes.Buffer
	return pmtiles.Convert(log.New(&out, "", 0), mb, path, true, tmp)
}
