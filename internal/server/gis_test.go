package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/paulmach/orb/encoding/mvt"

	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/styles"
	"github.com/flowtiles/flowtiles/tiles"
)

// newGISEnv is a tile server over the test records with every reference
// area (origins and flows have places to draw) and privacy threshold k.
func newGISEnv(t testing.TB, k int64, mod func(*Config)) *tileEnv {
	t.Helper()
	ref, err := refdata.Places()
	if err != nil {
		t.Fatal(err)
	}
	places := append(append([]tiles.Place(nil), ref...), sourcetest.Zones()...)
	refdata.NameProvinces(places)
	return newTileEnv(t, func(c *Config) {
		priv := tiles.UnperturbedForTests(k)
		if k > 1 {
			priv = sourcetest.Privacy(t, k)
		}
		c.Engine = tiles.NewEngine(c.Engine.Source(), tiles.NewGazetteer(places), tiles.Config{Privacy: priv, Loc: sourcetest.Rome, Town: sourcetest.Centre})
		if mod != nil {
			mod(c)
		}
	})
}

// gisZoom is the zoom each layer is read at as a tileset directory.
var gisZoom = map[string]uint8{tiles.LayerDensity: 14, tiles.LayerZones: 14, tiles.LayerOrigins: 5, tiles.LayerFlows: 8}

// tilesIn lists the tiles of zoom z that a TileJSON's bounds cover, as
// GDAL's tileset reader walks them.
func tilesIn(z uint8, b []float64) []tiles.TileID {
	a, c := tiles.TileAt(z, tiles.Project(b[0], b[3])), tiles.TileAt(z, tiles.Project(b[2], b[1]))
	var out []tiles.TileID
	for x := a.X; x <= c.X; x++ {
		for y := a.Y; y <= c.Y; y++ {
			out = append(out, tiles.TileID{Z: z, X: x, Y: y})
		}
	}
	return out
}

var ogrLayer = regexp.MustCompile(`(?m)^Layer name: (\S+)\n(?:.*\n)*?Feature Count: (\d+)`)

// ogrCounts runs ogrinfo and returns the feature count of each layer.
func ogrCounts(t *testing.T, args ...string) (map[string]int, string) {
	t.Helper()
	out, err := exec.Command("ogrinfo", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ogrinfo %v: %v\n%s", args, err, out)
	}
	counts := map[string]int{}
	for _, m := range ogrLayer.FindAllStringSubmatch(string(out), -1) {
		n, _ := strconv.Atoi(m[2])
		counts[m[1]] = n
	}
	return counts, string(out)
}

// The README's GDAL commands work on every layer: one tile by its URL,
// and a zoom level as a tileset directory (MVT:/vsicurl/…/tiles/{layer}/{z},
// metadata from /tiles/{layer}/metadata.json). In directory mode GDAL read
// responses over about 2 KB, which went out chunked without
// Content-Length, as empty: it must read every feature of every tile the
// engine draws within the layer's bounds, with numbers typed as numbers.
func TestGDALReadsEveryLayer(t *testing.T) {
	_, err := exec.LookPath("ogrinfo")
	need(t, "ogrinfo (Debian gdal-bin)", err)
	env := newGISEnv(t, 1, nil)
	ctx := context.Background()
	big := 0
	for _, spec := range tiles.Layers {
		t.Run(spec.Name, func(t *testing.T) {
			z := gisZoom[spec.Name]
			_, body := env.get(t, "/tiles/"+spec.Name+".json")
			var doc tileJSONDoc
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatal(err)
			}
			want := map[string]int{}
			var one tiles.TileID
			for _, tid := range tilesIn(z, doc.Bounds) {
				b, err := env.srv.cfg.Engine.Tile(ctx, tiles.Request{Layer: spec.Name, Tile: tid})
				if err != nil {
					t.Fatal(err)
				}
				if len(b) > 2048 {
					big++
				}
				if len(b) == 0 {
					continue
				}
				one = tid
				ls, _ := mvt.Unmarshal(b)
				for _, l := range ls {
					want[l.Name] += len(l.Features)
				}
			}
			if len(want) == 0 {
				t.Fatalf("no features at zoom %d within %v", z, doc.Bounds)
			}
			dir := fmt.Sprintf("MVT:/vsicurl/%s/tiles/%s/%d", env.ts.URL, spec.Name, z)
			got, out := ogrCounts(t, "-ro", "-al", "-oo", "TILE_EXTENSION=mvt", dir)
			for l, n := range want {
				if got[l] != n {
					t.Errorf("%s layer %s: GDAL read %d features, the engine drew %d", dir, l, got[l], n)
				}
			}
			if !strings.Contains(out, "count: Real") && !strings.Contains(out, "count: Integer") {
				t.Errorf("%s: count is not a number for GDAL:\n%.3000s", dir, out)
			}
			if strings.Contains(out, "count (String)") {
				t.Errorf("%s: count read as text", dir)
			}
			// one tile by its URL
			u := MVTURL(env.ts.URL, spec.Name, one)
			got, out = ogrCounts(t, "-ro", "-al", u)
			if len(got) == 0 {
				t.Errorf("%s: no layer:\n%s", u, out)
			}
		})
	}
	if big == 0 {
		t.Fatal("no tile over 2 KB: the test does not exercise long responses")
	}
}

