package stats

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/flowtiles/flowtiles/tiles"
)

// Geographic reports whether the rows of a grouping are places (zones,
// municipalities, provinces, regions, countries), which GeoJSON can draw.
func Geographic(by string) bool {
	d, ok := dimensions[by]
	return ok && d.level != 0
}

// WriteGeoJSON writes the rows of a report grouped by places (Geographic)
// as a GeoJSON FeatureCollection: one feature per row, with the place's
// boundary from places (null when places does not know it) and the
// columns of the CSV as properties (a withheld figure is null and named
// in "suppressed"), the id being the row's key, for joins. The total and
// what the figures are about are members of the collection: "total",
// "area", "period", "by", "k", "units", "definitions".
func (r *Report) WriteGeoJSON(w io.Writer, places *tiles.Gazetteer) error {
	d, ok := dimensions[r.By]
	if !ok || d.level == 0 {
		return fmt.Errorf("stats: GeoJSON of rows by %q, which are not places", r.By)
	}
	header, lines := r.Table()
	props := func(l []Cell) map[string]any {
		m := make(map[string]any, len(header))
		for i, c := range l {
			switch {
			case c.Number:
				m[header[i]] = c.Num
			case c.Text == "" && i >= 2 && header[i] != "suppressed" && header[i] != "compare_suppressed":
				m[header[i]] = nil
			default:
				m[header[i]] = c.Text
			}
		}
		m["level"] = d.level.String()
		return m
	}
	fc := geojson.NewFeatureCollection()
	for _, l := range lines[1:] {
		key := l[0].Text
		var geom orb.Geometry
		if p := placeOf(places, d.level, key); p != nil && len(p.Shape) > 0 {
			geom = p.Shape
			if len(p.Shape) == 1 {
				geom = p.Shape[0]
			}
		}
		f := &geojson.Feature{Type: "Feature", ID: key, Properties: props(l)}
		if geom != nil {
			f.Geometry = geom
		}
		fc.Append(f)
	}
	fc.ExtraMembers = geojson.Properties{
		"total": props(lines[0]), "area": r.Area, "period": periodText(r.Period), "by": r.By, "k": r.K,
		"timezone": r.Timezone, "filter": r.Filter, "units": r.Units, "definitions": r.Definitions,
	}
	b, err := json.Marshal(fc)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// placeOf finds the place of a row key.
func placeOf(places *tiles.Gazetteer, l tiles.Level, key string) *tiles.Place {
	if places == nil {
		return nil
	}
	if l == tiles.LevelZone {
		k, err := strconv.ParseInt(key, 10, 64)
		if err != nil {
			return nil
		}
		p, _ := places.Place(l, k)
		return p
	}
	p, _ := places.ByCode(l, key)
	return p
}
