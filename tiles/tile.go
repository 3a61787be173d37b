package tiles

import (
	"fmt"
	"strconv"
)

// MaxZoom is the deepest zoom flowtiles serves. At zoom 22 a density bin is
// about 40 cm wide in central Italy: far past any use, so clients overzoom.
const MaxZoom = 22

// Extent is the MVT coordinate extent of every layer.
const Extent = 4096

// TileID is an XYZ tile (the slippy-map scheme: y grows south).
type TileID struct {
	Z    uint8
	X, Y uint32
}

func (t TileID) String() string { return fmt.Sprintf("%d/%d/%d", t.Z, t.X, t.Y) }

// Size is the width of the tile in world units.
func (t TileID) Size() int64 { return WorldSize >> t.Z }

// Rect is the tile's area in world coordinates.
func (t TileID) Rect() Rect {
	s := t.Size()
	return Rect{int64(t.X) * s, int64(t.Y) * s, int64(t.X+1) * s, int64(t.Y+1) * s}
}

// ToExtent converts a world coordinate to the tile's extent coordinates
// (0..Extent inside the tile, outside it in the buffer). It rounds toward
// negative infinity, so neighbouring tiles compute shared vertices alike.
func (t TileID) ToExtent(x, y int64) (int64, int64) {
	r := t.Rect()
	dx, dy := x-r.MinX, y-r.MinY
	// world units per extent unit = 2^(32-z-12)
	sh := int(WorldBits) - int(t.Z) - 12
	if sh >= 0 {
		return dx >> sh, dy >> sh
	}
	return dx << -sh, dy << -sh
}

// TileError says which part of a tile address is wrong and why.
type TileError struct {
	Field  string // "z", "x" or "y"
	Value  string
	Reason string
}

func (e *TileError) Error() string {
	return fmt.Sprintf("tile %s=%q: %s", e.Field, e.Value, e.Reason)
}

// ParseTile validates z, x and y as given in a tile URL.
func ParseTile(zs, xs, ys string) (TileID, error) {
	z, err := strconv.ParseUint(zs, 10, 8)
	if err != nil {
		return TileID{}, &TileError{"z", zs, "not a zoom level (want an integer 0-" + strconv.Itoa(MaxZoom) + ")"}
	}
	if z > MaxZoom {
		return TileID{}, &TileError{"z", zs, "zoom out of range (want 0-" + strconv.Itoa(MaxZoom) + ")"}
	}
	n := uint64(1) << z
	parse := func(field, s string) (uint32, error) {
		v, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return 0, &TileError{field, s, "not a tile coordinate (want a non-negative integer)"}
		}
		if v >= n {
			return 0, &TileError{field, s, fmt.Sprintf("outside the grid at zoom %d (want 0-%d)", z, n-1)}
		}
		return uint32(v), nil
	}
	x, err := parse("x", xs)
	if err != nil {
		return TileID{}, err
	}
	y, err := parse("y", ys)
	if err != nil {
		return TileID{}, err
	}
	return TileID{Z: uint8(z), X: x, Y: y}, nil
}

// TileAt returns the tile at zoom z that contains w.
func TileAt(z uint8, w World) TileID {
	sh := WorldBits - uint(z)
	return TileID{Z: z, X: uint32(uint64(w.X) >> sh), Y: uint32(uint64(w.Y) >> sh)}
}
