package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/maptile"

	"github.com/flowtiles/flowtiles/internal/basemap"
	"github.com/flowtiles/flowtiles/internal/basemap/sample"
	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// withReference gives the test server's engine the embedded reference
// areas (the reference context is drawn from them).
func withReference(t testing.TB) func(*Config) {
	places, err := refdata.Places()
	if err != nil {
		t.Fatal(err)
	}
	refdata.NameProvinces(places)
	places = append(places, sourcetest.Zones()...)
	return func(c *Config) {
		// the context needs no presence: an empty store
		c.Engine = tiles.NewEngine(memstore.New(refdata.Italy()), tiles.NewGazetteer(places), tiles.Config{Privacy: tiles.UnperturbedForTests(1), Loc: sourcetest.Rome, Town: sourcetest.Centre})
	}
}

func decodeBasemapTile(t *testing.T, res *http.Response, body []byte) mvt.Layers {
	t.Helper()
	if res.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(zr)
	}
	layers, err := mvt.Unmarshal(body)
	if err != nil {
		t.Fatalf("not a tile: %v", err)
	}
	return layers
}

func names(layers mvt.Layers) map[string]bool {
	out := map[string]bool{}
	for _, l := range layers {
		for _, f := range l.Features {
			out[l.Name+":"+f.Properties.MustString("name", "")] = true
		}
	}
	return out
}

// With no basemap configured, the basemap layer is the reference context:
// boundaries and names, with a style whose labels use the embedded glyphs.
func TestBasemapReferenceContext(t *testing.T) {
	env := newTileEnv(t, withReference(t))
	res, body := env.get(t, "/styles/basemap.json")
	if res.StatusCode != 200 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	var style struct {
		Glyphs  string                          `json:"glyphs"`
		Sources map[string]struct{ URL string } `json:"sources"`
		Layers  []map[string]any                `json:"layers"`
	}
	json.Unmarshal(body, &style)
	if style.Glyphs != env.ts.URL+"/fonts/{fontstack}/{range}.pbf" || style.Sources["basemap"].URL != env.ts.URL+"/tiles/basemap.json" {
		t.Fatalf("style %s", body)
	}
	fonts := map[string]bool{}
	for _, l := range style.Layers {
		if lay, ok := l["layout"].(map[string]any); ok {
			if f, ok := lay["text-font"].([]any); ok {
				fonts[f[0].(string)] = true
			}
		}
	}
	if len(fonts) == 0 {
		t.Fatal("no labels in the reference context's style")
	}
	for f := range fonts {
		res, b := env.get(t, "/fonts/"+strings.ReplaceAll(f, " ", "%20")+"/0-255.pbf")
		if res.StatusCode != 200 || len(b) < 10000 || !bytes.Contains(b[:64], []byte(f)) {
			t.Errorf("glyphs of %s: %d, %d bytes", f, res.StatusCode, len(b))
		}
	}
	res, tj := env.get(t, "/tiles/basemap.json")
	if res.StatusCode != 200 || !strings.Contains(string(tj), `"boundaries"`) {
		t.Fatalf("tilejson %d %s", res.StatusCode, tj)
	}
	tile := tiles.TileAt(14, tiles.Project(12.4177, 42.9826))
	res, b := env.get(t, tileURL("basemap", tile, ""), "Accept-Encoding", "gzip")
	if res.StatusCode != 200 || res.Header.Get("Cache-Control") != cacheBasemap {
		t.Fatalf("context tile %v: %d %v", tile, res.StatusCode, res.Header)
	}
	got := names(decodeBasemapTile(t, res, b))
	for _, want := range []string{"boundaries:Deruta", "labels:Deruta", "boundaries:Perugia", "boundaries:Umbria"} {
		if !got[want] {
			t.Errorf("no %s in the context tile: %v", want, got)
		}
	}
	// without gzip, the same tile in plain bytes
	res, plain := env.get(t, tileURL("basemap", tile, ""), "Accept-Encoding", "identity")
	if res.Header.Get("Content-Encoding") != "" || !names(decodeBasemapTile(t, res, plain))["labels:Deruta"] {
		t.Errorf("plain tile: %v", res.Header)
	}
	// the sea: no content
	if res, _ := env.get(t, tileURL("basemap", tiles.TileAt(10, tiles.Project(-30, 40)), "")); res.StatusCode != 204 {
		t.Errorf("empty context tile: %d", res.StatusCode)
	}
}