// MVTURL is GDAL's name of one tile.
func MVTURL(base, layer string, t tiles.TileID) string {
	return "MVT:" + base + tileURL(layer, t, "")
}

// Every tile, TileJSON, style and document has a Content-Length in every
// coding, and HEAD answers exactly GET's headers without a body.
func TestContentLengthAndHead(t *testing.T) {
	env := newGISEnv(t, 1, nil)
	low := tiles.TileAt(5, tiles.Project(sourcetest.Centre[0], sourcetest.Centre[1]))
	paths := []string{
		tileURL(tiles.LayerOrigins, low, ""), // several KB
		tileURL(tiles.LayerDensity, centreTile, ""),
		"/tiles/origins.json", "/tiles/density/metadata.json", "/tiles",
		"/styles/planner.json", "/styles/density.json", "/styles/classes.json",
		"/tiles/basemap.json", "/styles/basemap.json",
	}
	for _, p := range paths {
		for _, enc := range []string{"", "gzip", "br, gzip", "identity"} {
			hdr := []string{}
			if enc != "" {
				hdr = []string{"Accept-Encoding", enc}
			}
			res, body := env.get(t, p, hdr...)
			if res.StatusCode != 200 {
				t.Fatalf("%s (%s): %d %s", p, enc, res.StatusCode, body)
			}
			cl := res.Header.Get("Content-Length")
			if cl != strconv.Itoa(len(body)) || len(res.TransferEncoding) > 0 {
				t.Errorf("%s (%s): Content-Length %q for %d bytes, Transfer-Encoding %v", p, enc, cl, len(body), res.TransferEncoding)
			}
			if res.Header.Get("ETag") == "" {
				t.Errorf("%s (%s): no ETag", p, enc)
			}
			head, hbody := do(t, http.MethodHead, env.ts.URL+p, hdr...)
			if len(hbody) != 0 {
				t.Errorf("HEAD %s: a body", p)
			}
			for _, h := range []string{"Content-Length", "Content-Type", "Content-Encoding", "ETag", "Cache-Control", "Vary"} {
				if head.Header.Get(h) != res.Header.Get(h) {
					t.Errorf("HEAD %s (%s): %s %q, GET %q", p, enc, h, head.Header.Get(h), res.Header.Get(h))
				}
			}
		}
	}
}

// brotli where the client asks for it, gzip otherwise, identity for
// clients that accept neither: the same bytes once decoded, each with its
// own ETag.
func TestCompressionNegotiation(t *testing.T) {
	env := newGISEnv(t, 1, nil)
	for _, p := range []string{tileURL(tiles.LayerDensity, centreTile, ""), "/tiles/origins.json", "/styles/planner.json"} {
		_, plain := env.get(t, p)
		etags := map[string]bool{}
		for _, c := range []struct{ accept, want string }{
			{"gzip, deflate, br", "br"}, {"br", "br"}, {"br;q=0, gzip", "gzip"}, {"gzip", "gzip"},
			{"*", "br"}, {"deflate", ""}, {"", ""}, {"identity", ""}, {"br;q=0, gzip;q=0", ""},
		} {
			res, body := env.get(t, p, "Accept-Encoding", c.accept)
			if got := res.Header.Get("Content-Encoding"); got != c.want {
				t.Errorf("%s, Accept-Encoding %q: Content-Encoding %q, want %q", p, c.accept, got, c.want)
				continue
			}
			var dec []byte
			switch c.want {
			case "br":
				dec, _ = io.ReadAll(brotli.NewReader(bytes.NewReader(body)))
			case "gzip":
				dec = gunzip(t, body)
			default:
				dec = body
			}
			if !bytes.Equal(dec, plain) {
				t.Errorf("%s, Accept-Encoding %q: decoded bytes differ", p, c.accept)
			}
			if !strings.Contains(res.Header.Get("Vary"), "Accept-Encoding") {
				t.Errorf("%s: Vary %q", p, res.Header.Get("Vary"))
			}
			etags[res.Header.Get("ETag")] = true
			// any representation's ETag revalidates
			if r, _ := env.get(t, p, "Accept-Encoding", c.accept, "If-None-Match", res.Header.Get("ETag")); r.StatusCode != http.StatusNotModified {
				t.Errorf("%s: If-None-Match its own ETag: %d", p, r.StatusCode)
			}
		}
		if len(etags) != 3 {
			t.Errorf("%s: ETags %v, want one per coding", p, etags)
		}
	}
}

