package wkbgeom

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/paulmach/orb"
	"github.com/twpayne/go-geom"
	"github.com/twpayne/go-geom/encoding/wkb"
)

func TestRoundTrip(t *testing.T) {
	mp := geom.NewMultiPolygon(geom.XY).MustSetCoords([][][]geom.Coord{
		{{{0, 0}, {1, 0}, {1, 1}, {0, 0}}, {{0.2, 0.1}, {0.8, 0.1}, {0.8, 0.5}, {0.2, 0.1}}},
		{{{5, 5}, {6, 5}, {6, 6}, {5, 5}}},
	})
	b, err := wkb.Marshal(mp, binary.LittleEndian)
	if err != nil {
		t.Fatal(err)
	}
	got, err := MultiPolygon(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got[0]) != 2 || got[0][1][2] != (orb.Point{0.8, 0.5}) || got[1][0][1] != (orb.Point{6, 5}) {
		t.Errorf("got %v", got)
	}
	pb, _ := wkb.Marshal(geom.NewPoint(geom.XY).MustSetCoords(geom.Coord{12.4, 42.9}), binary.BigEndian)
	if p, err := Point(pb); err != nil || p != (orb.Point{12.4, 42.9}) {
		t.Errorf("point: %v %v", p, err)
	}
	var ute *UnexpectedTypeError
	if _, err := MultiPolygon(pb); !errors.As(err, &ute) {
		t.Errorf("a point as a multipolygon: %v", err)
	}
	if _, err := Point([]byte{1, 2}); err == nil {
		t.Error("garbage decoded")
	}
}
