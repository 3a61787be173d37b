package stats

import (
	"context"
	"fmt"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/clip"
	"github.com/paulmach/orb/planar"

	"github.com/flowtiles/flowtiles/tiles"
)

// A municipality is a polygon, and a Source selects records by rectangle
// only. boundaryRect bridges the two without approximating: it finds a
// rectangle holding every record of the window inside the boundary and no
// record outside it, or reports that none exists.
//
// It groups the window's records by square bins over the boundary's bounds
// (at most 64 across) and classifies each non-empty bin against the
// boundary: inside, outside, or cut by it. Cut bins are looked at again with
// bins 16 times smaller, down to zoom 22 (bins of 64 world units, about
// 45 cm), where a bin counts by its centre. The answer is the bounding box
// of the non-empty inside bins, valid when no non-empty outside bin meets
// it. For a town's own municipality the records sit well inside the
// boundary and one query settles it; a neighbour whose boundary runs
// between records cannot be answered (and the caller says so).
//
// Only bins of at least k people decide (tiles.Privacy.Informs): whether a
// municipality can be answered must not tell where one person was. Bins of
// fewer people are placed by their centre and never refined; those inside
// join the rectangle when they can, and the rectangle may hold a few
// records of sparse bins outside the boundary: the figures of a
// municipality are exact to within its sparsely visited edges (a few
// people, less than the noise).
// The rectangle is never shown to clients: it would reveal where the
// outermost records lie.

// maxBoundaryQueries bounds the work of one boundaryRect.
const maxBoundaryQueries = 256

// errNotSeparable means no rectangle separates the records inside a
// boundary from those outside it.
var errNotSeparable = fmt.Errorf("no rectangle separates the records inside the boundary from those outside")

// boundaryRect returns the rectangle described above; empty is true when
// no record of the window lies inside the boundary.
func boundaryRect(ctx context.Context, src tiles.Source, priv tiles.Privacy, shape orb.MultiPolygon, bounds tiles.Rect, window tiles.Filter) (r tiles.Rect, empty bool, err error) {
	type task struct {
		area tiles.Rect
		z    uint8
	}
	side := max(bounds.MaxX-bounds.MinX, bounds.MaxY-bounds.MinY)
	z := uint8(0)
	for z < tiles.MaxZoom && (tiles.WorldSize>>(z+1))/tiles.BinsPerTile*64 >= side {
		z++ // the finest grid with at most 64 bins across
	}
	queue := []task{{bounds, z}}
	// in and out are the bins of at least k people; sparseIn the inside
	// bins of fewer (classified by their centre, never refined).
	var in, out, sparseIn []tiles.Rect
	base := tiles.Filter{From: window.From, To: window.To}
	for n := 0; len(queue) > 0; n++ {
		if n == maxBoundaryQueries {
			return r, false, fmt.Errorf("%w: the boundary cuts through too many occupied places", errNotSeparable)
		}
		t := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		g := tiles.NewGrid(tiles.Square, t.z)
		cols := tiles.WorldSize/g.W + 2
		q := tiles.Query{Filter: base, Area: t.area, By: []tiles.Dim{tiles.DimBin}, Grid: g}
		err := src.Aggregate(ctx, q, func(gr tiles.Group) error {
			row, col := gr.Key[0]/cols, gr.Key[0]%cols
			cell := intersect(tiles.Rect{MinX: col * g.W, MinY: row * g.W, MaxX: (col + 1) * g.W, MaxY: (row + 1) * g.W}, t.area)
			if !priv.Informs(gr) {
				if classify(shape, cell, true) == inside {
					sparseIn = append(sparseIn, cell)
				}
				return nil
			}
			switch classify(shape, cell, t.z == tiles.MaxZoom) {
			case inside:
				in = append(in, cell)
			case outside:
				out = append(out, cell)
			default:
				queue = append(queue, task{cell, min(t.z+4, tiles.MaxZoom)})
			}
			return nil
		})
		if err != nil {
			return r, false, fmt.Errorf("locating records against the boundary: %w", err)
		}
	}
	clear := func(r tiles.Rect) bool {
		for _, c := range out {
			if r.Intersects(c) {
				return false
			}
		}
		return true
	}
	for i, c := range in {
		if i == 0 {
			r = c
		} else {
			r = union(r, c)
		}
	}
	if len(in) > 0 && !clear(r) {
		return r, false, errNotSeparable
	}
	// sparse inside bins join when they can, without ever making the
	// request fail; sparse outside bins in the rectangle are counted
	for _, c := range sparseIn {
		next := c
		if !r.Empty() {
			next = union(r, c)
		}
		if clear(next) {
			r = next
		}
	}
	return r, r.Empty(), nil
}

func union(a, b tiles.Rect) tiles.Rect {
	return tiles.Rect{MinX: min(a.MinX, b.MinX), MinY: min(a.MinY, b.MinY), MaxX: max(a.MaxX, b.MaxX), MaxY: max(a.MaxY, b.MaxY)}
}

func intersect(a, b tiles.Rect) tiles.Rect {
	return tiles.Rect{MinX: max(a.MinX, b.MinX), MinY: max(a.MinY, b.MinY), MaxX: min(a.MaxX, b.MaxX), MaxY: min(a.MaxY, b.MaxY)}
}

type placement uint8

const (
	inside placement = iota
	outside
	cut
)

// classify places a world rectangle against a WGS 84 multipolygon. With
// byCentre it decides by the rectangle's centre alone.
func classify(shape orb.MultiPolygon, r tiles.Rect, byCentre bool) placement {
	west, south, east, north := r.LonLatBounds()
	cell := orb.Bound{Min: orb.Point{west, south}, Max: orb.Point{east, north}}
	if byCentre {
		if planar.MultiPolygonContains(shape, cell.Center()) {
			return inside
		}
		return outside
	}
	if !cell.Intersects(shape.Bound()) {
		return outside
	}
	clipped := clip.MultiPolygon(cell, shape.Clone()) // clip uses its input as scratch space
	a, whole := planar.Area(clipped), (east-west)*(north-south)
	switch {
	case a <= whole*1e-9:
		return outside
	case a >= whole*(1-1e-9):
		return inside
	}
	return cut
}
