package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/encoding/wkb"

	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/internal/testdb"
	"github.com/flowtiles/flowtiles/tiles"
)

// validityEngine is an engine over every reference area (regions,
// provinces, municipalities, countries) and the test zones, with a record
// from every municipality and every country and k=1, so that the origins
// layer draws every area.
func validityEngine(t testing.TB) (*tiles.Engine, []tiles.Place) {
	t.Helper()
	ref, err := refdata.Places()
	if err != nil {
		t.Fatal(err)
	}
	zones := sourcetest.Zones()
	places := append(append([]tiles.Place(nil), ref...), zones...)
	refdata.NameProvinces(places)
	var recs []presence.Record
	at := time.Date(2025, 3, 3, 10, 0, 0, 0, time.UTC)
	c := sourcetest.Centre
	for _, p := range ref {
		r := presence.Record{ObservedAt: at, Lon: c[0], Lat: c[1], Weight: 1, Nationality: tiles.Italy}
		switch p.Level {
		case tiles.LevelMunicipality:
			r.Origin = p.Code
		case tiles.LevelCountry:
			r.Nationality = tiles.Country{p.Code[0], p.Code[1]}
		default:
			continue
		}
		recs = append(recs, r)
	}
	store := memstore.New(refdata.Italy())
	if err := store.Add(recs, tiles.NewZoneIndex(zones)); err != nil {
		t.Fatal(err)
	}
	return tiles.NewEngine(store, tiles.NewGazetteer(places), tiles.Config{Privacy: tiles.UnperturbedForTests(1), Loc: sourcetest.Rome, Town: c}), places
}

// validityTiles are the tiles checked at zoom z: every tile over Italy up
// to zoom 8 (and the whole world up to 3, for countries), and above that
// the tiles of random points of the areas' boundaries, where rounding and
// clipping cut them.
func validityTiles(z uint8, places []tiles.Place, rng *rand.Rand, perZoom int) []tiles.TileID {
	seen := map[tiles.TileID]bool{}
	var out []tiles.TileID
	add := func(t tiles.TileID) {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	if z <= 8 {
		w, s, e, n := 6.5, 35.4, 18.6, 47.2
		if z <= 3 {
			w, s, e, n = -180, -85, 180, 85
		}
		a, b := tiles.TileAt(z, tiles.Project(w, n)), tiles.TileAt(z, tiles.Project(e, s))
		for x := a.X; x <= b.X; x++ {
			for y := a.Y; y <= b.Y; y++ {
				add(tiles.TileID{Z: z, X: x, Y: y})
			}
		}
		return out
	}
	for len(out) < perZoom {
		p := places[rng.IntN(len(places))]
		if len(p.Shape) == 0 {
			continue
		}
		poly := p.Shape[rng.IntN(len(p.Shape))]
		ring := poly[rng.IntN(len(poly))]
		pt := ring[rng.IntN(len(ring))]
		add(tiles.TileAt(z, tiles.Project(pt[0], pt[1])))
	}
	return out
}

// polygonFeature is a decoded polygon feature and where it comes from.
type polygonFeature struct {
	where string
	wkb   []byte
}

func decodedPolygons(t testing.TB, where string, b []byte) []polygonFeature {
	t.Helper()
	if len(b) == 0 {
		return nil
	}
	ls, err := mvt.Unmarshal(b)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	var out []polygonFeature
	for _, l := range ls {
		for i, f := range l.Features {
			switch f.Geometry.(type) {
			case orb.Polygon, orb.MultiPolygon:
			default:
				continue
			}
			g, err := wkb.Marshal(f.Geometry)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, polygonFeature{where: fmt.Sprintf("%s %s#%d %v", where, l.Name, i, f.Properties["name"]), wkb: g})
		}
	}
	return out
}

