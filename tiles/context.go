package tiles

import (
	"fmt"
	"slices"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"
)

// The reference context: the boundaries and names of the reference areas,
// without any presence figure. It is the basemap flowtiles draws when it is
// given none (served as the basemap layer): a map of where the town is, with
// what flowtiles owns and nothing fetched from elsewhere.
const (
	LayerBoundaries = "boundaries" // MVT layer: area polygons
	LayerLabels     = "labels"     // MVT layer: one point per area, for its name
)

// ContextSpec describes the context tiles (TileJSON vector_layers).
var ContextSpec = LayerSpec{
	Name: "basemap", Title: "Reference context",
	Description: "Boundaries and names of regions, provinces and municipalities (ISTAT), drawn under the data when no basemap is configured.",
	MinZoom:     0, MaxZoom: 16,
	Vector: []VectorLayer{
		vectorLayer(LayerBoundaries, "Area polygons: regions at every zoom, provinces from zoom 6, municipalities from zoom 8.", 0, 16,
			Field{"level", TypeString, "region, province or municipality"}, Field{"code", TypeString, "ISTAT code"}, Field{"name", TypeString, "name"}),
		vectorLayer(LayerLabels, "One point inside each area (its representative point) carrying its name: regions up to zoom 8, provinces 6-9, municipalities from zoom 8.", 0, 16,
			Field{"level", TypeString, "region, province or municipality"}, Field{"code", TypeString, "ISTAT code"}, Field{"name", TypeString, "name"},
			Field{"population", TypeNumber, "residents (ISTAT 2011), when known"}),
	},
}

// contextLevels are the levels drawn at a zoom: polygons and labels.
func contextLevels(z uint8) (polys, labels []Level) {
	polys = []Level{LevelRegion}
	if z >= 6 {
		polys = append(polys, LevelProvince)
	}
	if z >= 8 {
		polys = append(polys, LevelMunicipality)
	}
	if z <= 8 {
		labels = append(labels, LevelRegion)
	}
	if z >= 6 && z <= 9 {
		labels = append(labels, LevelProvince)
	}
	if z >= 8 {
		labels = append(labels, LevelMunicipality)
	}
	return polys, labels
}

// ContextTile renders the reference context of a tile as an uncompressed
// MVT: nil when the tile holds no area. The bytes depend on the places
// only, so the same tile is always the same bytes.
func (g *Gazetteer) ContextTile(t TileID) ([]byte, error) {
	polys, labels := contextLevels(t.Z)
	bl := newLayer(LayerBoundaries)
	for _, l := range polys {
		for _, c := range g.cut(l, t) {
			p := g.place(c.place)
			f := geojson.NewFeature(c.shape)
			f.Properties = geojson.Properties{"level": l.String(), "code": p.Code, "name": p.Name}
			bl.Features = append(bl.Features, f)
		}
	}
	ll := newLayer(LayerLabels)
	r := t.Rect()
	for _, l := range labels {
		tr := g.index[l]
		if tr == nil {
			continue
		}
		var idx []int32
		tr.Search([2]int64{r.MinX, r.MinY}, [2]int64{r.MaxX - 1, r.MaxY - 1}, func(_, _ [2]int64, i int32) bool {
			idx = append(idx, i)
			return true
		})
		slices.Sort(idx)
		for _, i := range idx {
			p := g.place(i)
			w := Project(p.Point[0], p.Point[1])
			if !r.Contains(w) {
				continue // each label in exactly one tile
			}
			x, y := t.ToExtent(int64(w.X), int64(w.Y))
			f := geojson.NewFeature(orb.Point{float64(x), float64(y)})
			f.Properties = geojson.Properties{"level": l.String(), "code": p.Code, "name": p.Name}
			if p.Population > 0 {
				f.Properties["population"] = p.Population
			}
			ll.Features = append(ll.Features, f)
		}
	}
	var layers mvt.Layers
	for _, l := range []*mvt.Layer{bl, ll} {
		if len(l.Features) > 0 {
			layers = append(layers, l)
		}
	}
	if len(layers) == 0 {
		return nil, nil
	}
	b, err := mvt.Marshal(layers)
	if err != nil {
		return nil, fmt.Errorf("context tile %v: encoding: %w", t, err)
	}
	return b, nil
}