// Empty tiles and TileJSON have ETags and revalidate; nothing varies on
// Origin under the wildcard CORS (every answer carries "*"), an empty tile
// does not vary on Accept-Encoding, and TileJSON does not vary on
// forwarded headers that are not believed.
func TestETagsAndVary(t *testing.T) {
	env := newGISEnv(t, 1, nil)
	far := tileURL(tiles.LayerDensity, tiles.TileAt(14, tiles.Project(-70, -30)), "")
	res, _ := env.get(t, far, "Accept-Encoding", "gzip", "Origin", "https://qgis.example")
	etag := res.Header.Get("ETag")
	if res.StatusCode != http.StatusNoContent || etag == "" || !strings.Contains(etag, fmt.Sprintf("v%d", env.src.Version())) {
		t.Fatalf("empty tile: %d, ETag %q", res.StatusCode, etag)
	}
	if v := res.Header.Values("Vary"); len(v) != 0 {
		t.Errorf("empty tile varies on %v", v)
	}
	if r, _ := env.get(t, far, "If-None-Match", etag); r.StatusCode != http.StatusNotModified {
		t.Errorf("empty tile revalidated: %d", r.StatusCode)
	}
	for _, p := range []string{"/tiles/origins.json", "/tiles/density.json?gender=f", "/styles/planner.json", "/tiles"} {
		res, _ := env.get(t, p, "Accept-Encoding", "gzip", "Origin", "https://qgis.example")
		etag := res.Header.Get("ETag")
		if etag == "" {
			t.Fatalf("%s: no ETag", p)
		}
		vary := strings.Join(res.Header.Values("Vary"), ",")
		if vary != "Accept-Encoding" {
			t.Errorf("%s: Vary %q, want Accept-Encoding only", p, vary)
		}
		if res.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s: CORS %q", p, res.Header.Get("Access-Control-Allow-Origin"))
		}
		r, b := env.get(t, p, "Accept-Encoding", "gzip", "If-None-Match", etag)
		if r.StatusCode != http.StatusNotModified || len(b) != 0 {
			t.Errorf("%s: If-None-Match: %d", p, r.StatusCode)
		}
		if r.Header.Get("ETag") != etag {
			t.Errorf("%s: 304 ETag %q, want %q", p, r.Header.Get("ETag"), etag)
		}
	}
	// without an Origin the same headers: one cached copy serves everyone
	r1, _ := env.get(t, "/tiles/origins.json")
	if r1.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("no CORS header without Origin: a shared cache would serve it to browsers")
	}
}

// TileJSON tile templates name the data version; the tiles they name are
// immutable, and a new version names new URLs.
func TestTileJSONVersionsTheTemplate(t *testing.T) {
	env := newGISEnv(t, 1, nil)
	_, body := env.get(t, "/tiles/density.json?from=2025-03-01&to=2025-03-10")
	var doc tileJSONDoc
	json.Unmarshal(body, &doc)
	v := env.src.Version()
	if !strings.HasSuffix(doc.Tiles[0], fmt.Sprintf("&v=%d", v)) {
		t.Fatalf("template %s does not name version %d", doc.Tiles[0], v)
	}
	u := strings.NewReplacer("{z}", "14", "{x}", fmt.Sprint(centreTile.X), "{y}", fmt.Sprint(centreTile.Y), env.ts.URL, "").Replace(doc.Tiles[0])
	res, _ := env.get(t, u)
	if res.StatusCode != 200 || res.Header.Get("Cache-Control") != cacheVersioned {
		t.Fatalf("%s: %d Cache-Control %q", u, res.StatusCode, res.Header.Get("Cache-Control"))
	}
	// new data: the TileJSON names the new version, the old URL revalidates
	if err := env.src.Add(sourcetest.Records(9, 10), tiles.NewZoneIndex(sourcetest.Zones())); err != nil {
		t.Fatal(err)
	}
	res, _ = env.get(t, u)
	if res.Header.Get("Cache-Control") != cacheRevalidate {
		t.Errorf("a URL of an old version: Cache-Control %q", res.Header.Get("Cache-Control"))
	}
	_, body = env.get(t, "/tiles/density.json?from=2025-03-01&to=2025-03-10")
	json.Unmarshal(body, &doc)
	if !strings.HasSuffix(doc.Tiles[0], fmt.Sprintf("&v=%d", env.src.Version())) || env.src.Version() == v {
		t.Errorf("after new data: template %s, version %d", doc.Tiles[0], env.src.Version())
	}
}