// Every polygon of every polygon layer (origins, zones, density, the
// reference context) at every zoom is valid for PostGIS (GEOS), decoded
// from the tiles: simplification and rounding made self-intersecting
// rings in origins tiles at zooms 0-4 and 7 (Toscana, Umbria, Lazio, the
// province of Naples) that broke GeoPackage exports and QGIS processing.
func TestPolygonsAreValidAtEveryZoom(t *testing.T) {
	pool := testdb.New(t)
	engine, places := validityEngine(t)
	seed := sourcetest.Seed(t)
	rng := rand.New(rand.NewPCG(seed, 15))
	ctx := context.Background()
	var feats []polygonFeature
	counts := map[string]int{}
	render := func(layer string, tid tiles.TileID) {
		b, err := engine.Tile(ctx, tiles.Request{Layer: layer, Tile: tid})
		if err != nil {
			t.Fatal(err)
		}
		fs := decodedPolygons(t, fmt.Sprintf("%s %v", layer, tid), b)
		counts[layer] += len(fs)
		feats = append(feats, fs...)
	}
	for z := uint8(0); z <= 16; z++ {
		for _, tid := range validityTiles(z, places, rng, 40) {
			if z <= 14 {
				render(tiles.LayerOrigins, tid)
			}
			b, err := engine.Places().ContextTile(tid)
			if err != nil {
				t.Fatal(err)
			}
			fs := decodedPolygons(t, fmt.Sprintf("basemap %v", tid), b)
			counts["basemap"] += len(fs)
			feats = append(feats, fs...)
		}
	}
	// zones and density bins, over the town, at every zoom they draw
	zb := engine.Places().Bounds(&sourcetest.Zones()[0])
	for z := uint8(10); z <= 20; z++ {
		a, b := tiles.TileAt(z, tiles.World{X: uint32(zb.MinX), Y: uint32(zb.MinY)}), tiles.TileAt(z, tiles.World{X: uint32(zb.MaxX), Y: uint32(zb.MaxY)})
		n := 0
		for x := a.X; x <= b.X && n < 64; x++ {
			for y := a.Y; y <= b.Y && n < 64; y++ {
				n++
				render(tiles.LayerZones, tiles.TileID{Z: z, X: x, Y: y})
			}
		}
	}
	for z := uint8(0); z <= 20; z++ {
		render(tiles.LayerDensity, tiles.TileAt(z, tiles.Project(sourcetest.Centre[0], sourcetest.Centre[1])))
	}
	for _, l := range []string{tiles.LayerOrigins, tiles.LayerZones, tiles.LayerDensity, "basemap"} {
		if counts[l] == 0 {
			t.Fatalf("no %s polygons drawn: %v", l, counts)
		}
	}
	t.Logf("polygons checked: %v", counts)
	geoms := make([][]byte, len(feats))
	for i, f := range feats {
		geoms[i] = f.wkb
	}
	rows, err := pool.Query(ctx, `SELECT i, ST_IsValidReason(ST_GeomFromWKB(g)) FROM unnest($1::bytea[]) WITH ORDINALITY AS t(g, i) WHERE NOT ST_IsValid(ST_GeomFromWKB(g)) ORDER BY i`, geoms)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	bad := 0
	for rows.Next() {
		var i int64
		var reason string
		if err := rows.Scan(&i, &reason); err != nil {
			t.Fatal(err)
		}
		if bad++; bad <= 30 {
			t.Errorf("%s: %s", feats[i-1].where, reason)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if bad > 0 {
		t.Errorf("%d of %d polygons invalid", bad, len(feats))
	}
}

// BenchmarkCutReferenceAreas measures cutting every reference area to the
// tiles of zooms 6 to 8 over Italy (the context layer's regions, provinces
// and municipalities), without the cut cache.
func BenchmarkCutReferenceAreas(b *testing.B) {
	ref, err := refdata.Places()
	if err != nil {
		b.Fatal(err)
	}
	var ts []tiles.TileID
	for z := uint8(6); z <= 8; z++ {
		ts = append(ts, validityTiles(z, nil, nil, 0)...)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		g := tiles.NewGazetteer(append([]tiles.Place(nil), ref...))
		b.StartTimer()
		for _, t := range ts {
			if _, err := g.ContextTile(t); err != nil {
				b.Fatal(err)
			}
		}
	}
}
