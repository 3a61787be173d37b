package tiles

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// Town is a town whose people flowtiles publishes: a town is data (the
// town table, or the embedded demo's), not code. Its pages live under
// /t/{Code}/.
type Town struct {
	// ID is the town's number in the stores (the town table's id, the
	// town column of presence and its rollup): a record's town.
	ID int16
	// Code names the town in URLs (/t/deruta/): lower-case letters, digits
	// and hyphens, starting with a letter, at most 40 characters.
	Code string
	// ISTAT is the municipality's ISTAT code ("054017"), empty when the
	// town is not a municipality of the reference data.
	ISTAT string
	// Name is the town's name in its own language; Names in others, by
	// language code ("en").
	Name  string
	Names map[string]string
	// Population is the municipality's resident population (0: unknown).
	Population int64
	// Perimeter is where the town's records lie (WGS 84); empty: anywhere.
	Perimeter orb.MultiPolygon
	// Buffer is how far beyond the perimeter, in metres, records still
	// belong to the town (0 to MaxTownBuffer).
	Buffer float64
	// TimeZone is the IANA name of the town's time zone.
	TimeZone string
	// Center and Zoom are where the maps open; the zero Center means the
	// middle of the data, a zero Zoom the page's own.
	Center orb.Point
	Zoom   float64
	// K, NoiseD and NoiseGrowth are the town's disclosure parameters where
	// they are stricter than the server's (0: the server's).
	K           int64
	NoiseD      int64
	NoiseGrowth float64
	// Kiosk is how the town's kiosk presents itself.
	Kiosk Kiosk
}

// Kiosk holds a town's kiosk settings.
type Kiosk struct {
	// Title is the headline by language code; a language without one gets
	// the page's own title naming the town.
	Title map[string]string `json:"title,omitempty"`
	// Lang is the kiosk's language when its URL names none ("it" when
	// empty).
	Lang string `json:"lang,omitempty"`
	// Zoom is the kiosk map's zoom (the page's own when 0).
	Zoom float64 `json:"zoom,omitempty"`
}

// MaxTownBuffer bounds Town.Buffer, in metres: a buffer is for the
// records a survey places just outside the municipal boundary, not for a
// neighbour's.
const MaxTownBuffer = 5000

var townCode = regexp.MustCompile(`^[a-z][a-z0-9-]{0,39}$`)

// ValidTownCode reports whether s can name a town in URLs.
func ValidTownCode(s string) bool { return townCode.MatchString(s) }

// NameIn returns the town's name in lang, or its own name.
func (t Town) NameIn(lang string) string {
	if n := t.Names[lang]; n != "" {
		return n
	}
	return t.Name
}

// Location returns the town's time zone (UTC when it names none).
func (t Town) Location() (*time.Location, error) {
	if t.TimeZone == "" {
		return time.UTC, nil
	}
	return time.LoadLocation(t.TimeZone)
}

// Validate reports the first setting of t that cannot be served, naming it.
func (t Town) Validate() error {
	var errs []error
	if !ValidTownCode(t.Code) {
		errs = append(errs, fmt.Errorf("code %q: want lower-case letters, digits and hyphens, starting with a letter, at most 40", t.Code))
	}
	if t.Name == "" {
		errs = append(errs, errors.New("name: empty"))
	}
	if t.Buffer < 0 || t.Buffer > MaxTownBuffer {
		errs = append(errs, fmt.Errorf("buffer %g m: want 0 to %d", t.Buffer, MaxTownBuffer))
	}
	if _, err := t.Location(); err != nil {
		errs = append(errs, fmt.Errorf("time zone %q: unknown", t.TimeZone))
	}
	if t.Center != (orb.Point{}) && (t.Center[0] < -180 || t.Center[0] > 180 || t.Center[1] < -85 || t.Center[1] > 85) {
		errs = append(errs, fmt.Errorf("center %g,%g: outside the world", t.Center[0], t.Center[1]))
	}
	if t.Zoom < 0 || t.Zoom > 22 || t.Kiosk.Zoom < 0 || t.Kiosk.Zoom > 22 {
		errs = append(errs, fmt.Errorf("zoom: want 0 to 22"))
	}
	if t.K != 0 && t.K < MinK {
		errs = append(errs, fmt.Errorf("k %d: at least %d", t.K, MinK))
	}
	if t.NoiseD != 0 && t.NoiseD < MinNoiseD {
		errs = append(errs, fmt.Errorf("noise_d %d: at least %d", t.NoiseD, MinNoiseD))
	}
	if !(t.NoiseGrowth >= 0 && t.NoiseGrowth <= 2) {
		errs = append(errs, fmt.Errorf("noise_growth %g: want 0 to 2", t.NoiseGrowth))
	}
	return errors.Join(errs...)
}