// TileJSON fields are typed as MBTiles and GDAL read them, with the
// descriptions beside them.
func TestTileJSONFieldTypes(t *testing.T) {
	env := newGISEnv(t, 1, nil)
	for _, spec := range tiles.Layers {
		_, body := env.get(t, "/tiles/"+spec.Name+".json")
		var doc struct {
			VectorLayers []tiles.VectorLayer `json:"vector_layers"`
			JSON         string              `json:"json"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		for _, vl := range doc.VectorLayers {
			for f, typ := range vl.Fields {
				if typ != "Number" && typ != "String" && typ != "Boolean" {
					t.Errorf("%s.%s: type %q", vl.ID, f, typ)
				}
				if vl.FieldDescriptions[f] == "" {
					t.Errorf("%s.%s: no description", vl.ID, f)
				}
			}
			if vl.Fields["count"] != "" && vl.Fields["count"] != "Number" || vl.Fields["suppressed"] != "" && vl.Fields["suppressed"] != "Boolean" {
				t.Errorf("%s: %v", vl.ID, vl.Fields)
			}
		}
		if !strings.Contains(doc.JSON, `"count":"Number"`) && spec.Name != tiles.LayerZones {
			t.Errorf("%s: MBTiles json %s", spec.Name, doc.JSON)
		}
	}
}

// Each layer's bounds are those of its data: origins and flows do not
// claim the whole world, and bounds tell nothing about fewer than k
// people: a small group from far away does not stretch them.
func TestLayerBounds(t *testing.T) {
	const k = 15
	env := newGISEnv(t, k, nil)
	bounds := func(layer string) []float64 {
		_, body := env.get(t, "/tiles/"+layer+".json")
		var doc tileJSONDoc
		json.Unmarshal(body, &doc)
		return doc.Bounds
	}
	for _, l := range tiles.LayerNames() {
		b := bounds(l)
		if len(b) != 4 || b[2]-b[0] >= 359 || b[3]-b[1] >= 170 {
			t.Errorf("%s: bounds %v claim the world", l, b)
		}
		c := sourcetest.Centre
		if c[0] < b[0] || c[0] > b[2] || c[1] < b[1] || c[1] > b[3] {
			t.Errorf("%s: bounds %v miss the town", l, b)
		}
	}
	// the zones layer is bounded by the zones
	if b := bounds(tiles.LayerZones); b[2]-b[0] > 0.1 {
		t.Errorf("zones bounds %v", b)
	}
	// Australia is far from every test origin: a few Australians do not
	// move the bounds of origins or flows; k of them do.
	before := map[string][]float64{tiles.LayerOrigins: bounds(tiles.LayerOrigins), tiles.LayerFlows: bounds(tiles.LayerFlows)}
	plant := func(n int) {
		recs := sourcetest.Records(77, n)
		for i := range recs {
			recs[i].Origin, recs[i].Nationality = "", tiles.Country{'A', 'U'}
			recs[i].Weight, recs[i].Visitor = 1, int64(1e9+i)
		}
		if err := env.src.Add(recs, tiles.NewZoneIndex(sourcetest.Zones())); err != nil {
			t.Fatal(err)
		}
	}
	plant(k - 1)
	for l, b := range before {
		if got := bounds(l); fmt.Sprint(got) != fmt.Sprint(b) {
			t.Errorf("%s: %d Australians moved the bounds from %v to %v", l, k-1, b, got)
		}
	}
	plant(3 * k)
	for l, b := range before {
		if got := bounds(l); got[2] < 110 {
			t.Errorf("%s: %d Australians: bounds %v, before %v", l, 4*k-1, got, b)
		}
	}
}

// Per-layer styles GIS software can use: no background (QGIS applies it to
// every layer), no heatmap, no interpolated scales (QGIS skips them), step
// colour scales taken from styles/classes.json, the one definition of the
// colour classes; every style promotes the stable feature ids.
func TestLayerStylesForGIS(t *testing.T) {
	env := newGISEnv(t, 1, nil)
	classes, err := styles.LoadClasses()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range tiles.LayerNames() {
		res, body := env.get(t, "/styles/"+name+".json?gender=f")
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d %s", name, res.StatusCode, body)
		}
		if strings.Contains(string(body), `"interpolate"`) || strings.Contains(string(body), `"heatmap"`) || strings.Contains(string(body), `"background"`) {
			t.Errorf("%s: a background, heatmap or interpolated scale: %s", name, body)
		}
		var doc struct {
			Sources map[string]map[string]any `json:"sources"`
			Layers  []struct {
				ID       string         `json:"id"`
				Type     string         `json:"type"`
				Paint    map[string]any `json:"paint"`
				Metadata map[string]any `json:"metadata"`
			} `json:"layers"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Sources) != 1 || doc.Sources[name] == nil {
			t.Fatalf("%s: sources %v", name, doc.Sources)
		}
		spec, _ := tiles.Layer(name)
		if got, _ := doc.Sources[name]["promoteId"].(string); got != spec.PromoteID {
			t.Errorf("%s: promoteId %q, want %q", name, got, spec.PromoteID)
		}
		classed := 0
		for _, l := range doc.Layers {
			cl, _ := l.Metadata["flowtiles:classes"].(string)
			if cl == "" {
				continue
			}
			classed++
			want, _ := json.Marshal(classes.Classes[cl].Step())
			got, _ := json.Marshal(l.Paint["fill-color"])
			if string(got) != string(want) {
				t.Errorf("%s %s: fill-color %s, classes.json says %s", name, l.ID, got, want)
			}
		}
		if name != tiles.LayerFlows && classed == 0 {
			t.Errorf("%s: no layer coloured by a class", name)
		}
	}
	// the planner's style promotes the ids of every source too
	_, body := env.get(t, "/styles/planner.json")
	var doc struct {
		Sources map[string]map[string]any `json:"sources"`
	}
	json.Unmarshal(body, &doc)
	for _, l := range []string{tiles.LayerOrigins, tiles.LayerFlows, tiles.LayerZones} {
		spec, _ := tiles.Layer(l)
		if doc.Sources[l]["promoteId"] != spec.PromoteID {
			t.Errorf("planner source %s: promoteId %v", l, doc.Sources[l]["promoteId"])
		}
	}
}

