package tiles

import (
	"math"
)

// WorldBits is the resolution of world coordinates: the Web Mercator square
// is 2^32 units wide (about 9 mm at the equator, 7 mm in central Italy).
const WorldBits = 32

// WorldSize is the width of the world in world units.
const WorldSize = int64(1) << WorldBits

// MaxLat is the latitude limit of Web Mercator.
const MaxLat = 85.05112877980659

// World is a point in integer Web Mercator coordinates: X grows east, Y grows
// south, both in [0, 2^32). Every record is projected once, when it enters
// flowtiles, and both stores bin from these integers, so the in-memory and
// the PostGIS store put a record in the same bin with no floating-point
// disagreement (PostGIS keeps them in the wx, wy columns).
type World struct {
	X, Y uint32
}

// Project converts WGS 84 longitude and latitude (degrees) to world
// coordinates. Latitudes beyond ±MaxLat are clamped.
func Project(lon, lat float64) World {
	if lat > MaxLat {
		lat = MaxLat
	} else if lat < -MaxLat {
		lat = -MaxLat
	}
	x := (lon + 180) / 360
	s := math.Sin(lat * math.Pi / 180)
	y := 0.5 - math.Log((1+s)/(1-s))/(4*math.Pi)
	return World{X: toWorld(x), Y: toWorld(y)}
}

func toWorld(f float64) uint32 {
	v := math.Floor(f * float64(WorldSize))
	if v < 0 {
		return 0
	}
	if v >= float64(WorldSize) {
		return uint32(WorldSize - 1)
	}
	return uint32(v)
}

// Unproject returns the longitude and latitude of world coordinates x, y
// (which may lie between integers or outside the world square).
func Unproject(x, y float64) (lon, lat float64) {
	lon = x/float64(WorldSize)*360 - 180
	n := math.Pi - 2*math.Pi*y/float64(WorldSize)
	lat = 180 / math.Pi * math.Atan(math.Sinh(n))
	return lon, lat
}

// Rect is a half-open rectangle of world coordinates [MinX, MaxX) × [MinY,
// MaxY). It is int64 so that it can extend past the world's edges (a tile's
// buffer) without wrapping.
type Rect struct {
	MinX, MinY, MaxX, MaxY int64
}

// Contains reports whether w lies in r.
func (r Rect) Contains(w World) bool {
	x, y := int64(w.X), int64(w.Y)
	return x >= r.MinX && x < r.MaxX && y >= r.MinY && y < r.MaxY
}

// Intersects reports whether r and o overlap.
func (r Rect) Intersects(o Rect) bool {
	return r.MinX < o.MaxX && o.MinX < r.MaxX && r.MinY < o.MaxY && o.MinY < r.MaxY
}

// Expand grows r by dx on the left and right and dy on the top and bottom.
func (r Rect) Expand(dx, dy int64) Rect {
	return Rect{r.MinX - dx, r.MinY - dy, r.MaxX + dx, r.MaxY + dy}
}

// Clamp limits r to the world square.
func (r Rect) Clamp() Rect {
	return Rect{max(r.MinX, 0), max(r.MinY, 0), min(r.MaxX, WorldSize), min(r.MaxY, WorldSize)}
}

// Empty reports whether r holds no point.
func (r Rect) Empty() bool { return r.MinX >= r.MaxX || r.MinY >= r.MaxY }

// LonLatBounds returns r as west, south, east, north in degrees.
func (r Rect) LonLatBounds() (west, south, east, north float64) {
	west, north = Unproject(float64(r.MinX), float64(r.MinY))
	east, south = Unproject(float64(r.MaxX), float64(r.MaxY))
	return west, south, east, north
}

// RectFromLonLat returns the world rectangle covering a lon/lat bounding box.
func RectFromLonLat(west, south, east, north float64) Rect {
	a := Project(west, north)
	b := Project(east, south)
	return Rect{int64(a.X), int64(a.Y), int64(b.X) + 1, int64(b.Y) + 1}
}
