package tiles

import (
	"fmt"
	"math"
)

// Shape is the shape of density bins.
type Shape uint8

// Bin shapes.
const (
	Hexagon Shape = iota // default
	Square
)

func (s Shape) String() string {
	if s == Square {
		return "square"
	}
	return "hex"
}

// ParseShape reads "hex" (or "hexagon", or empty) and "square".
func ParseShape(s string) (Shape, error) {
	switch s {
	case "", "hex", "hexagon":
		return Hexagon, nil
	case "square":
		return Square, nil
	}
	return 0, fmt.Errorf("unknown bin shape %q (want hex or square)", s)
}

// BinsPerTile is the number of bin columns across a tile: at every zoom a bin
// is 1/16 of a tile wide (32 CSS pixels on a 512-pixel MapLibre tile).
const BinsPerTile = 16

// Grid is the global bin lattice of one zoom level. Bins are defined in world
// coordinates, independently of tiles, so a bin crossing a tile edge is the
// same bin seen from both tiles, and every record belongs to exactly one bin.
//
// Hexagons are pointy-top: row r has its centres at y = r·H and
// x = c·W + (r odd ? W/2 : 0). A record belongs to the nearest centre; all of
// this is integer arithmetic, so PostGIS (see internal/pgstore) computes the
// same bin from the same wx, wy columns.
type Grid struct {
	Shape Shape
	Zoom  uint8
	W     int64 // horizontal spacing of centres (bin width)
	H     int64 // vertical spacing of rows (W for squares, ≈W·√3/2 for hexagons)
	T     int64 // hexagons: distance from centre to the top and bottom vertices
}

// NewGrid returns the bin grid of zoom z.
func NewGrid(shape Shape, z uint8) Grid {
	w := (WorldSize >> z) / BinsPerTile
	g := Grid{Shape: shape, Zoom: z, W: w, H: w}
	if shape == Hexagon {
		g.H = int64(math.Round(float64(w) * math.Sqrt(3) / 2))
		// Voronoi vertex of the lattice: (W²/4 + H²) / 2H.
		g.T = int64(math.Round((float64(w)*float64(w)/4 + float64(g.H)*float64(g.H)) / (2 * float64(g.H))))
	}
	return g
}

// Bin is a cell of a Grid: row and column in the lattice.
type Bin struct {
	Row, Col int64
}

// BinOf returns the bin containing w.
func (g Grid) BinOf(w World) Bin {
	x, y := int64(w.X), int64(w.Y)
	if g.Shape == Square {
		return Bin{Row: y / g.W, Col: x / g.W}
	}
	half := g.W / 2
	r0 := y / g.H
	c0 := (x + half) / g.W // row r0 even: offset 0
	if r0&1 == 1 {
		c0 = x / g.W // odd row: offset W/2, so (x - W/2 + W/2) / W
	}
	r1 := r0 + 1
	c1 := x / g.W
	if r1&1 == 0 {
		c1 = (x + half) / g.W
	}
	dx0, dy0 := x-g.centreX(r0, c0), y-r0*g.H
	dx1, dy1 := x-g.centreX(r1, c1), y-r1*g.H
	if dx0*dx0+dy0*dy0 <= dx1*dx1+dy1*dy1 {
		return Bin{r0, c0}
	}
	return Bin{r1, c1}
}

func (g Grid) centreX(r, c int64) int64 {
	if g.Shape == Square {
		return c*g.W + g.W/2
	}
	return c*g.W + (r&1)*(g.W/2)
}

// Centre returns the centre of b in world coordinates.
func (g Grid) Centre(b Bin) (x, y int64) {
	if g.Shape == Square {
		return b.Col*g.W + g.W/2, b.Row*g.W + g.W/2
	}
	return g.centreX(b.Row, b.Col), b.Row * g.H
}

// Reach is how far a bin extends from its centre: half the width
// horizontally, and T (hexagons) or half the width (squares) vertically.
func (g Grid) Reach() (dx, dy int64) {
	if g.Shape == Square {
		return g.W / 2, g.W / 2
	}
	return g.W / 2, g.T
}

// Ring returns the vertices of b in world coordinates, clockwise on the map
// (which is the exterior-ring winding of the MVT specification, whose y axis
// points down), without repeating the first vertex. The vertices are integer
// functions of the lattice, so neighbouring bins share theirs exactly.
func (g Grid) Ring(b Bin) [][2]int64 {
	cx, cy := g.Centre(b)
	if g.Shape == Square {
		h := g.W / 2
		return [][2]int64{{cx - h, cy - h}, {cx + h, cy - h}, {cx + h, cy + h}, {cx - h, cy + h}}
	}
	h, t := g.W/2, g.T
	s := g.H - g.T // the side vertices: shared with the row above at r·H - T
	return [][2]int64{
		{cx, cy - t}, {cx + h, cy - s}, {cx + h, cy + s},
		{cx, cy + t}, {cx - h, cy + s}, {cx - h, cy - s},
	}
}

// ID numbers the bins of one grid uniquely, below 2^53 at every zoom up to
// MaxZoom so that JavaScript clients read it exactly (MVT feature ids).
func (g Grid) ID(b Bin) uint64 {
	cols := WorldSize/g.W + 2
	return uint64(b.Row)*uint64(cols) + uint64(b.Col)
}

// Bins calls fn for every bin whose shape intersects the rectangle r, row by
// row. It is how an engine knows which bins a tile draws.
func (g Grid) Bins(r Rect, fn func(Bin)) {
	dx, dy := g.Reach()
	rows := g.H
	r0 := max((r.MinY-dy)/rows-1, 0)
	r1 := (r.MaxY + dy) / rows
	for row := r0; row <= r1+1; row++ {
		b := Bin{Row: row}
		for col := max((r.MinX-dx)/g.W-1, 0); col <= (r.MaxX+dx)/g.W+1; col++ {
			b.Col = col
			cx, cy := g.Centre(b)
			if cx+dx > r.MinX && cx-dx < r.MaxX && cy+dy > r.MinY && cy-dy < r.MaxY {
				fn(b)
			}
		}
	}
}