// Every origin and flow has a feature id, the same for the same origin
// (or origin and destination) in every tile and zoom, and promoted by
// the styles as the field that carries it.
func TestStableFeatureIDs(t *testing.T) {
	env := newGISEnv(t, 1, nil)
	ctx := context.Background()
	for _, layer := range []string{tiles.LayerOrigins, tiles.LayerFlows} {
		spec, _ := tiles.Layer(layer)
		byKey := map[string]uint64{}
		n := 0
		for z := uint8(0); z <= 12; z += 3 {
			for _, tid := range tilesIn(z, []float64{5, 36, 19, 48}) {
				b, err := env.srv.cfg.Engine.Tile(ctx, tiles.Request{Layer: layer, Tile: tid})
				if err != nil {
					t.Fatal(err)
				}
				if len(b) == 0 {
					continue
				}
				ls, _ := mvt.Unmarshal(b)
				for _, l := range ls {
					seen := map[uint64]bool{}
					for _, f := range l.Features {
						n++
						id, ok := f.ID.(float64)
						if !ok {
							t.Fatalf("%s %v: feature without id: %v", layer, tid, f.Properties)
						}
						if seen[uint64(id)] {
							t.Errorf("%s %v: id %v twice", layer, tid, id)
						}
						seen[uint64(id)] = true
						key := fmt.Sprint(f.Properties[spec.PromoteID])
						if prev, ok := byKey[key]; ok && prev != uint64(id) {
							t.Errorf("%s: %s has ids %d and %v", layer, key, prev, id)
						}
						byKey[key] = uint64(id)
					}
				}
			}
		}
		if n == 0 || len(byKey) < 2 {
			t.Fatalf("%s: %d features, %d keys", layer, n, len(byKey))
		}
	}
}
