package refdata

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/tiles"
)

// placesFile holds the boundaries of the database-less mode, written by
// scripts/make-refdata: regions, provinces, municipalities (simplified arc
// by arc, ~20 m, so that neighbours still meet; provinces and regions are
// the union of their municipalities, so the levels nest exactly) and
// Natural Earth countries.
//
// Format, after gunzip: the line "FTPLACES1\n", a uvarint count, then per
// place: level byte (tiles.Level), code and name (uvarint length + UTF-8),
// uvarint population, the representative point (two zig-zag varints,
// micro-degrees), uvarint polygons; per polygon uvarint rings; per ring
// uvarint points, each a zig-zag varint delta (micro-degrees) from the
// previous point, the first from the representative point.
const placesFile = "data/places.bin.gz"

const placesMagic = "FTPLACES1\n"

var (
	placesOnce sync.Once
	placesList []tiles.Place
	placesErr  error
)

// Places returns the embedded reference areas as PostGIS would give them
// after `flowtiles areas import` of the same sources (see pgstore's
// Places): regions, provinces, municipalities, then countries, each level
// sorted by code. Key is the code as a number (countries: CountryIndex);
// a province's Name is its abbreviation ("PG").
//
// The file is decoded once; each call returns a new slice of Places whose
// geometry is shared with every other caller: do not modify it.
func Places() ([]tiles.Place, error) {
	placesOnce.Do(func() {
		raw, err := files.ReadFile(placesFile)
		if err == nil {
			placesList, err = decodePlaces(raw)
		}
		if err != nil {
			placesErr = fmt.Errorf("refdata: %s: %w", placesFile, err)
		}
	})
	if placesErr != nil {
		return nil, placesErr
	}
	return append([]tiles.Place(nil), placesList...), nil
}

// decodePlaces reads the gzipped places file.
func decodePlaces(gz []byte) ([]tiles.Place, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(raw, []byte(placesMagic)) {
		return nil, errors.New("not a places file")
	}
	d := decoder{b: raw[len(placesMagic):]}
	n := d.uvarint()
	if d.err != nil || n > 1<<20 {
		return nil, fmt.Errorf("bad place count: %v", d.err)
	}
	out := make([]tiles.Place, 0, n)
	for i := 0; i < int(n) && d.err == nil; i++ {
		var p tiles.Place
		p.Level = tiles.Level(d.byte())
		p.Code = d.text()
		p.Name = d.text()
		p.Population = int64(d.uvarint())
		x, y := d.varint(), d.varint()
		p.Point = orb.Point{float64(x) / 1e6, float64(y) / 1e6}
		p.Shape = make(orb.MultiPolygon, d.count())
		for pi := range p.Shape {
			poly := make(orb.Polygon, d.count())
			for ri := range poly {
				ring := make(orb.Ring, d.count())
				for k := range ring {
					x += d.varint()
					y += d.varint()
					ring[k] = orb.Point{float64(x) / 1e6, float64(y) / 1e6}
				}
				poly[ri] = ring
			}
			p.Shape[pi] = poly
		}
		if d.err != nil {
			break
		}
		switch p.Level {
		case tiles.LevelCountry:
			c, err := tiles.ParseCountry(p.Code)
			if err != nil {
				return nil, fmt.Errorf("place %d: %w", i, err)
			}
			p.Key = int64(tiles.CountryIndex(c))
		case tiles.LevelMunicipality, tiles.LevelProvince, tiles.LevelRegion:
			if p.Key, err = strconv.ParseInt(p.Code, 10, 64); err != nil {
				return nil, fmt.Errorf("place %d: %s code %q: %w", i, p.Level, p.Code, err)
			}
		default:
			return nil, fmt.Errorf("place %d: unknown level %d", i, p.Level)
		}
		out = append(out, p)
	}
	if d.err != nil {
		return nil, fmt.Errorf("place %d: %w", len(out), d.err)
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%d bytes after the last place", len(d.b))
	}
	return out, nil
}

// decoder reads varints from b, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

var errTruncated = errors.New("truncated")

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errTruncated
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errTruncated
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length that must fit in what is left of the input.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		if d.err == nil {
			d.err = errTruncated
		}
		return 0
	}
	return int(n)
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errTruncated
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) text() string {
	n := d.count()
	if d.err != nil {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
