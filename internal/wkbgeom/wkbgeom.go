// Package wkbgeom converts geometry at the database edge: PostGIS returns WKB
// (select ST_AsBinary(geom)), go-geom decodes it, and this package turns it
// into orb geometry, the type the rest of flowtiles works with. Conversion
// happens once, here, never back and forth.
package wkbgeom

import (
	"fmt"

	"github.com/paulmach/orb"
	"github.com/twpayne/go-geom"
	"github.com/twpayne/go-geom/encoding/wkb"
)

// UnexpectedTypeError says a geometry was not of the wanted type.
type UnexpectedTypeError struct {
	Got  string
	Want string
}

func (e *UnexpectedTypeError) Error() string {
	return fmt.Sprintf("geometry is a %s, want a %s", e.Got, e.Want)
}

// MultiPolygon decodes a WKB Polygon or MultiPolygon.
func MultiPolygon(b []byte) (orb.MultiPolygon, error) {
	g, err := wkb.Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("decoding WKB: %w", err)
	}
	switch g := g.(type) {
	case *geom.Polygon:
		return orb.MultiPolygon{polygon(g)}, nil
	case *geom.MultiPolygon:
		mp := make(orb.MultiPolygon, g.NumPolygons())
		for i := range mp {
			mp[i] = polygon(g.Polygon(i))
		}
		return mp, nil
	}
	return nil, &UnexpectedTypeError{Got: fmt.Sprintf("%T", g), Want: "polygon or multipolygon"}
}

func polygon(p *geom.Polygon) orb.Polygon {
	out := make(orb.Polygon, p.NumLinearRings())
	for i := range out {
		lr := p.LinearRing(i)
		r := make(orb.Ring, lr.NumCoords())
		for j := range r {
			c := lr.Coord(j)
			r[j] = orb.Point{c.X(), c.Y()}
		}
		out[i] = r
	}
	return out
}

// Point decodes a WKB Point.
func Point(b []byte) (orb.Point, error) {
	g, err := wkb.Unmarshal(b)
	if err != nil {
		return orb.Point{}, fmt.Errorf("decoding WKB: %w", err)
	}
	p, ok := g.(*geom.Point)
	if !ok {
		return orb.Point{}, &UnexpectedTypeError{Got: fmt.Sprintf("%T", g), Want: "point"}
	}
	return orb.Point{p.X(), p.Y()}, nil
}