// Stricter returns the disclosure parameters k, d and growth made as strict
// as the town's where the town's are stricter: a town may protect its
// people more than the server does, never less.
func (t Town) Stricter(k, d int64, growth float64) (int64, int64, float64) {
	return max(k, t.K), max(d, t.NoiseD), max(growth, t.NoiseGrowth)
}

// TownIndex finds the town a point belongs to: the first whose perimeter
// holds it, else the nearest whose buffer reaches it, else the first town
// without a perimeter (which takes every record). Safe for concurrent use.
type TownIndex struct {
	towns []Town
	areas []townArea
	all   int // the first town without a perimeter, or -1
}

// townArea is a perimeter in local metres around its first point, for the
// buffer's distances, and its bound in degrees grown by the buffer.
type townArea struct {
	town   int
	bound  orb.Bound
	local  orb.MultiPolygon
	polys  []indexedPolygon // local, with its rings' bounds
	origin orb.Point
	scale  float64 // metres per degree of longitude at the origin
}

const metresPerDegree = 111_320.0

// NewTownIndex indexes towns.
func NewTownIndex(towns []Town) *TownIndex {
	ix := &TownIndex{towns: towns, all: -1}
	for i, t := range towns {
		if len(t.Perimeter) == 0 {
			if ix.all < 0 {
				ix.all = i
			}
			continue
		}
		b := t.Perimeter.Bound()
		o := b.Center()
		scale := metresPerDegree * math.Cos(o[1]*math.Pi/180)
		pad := t.Buffer / metresPerDegree
		a := townArea{town: i, origin: o, scale: scale,
			bound: orb.Bound{Min: orb.Point{b.Min[0] - pad/math.Max(math.Cos(o[1]*math.Pi/180), 0.01), b.Min[1] - pad},
				Max: orb.Point{b.Max[0] + pad/math.Max(math.Cos(o[1]*math.Pi/180), 0.01), b.Max[1] + pad}}}
		a.local = make(orb.MultiPolygon, len(t.Perimeter))
		for pi, poly := range t.Perimeter {
			lp := make(orb.Polygon, len(poly))
			for ri, ring := range poly {
				lr := make(orb.Ring, len(ring))
				for k, p := range ring {
					lr[k] = a.project(p)
				}
				lp[ri] = lr
			}
			a.local[pi] = lp
			if len(lp) > 0 && len(lp[0]) > 0 {
				ip := indexedPolygon{rings: lp, bounds: make([]orb.Bound, len(lp))}
				for ri, r := range lp {
					ip.bounds[ri] = r.Bound()
				}
				a.polys = append(a.polys, ip)
			}
		}
		ix.areas = append(ix.areas, a)
	}
	return ix
}

func (a *townArea) project(p orb.Point) orb.Point {
	return orb.Point{(p[0] - a.origin[0]) * a.scale, (p[1] - a.origin[1]) * metresPerDegree}
}

// Locate returns the index of the town p (WGS 84) belongs to, or false
// when it lies outside every town.
func (ix *TownIndex) Locate(p orb.Point) (int, bool) {
	best, bestDist := -1, math.Inf(1)
	for i := range ix.areas {
		a := &ix.areas[i]
		if !a.bound.Contains(p) {
			continue
		}
		lp := a.project(p)
		for j := range a.polys {
			if a.polys[j].contains(lp) {
				return a.town, true
			}
		}
		if buf := ix.towns[a.town].Buffer; buf > 0 {
			if d := planar.DistanceFrom(a.local, lp); d <= buf && d < bestDist {
				best, bestDist = a.town, d
			}
		}
	}
	if best >= 0 {
		return best, true
	}
	return ix.all, ix.all >= 0
}

// Town returns the i-th town indexed (an index Locate returned).
func (ix *TownIndex) Town(i int) Town { return ix.towns[i] }

// Names lists the towns' codes, for messages.
func (ix *TownIndex) Names() string {
	names := make([]string, len(ix.towns))
	for i, t := range ix.towns {
		names[i] = t.Code
	}
	return strings.Join(names, ", ")
}
