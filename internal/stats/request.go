package stats

import (
	"errors"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/flowtiles/flowtiles/tiles"
)

// AreaKind is what kind of area a stats request is about.
type AreaKind string

// Area kinds.
const (
	AreaZone         AreaKind = "zone"
	AreaMunicipality AreaKind = "municipality"
	AreaBBox         AreaKind = "bbox"
)

// AreaSpec is the area of a request as parsed: one zone, one municipality
// or one snapped box.
type AreaSpec struct {
	Kind AreaKind
	// Code is the zone name or the municipality's ISTAT code.
	Code string
	// Rect is the snapped box in world coordinates (bbox only).
	Rect tiles.Rect
	// Requested is the box as asked, west, south, east, north (bbox only).
	Requested [4]float64
}

// Window is a time window [From, To); zero ends are open.
type Window struct {
	From, To time.Time
}

// Request is a parsed stats request.
type Request struct {
	Area AreaSpec
	// Filter holds the window and the narrowing filters; for a zone area
	// also the zone (so that the zone is applied exactly as on tiles).
	Filter tiles.Filter
	// By is the grouping ("" for none).
	By string
	// Compare is the comparison window, nil without one.
	Compare *Window
}

// SnapBits sets the grid that boxes are snapped outward to: 2^14 world
// units, the width of a zoom-14 bin (about 110 m in central Italy).
const SnapBits = 14

// Params are the query parameters ParseRequest reads besides the filters.
var Params = []string{"zone", "municipality", "bbox", "by", "compare_from", "compare_to", "format", "meta"}

// ParseRequest reads a stats request. Dates and hours are in loc; res
// resolves origins and zone names. Every problem is a *tiles.FilterError
// naming the parameter.
func ParseRequest(q url.Values, loc *time.Location, res tiles.Resolver) (Request, error) {
	var r Request
	var areas []string
	for _, p := range []string{"zone", "municipality", "bbox"} {
		if q.Has(p) {
			areas = append(areas, p)
		}
	}
	switch len(areas) {
	case 0:
		return r, &tiles.FilterError{Param: "zone|municipality|bbox", Reason: "an area is required: zone=NAME, municipality=ISTAT code or bbox=minlon,minlat,maxlon,maxlat"}
	case 1:
	default:
		return r, &tiles.FilterError{Param: areas[1], Value: q.Get(areas[1]),
			Reason: "give one area only (" + areas[0] + " is already given): zone, municipality or bbox"}
	}
	f, err := tiles.ParseFilter(q, loc, res)
	if err != nil {
		return r, err
	}
	r.Filter = f
	switch areas[0] {
	case "zone":
		if f.Zones == 0 { // zone= with an empty name
			return r, &tiles.FilterError{Param: "zone", Value: "", Reason: "unknown zone"}
		}
		r.Area = AreaSpec{Kind: AreaZone, Code: f.Zone}
	case "municipality":
		code := strings.TrimSpace(q.Get("municipality"))
		if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
			return r, &tiles.FilterError{Param: "municipality", Value: code, Reason: "not an ISTAT municipality code (want 6 digits such as 054017)"}
		}
		r.Area = AreaSpec{Kind: AreaMunicipality, Code: code}
	case "bbox":
		a, err := parseBBox(q.Get("bbox"))
		if err != nil {
			return r, err
		}
		r.Area = a
	}
	if by := q.Get("by"); by != "" {
		if _, ok := dimensions[by]; !ok {
			return r, &tiles.FilterError{Param: "by", Value: by, Reason: "unknown grouping (want one of " + strings.Join(ByNames, ", ") + ")"}
		}
		r.By = by
	}
	if r.Compare, err = parseCompare(q, f, loc); err != nil {
		return r, err
	}
	return r, nil
}

// parseBBox reads minlon,minlat,maxlon,maxlat and snaps the box outward to
// the 2^SnapBits grid of world coordinates.
func parseBBox(s string) (AreaSpec, error) {
	bad := func(reason string) error { return &tiles.FilterError{Param: "bbox", Value: s, Reason: reason} }
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return AreaSpec{}, bad("want four numbers minlon,minlat,maxlon,maxlat")
	}
	var v [4]float64
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return AreaSpec{}, bad("want four numbers minlon,minlat,maxlon,maxlat")
		}
		v[i] = f
	}
	west, south, east, north := v[0], v[1], v[2], v[3]
	switch {
	case west < -180 || east > 180:
		return AreaSpec{}, bad("longitudes must lie in -180..180")
	case south < -tiles.MaxLat || north > tiles.MaxLat:
		return AreaSpec{}, bad("latitudes must lie in -85.05..85.05 (Web Mercator)")
	case west >= east || south >= north:
		return AreaSpec{}, bad("the box is empty: want minlon < maxlon and minlat < maxlat")
	}
	return AreaSpec{Kind: AreaBBox, Rect: SnapRect(tiles.RectFromLonLat(west, south, east, north)), Requested: v}, nil
}

// SnapRect grows r outward to multiples of 2^SnapBits world units.
func SnapRect(r tiles.Rect) tiles.Rect {
	const step = int64(1) << SnapBits
	down := func(v int64) int64 { return v &^ (step - 1) }
	up := func(v int64) int64 { return down(v + step - 1) }
	return tiles.Rect{MinX: down(r.MinX), MinY: down(r.MinY), MaxX: up(r.MaxX), MaxY: up(r.MaxY)}.Clamp()
}

// parseCompare reads compare_from and compare_to: both or neither, a
// window that does not overlap the request's own, which must be bounded.
func parseCompare(q url.Values, f tiles.Filter, loc *time.Location) (*Window, error) {
	hasFrom, hasTo := q.Get("compare_from") != "", q.Get("compare_to") != ""
	if !hasFrom && !hasTo {
		return nil, nil
	}
	if !hasFrom || !hasTo {
		missing := "compare_from"
		if hasFrom {
			missing = "compare_to"
		}
		return nil, &tiles.FilterError{Param: missing, Reason: "a comparison needs both compare_from and compare_to"}
	}
	// The same syntax as from and to: parse them as such.
	cf, err := tiles.ParseFilter(url.Values{"from": {q.Get("compare_from")}, "to": {q.Get("compare_to")}}, loc, nil)
	if err != nil {
		var fe *tiles.FilterError
		if errors.As(err, &fe) {
			fe.Param = "compare_" + fe.Param
		}
		return nil, err
	}
	if f.From.IsZero() || f.To.IsZero() {
		p := "from"
		if !f.From.IsZero() {
			p = "to"
		}
		return nil, &tiles.FilterError{Param: p, Value: q.Get(p), Reason: "a comparison needs a bounded period: give both from and to"}
	}
	w := &Window{From: cf.From, To: cf.To}
	if w.From.Before(f.To) && f.From.Before(w.To) {
		return nil, &tiles.FilterError{Param: "compare_from", Value: q.Get("compare_from"),
			Reason: "the comparison period overlaps the period from–to: two overlapping windows would isolate the people of their difference"}
	}
	return w, nil
}