// Glyph ranges: embedded ones, an empty range for the rest, 404 for what is
// no range.
func TestGlyphs(t *testing.T) {
	env := newTileEnv(t, nil)
	res, full := env.get(t, "/fonts/Noto%20Sans%20Medium,Arial%20Unicode%20MS%20Regular/256-511.pbf")
	if res.StatusCode != 200 || len(full) < 10000 || res.Header.Get("Content-Type") != "application/x-protobuf" {
		t.Errorf("a font list: %d, %d bytes %v", res.StatusCode, len(full), res.Header)
	}
	res, empty := env.get(t, "/fonts/Noto%20Sans%20Regular/19968-20223.pbf")
	if res.StatusCode != 200 || len(empty) > 64 || !bytes.Contains(empty, []byte("19968-20223")) {
		t.Errorf("a range not embedded: %d %q", res.StatusCode, empty)
	}
	for _, p := range []string{"/fonts/Noto%20Sans%20Regular/0-254.pbf", "/fonts/Noto%20Sans%20Regular/1-256.pbf", "/fonts/Noto%20Sans%20Regular/0-255.png", "/fonts/x/99999999-100000254.pbf"} {
		if res, _ := env.get(t, p); res.StatusCode != 404 {
			t.Errorf("%s: %d", p, res.StatusCode)
		}
	}
}

// --basemap-url: the pages' basemap style is that one.
func TestBasemapURLRedirect(t *testing.T) {
	env := newTileEnv(t, func(c *Config) { c.BasemapURL = "https://basemap.example/style.json" })
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Get(env.ts.URL + "/styles/basemap.json")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "https://basemap.example/style.json" {
		t.Fatalf("%d %v", res.StatusCode, res.Header)
	}
}

// serve --basemap FILE: the archive's tiles under /tiles/basemap, with a
// style that draws its layers, valid for MapLibre.
func TestBasemapArchive(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for _, kind := range []string{"protomaps", "plain"} {
		path := filepath.Join(dir, kind+".pmtiles")
		if err := sample.WritePMTiles(path, kind); err != nil {
			t.Fatal(err)
		}
		a, err := basemap.Open(context.Background(), path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		env := newTileEnv(t, func(c *Config) { c.Basemap = a; c.BasemapURL = "https://ignored.example/style.json" })
		tile := maptile.At(orb.Point{12.4177, 42.9826}, 15)
		u := "/tiles/basemap/15/" + strconv.Itoa(int(tile.X)) + "/" + strconv.Itoa(int(tile.Y)) + ".mvt"
		res, b := env.get(t, u, "Accept-Encoding", "gzip")
		if res.StatusCode != 200 || res.Header.Get("Content-Encoding") != "gzip" || res.Header.Get("ETag") == "" {
			t.Fatalf("%s %s: %d %v", kind, u, res.StatusCode, res.Header)
		}
		if !names(decodeBasemapTile(t, res, b))["roads:"+sample.StreetName] && !names(decodeBasemapTile(t, res, b))["streets:"+sample.StreetName] {
			t.Errorf("%s: no street in %s", kind, u)
		}
		res, plain := env.get(t, u, "Accept-Encoding", "identity")
		if res.StatusCode != 200 || res.Header.Get("Content-Encoding") != "" || len(decodeBasemapTile(t, res, plain)) == 0 {
			t.Errorf("%s plain: %d %v", kind, res.StatusCode, res.Header)
		}
		if res, _ := env.get(t, "/tiles/basemap/15/0/0.mvt"); res.StatusCode != 204 {
			t.Errorf("%s: a tile outside the archive: %d", kind, res.StatusCode)
		}
		res, st := env.get(t, "/styles/basemap.json?lang=en")
		if res.StatusCode != 200 || !strings.Contains(string(st), env.ts.URL+"/tiles/basemap.json") {
			t.Fatalf("%s style: %d %s", kind, res.StatusCode, st)
		}
		res, tj := env.get(t, "/tiles/basemap.json")
		if res.StatusCode != 200 || !strings.Contains(string(tj), `"minzoom":12`) {
			t.Errorf("%s tilejson: %s", kind, tj)
		}
		f := filepath.Join(dir, kind+"-style.json")
		os.WriteFile(f, st, 0o644)
		files = append(files, f)
	}
	// and the reference context's style
	env := newTileEnv(t, nil)
	_, st := env.get(t, "/styles/basemap.json")
	f := filepath.Join(dir, "context-style.json")
	os.WriteFile(f, st, 0o644)
	files = append(files, f)
	_, err := os.Stat(filepath.Join("..", "..", "static", "node_modules", "@maplibre", "maplibre-gl-style-spec"))
	if err == nil {
		_, err = exec.LookPath("node")
	}
	need(t, "the style validator (npm ci in static/)", err)
	out, err := exec.Command("node", append([]string{filepath.Join("..", "..", "styles", "validate.mjs")}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("basemap styles invalid: %v\n%s", err, out)
	}
}
