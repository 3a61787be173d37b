package areas

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/flowtiles/flowtiles/tiles"
)

// Kind is what a file of reference areas holds.
type Kind string

// Kinds of reference-area files.
const (
	Municipalities Kind = "municipalities"
	Regions        Kind = "regions"
	Countries      Kind = "countries"
	Zones          Kind = "zones"
)

// Kinds lists the kinds, for flags and messages.
var Kinds = []Kind{Municipalities, Regions, Countries, Zones}

// ParseKind reads a kind name; "" and "auto" mean "recognise from the
// properties" (the zero Kind).
func ParseKind(s string) (Kind, error) {
	switch k := Kind(strings.ToLower(strings.TrimSpace(s))); k {
	case "", "auto":
		return "", nil
	case Municipalities, Regions, Countries, Zones:
		return k, nil
	}
	return "", fmt.Errorf("unknown kind %q (want municipalities, regions, countries or zones)", s)
}

// FeatureError is an invalid feature: file: feature N: property: reason.
// Feature counts from 1; Property is "geometry" for the geometry and empty
// for the file as a whole.
type FeatureError struct {
	File     string
	Feature  int
	Property string
	Reason   string
}

func (e *FeatureError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Feature > 0 {
		fmt.Fprintf(&b, ": feature %d", e.Feature)
	}
	if e.Property != "" {
		b.WriteString(": " + e.Property)
	}
	b.WriteString(": " + e.Reason)
	return b.String()
}

// Municipality is one ISTAT municipality of a file.
type Municipality struct {
	Feature      int    // position in the file, from 1
	Code         string // "054017"
	Name         string
	ProvinceCode string // the code's first 3 digits
	Province     string // abbreviation, "PG"
	RegionCode   string // "10"
	Population   *int64 // nil: not in the file
	Shape        orb.MultiPolygon
}

// Region is one ISTAT region.
type Region struct {
	Feature int
	Code    string // "10"
	Name    string
	Shape   orb.MultiPolygon
}

// Country is one country (Natural Earth).
type Country struct {
	Feature      int
	ISOA2, ISOA3 string
	Name         string
	Population   *int64
	Shape        orb.MultiPolygon
}

// Zone is one town zone; its id is its position in the file.
type Zone struct {
	Feature int
	ID      int
	Name    string // its code in URLs (zone=NAME): the "name" property
	// Label is its name in the town's language ("label", "" without one),
	// Labels in others ("label:en": {"en": ...}).
	Label  string
	Labels map[string]string
	Shape  orb.MultiPolygon
}

// File is a parsed file of reference areas: one of the slices is filled,
// by Kind. Warnings lists the features skipped (countries without a code).
type File struct {
	Name           string
	Kind           Kind
	Municipalities []Municipality
	Regions        []Region
	Countries      []Country
	Zones          []Zone
	Warnings       []string
}

// Len is the number of areas read.
func (f *File) Len() int {
	return len(f.Municipalities) + len(f.Regions) + len(f.Countries) + len(f.Zones)
}

// Parse reads a GeoJSON FeatureCollection of reference areas named name.
// With kind "" the kind is recognised from the first feature's
// properties. Every feature is checked; the first invalid one is returned
// as a *FeatureError.
func Parse(name string, data []byte, kind Kind) (*File, error) {
	fc, err := geojson.UnmarshalFeatureCollection(data)
	if err != nil {
		return nil, &FeatureError{File: name, Reason: "not a GeoJSON FeatureCollection: " + err.Error()}
	}
	if len(fc.Features) == 0 {
		return nil, &FeatureError{File: name, Reason: "no features"}
	}
	if kind == "" {
		if kind = detect(fc.Features[0].Properties); kind == "" {
			return nil, &FeatureError{File: name, Feature: 1, Reason: "cannot tell what the file holds from its properties (want istat_code or com_istat_code, reg_istat_code, ISO_A2, or name); use --kind"}
		}
	}
	f := &File{Name: name, Kind: kind}
	if kind == Zones && len(fc.Features) > tiles.MaxZones {
		return nil, &FeatureError{File: name, Reason: fmt.Sprintf("%d zones, at most %d", len(fc.Features), tiles.MaxZones)}
	}
	seen := map[string]int{}
	abbrev := map[string]string{} // province code -> abbreviation
	for i, feat := range fc.Features {
		n := i + 1
		fail := func(prop, reason string) error {
			return &FeatureError{File: name, Feature: n, Property: prop, Reason: reason}
		}
		if feat == nil {
			return nil, fail("", "null feature")
		}
		shape, reason := multiPolygon(feat.Geometry)
		if reason != "" {
			return nil, fail("geometry", reason)
		}
		p := props(feat.Properties)
		var key, keyProp string
		switch kind {
		case Municipalities:
			m := Municipality{Feature: n, Shape: shape}
			var prop string
			if m.Code, prop, reason = p.code(6, "istat_code", "com_istat_code", "pro_com_t", "PRO_COM_T"); reason != "" {
				return nil, fail(prop, reason)
			}
			m.ProvinceCode = m.Code[:3]
			if pc, prop, ok := p.str("province_code", "prov_istat_code"); ok && pc != m.ProvinceCode {
				return nil, fail(prop, fmt.Sprintf("%q is not the province of %s (its first 3 digits, %s)", pc, m.Code, m.ProvinceCode))
			}
			if m.Name, prop, reason = p.text("name", "comune", "COMUNE"); reason != "" {
				return nil, fail(prop, reason)
			}
			if m.Province, prop, reason = p.text("province", "prov_acr", "sigla", "SIGLA"); reason != "" {
				return nil, fail(prop, reason)
			}
			m.Province = strings.ToUpper(m.Province)
			if a, ok := abbrev[m.ProvinceCode]; ok && a != m.Province {
				return nil, fail(prop, fmt.Sprintf("%q, but another municipality of province %s says %q", m.Province, m.ProvinceCode, a))
			}
			abbrev[m.ProvinceCode] = m.Province
			if m.RegionCode, prop, reason = p.code(2, "region_code", "reg_istat_code", "cod_reg", "COD_REG"); reason != "" {
				return nil, fail(prop, reason)
			}
			if m.Population, prop, reason = p.population("population_2011", "pop_2011", "population"); reason != "" {
				return nil, fail(prop, reason)
			}
			key, keyProp = m.Code, "istat_code"
			f.Municipalities = append(f.Municipalities, m)
		case Regions:
			r := Region{Feature: n, Shape: shape}
			var prop string
			if r.Code, prop, reason = p.code(2, "reg_istat_code", "region_code", "cod_reg", "COD_REG", "code"); reason != "" {
				return nil, fail(prop, reason)
			}
			if r.Name, prop, reason = p.text("reg_name", "region", "name", "DEN_REG"); reason != "" {
				return nil, fail(prop, reason)
			}
			key, keyProp = r.Code, "reg_istat_code"
			f.Regions = append(f.Regions, r)
		case Countries:
			c := Country{Feature: n, Shape: shape}
			code, why := countryCode(p)
			if why != "" {
				f.Warnings = append(f.Warnings, fmt.Sprintf("%s: feature %d (%s): skipped: %s", name, n, p.any("NAME", "name", "ADMIN"), why))
				continue
			}
			c.ISOA2 = code
			c.ISOA3 = countryA3(p)
			var prop string
			if c.Name, prop, reason = p.text("NAME", "name", "ADMIN"); reason != "" {
				return nil, fail(prop, reason)
			}
			if c.Population, prop, reason = p.population("POP_EST", "pop_est", "population"); reason != "" {
				return nil, fail(prop, reason)
			}
			key, keyProp = c.ISOA2, "ISO_A2"
			f.Countries = append(f.Countries, c)
		case Zones:
			z := Zone{Feature: n, ID: len(f.Zones), Shape: shape}
			var prop string
			if z.Name, prop, reason = p.text("name"); reason != "" {
				return nil, fail(prop, reason)
			}
			key, keyProp = strings.ToLower(z.Name), "name"
			if _, ok := p["label"]; ok {
				if z.Label, prop, reason = p.text("label"); reason != "" {
					return nil, fail(prop, reason)
				}
			}
			for k := range p {
				lang, ok := strings.CutPrefix(k, "label:")
				if !ok {
					continue
				}
				if !langCode.MatchString(lang) {
					return nil, fail(k, "not a language code after label: (want e.g. label:en)")
				}
				l, prop, reason := p.text(k)
				if reason != "" {
					return nil, fail(prop, reason)
				}
				if z.Labels == nil {
					z.Labels = map[string]string{}
				}
				z.Labels[lang] = l
			}
			f.Zones = append(f.Zones, z)
		default:
			return nil, &FeatureError{File: name, Reason: fmt.Sprintf("unknown kind %q", kind)}
		}
		if prev, dup := seen[key]; dup {
			return nil, fail(keyProp, fmt.Sprintf("%q again (first in feature %d)", key, prev))
		}
		seen[key] = n
	}
	if f.Len() == 0 {
		return nil, &FeatureError{File: name, Reason: "no usable features"}
	}
	return f, nil
}

// detect recognises a file's kind from a feature's properties.
func detect(p map[string]any) Kind {
	has := func(keys ...string) bool {
		for _, k := range keys {
			if _, ok := p[k]; ok {
				return true
			}
		}
		return false
	}
	switch {
	case has("istat_code", "com_istat_code", "pro_com_t", "PRO_COM_T"):
		return Municipalities
	case has("reg_istat_code", "COD_REG", "cod_reg"):
		return Regions
	case has("ISO_A2", "iso_a2", "ISO_A2_EH"):
		return Countries
	case has("name"):
		return Zones
	}
	return ""
}

// multiPolygon accepts a Polygon or MultiPolygon with closed rings of at
// least four points and finite coordinates in lon/lat range. Validity
// (self-intersections) is left to PostGIS's ST_MakeValid.
func multiPolygon(g orb.Geometry) (orb.MultiPolygon, string) {
	var mp orb.MultiPolygon
	switch g := g.(type) {
	case nil:
		return nil, "missing"
	case orb.Polygon:
		mp = orb.MultiPolygon{g}
	case orb.MultiPolygon:
		mp = g
	default:
		return nil, fmt.Sprintf("a %s, want a Polygon or MultiPolygon", g.GeoJSONType())
	}
	if len(mp) == 0 {
		return nil, "empty"
	}
	for pi, poly := range mp {
		if len(poly) == 0 {
			return nil, fmt.Sprintf("polygon %d has no rings", pi)
		}
		for ri, r := range poly {
			if len(r) < 4 {
				return nil, fmt.Sprintf("polygon %d ring %d has %d points, want at least 4", pi, ri, len(r))
			}
			if r[0] != r[len(r)-1] {
				return nil, fmt.Sprintf("polygon %d ring %d is not closed", pi, ri)
			}
			for _, pt := range r {
				if math.IsNaN(pt[0]) || math.IsNaN(pt[1]) || math.Abs(pt[0]) > 180 || math.Abs(pt[1]) > 90 {
					return nil, fmt.Sprintf("polygon %d ring %d: coordinate %v is not lon/lat (WGS 84)", pi, ri, pt)
				}
			}
		}
	}
	return mp, ""
}

type props map[string]any

// lookup returns the first of keys present (even if null).
func (p props) lookup(keys ...string) (any, string, bool) {
	for _, k := range keys {
		if v, ok := p[k]; ok {
			return v, k, true
		}
	}
	return nil, keys[0], false
}

func (p props) any(keys ...string) any {
	v, _, _ := p.lookup(keys...)
	return v
}

// str is a string property (numbers are formatted), if present.
func (p props) str(keys ...string) (string, string, bool) {
	v, k, ok := p.lookup(keys...)
	if !ok || v == nil {
		return "", k, false
	}
	switch v := v.(type) {
	case string:
		return strings.TrimSpace(v), k, true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), k, true
	case json.Number:
		return v.String(), k, true
	}
	return fmt.Sprint(v), k, true
}

// text is a required non-empty string property.
func (p props) text(keys ...string) (string, string, string) {
	v, k, ok := p.lookup(keys...)
	if !ok {
		return "", k, "missing"
	}
	s, isStr := v.(string)
	if !isStr {
		return "", k, fmt.Sprintf("%v is not a string", v)
	}
	if s = strings.TrimSpace(s); s == "" {
		return "", k, "empty"
	}
	return s, k, ""
}

var (
	digits   = regexp.MustCompile(`^[0-9]+$`)
	langCode = regexp.MustCompile(`^[a-z]{2,3}$`)
)

// code is a required code of n digits; numbers are zero-padded (54017 ->
// "054017").
func (p props) code(n int, keys ...string) (string, string, string) {
	v, k, ok := p.lookup(keys...)
	if !ok || v == nil {
		return "", k, "missing"
	}
	var s string
	switch v := v.(type) {
	case string:
		s = strings.TrimSpace(v)
	case float64:
		if v != math.Trunc(v) || v < 0 {
			return "", k, fmt.Sprintf("%v is not a code of %d digits", v, n)
		}
		s = fmt.Sprintf("%0*d", n, int64(v))
	default:
		return "", k, fmt.Sprintf("%v is not a code of %d digits", v, n)
	}
	if len(s) != n || !digits.MatchString(s) {
		return "", k, fmt.Sprintf("%q is not a code of %d digits", s, n)
	}
	return s, k, ""
}

// population is an optional non-negative whole number (null: unknown).
func (p props) population(keys ...string) (*int64, string, string) {
	v, k, ok := p.lookup(keys...)
	if !ok || v == nil {
		return nil, k, ""
	}
	f, isNum := v.(float64)
	if !isNum {
		if s, isStr := v.(string); isStr {
			if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
				f, isNum = float64(n), true
			}
		}
	}
	if !isNum || f < 0 || f != math.Trunc(f) || f > 1e11 {
		return nil, k, fmt.Sprintf("%v is not a population (a whole number, 0 or more)", v)
	}
	n := int64(f)
	return &n, k, ""
}

// alpha3To2 maps the alpha-3 codes of the Natural Earth countries whose
// ISO_A2 is "-99" to their ISO 3166-1 alpha-2 code. scripts/make-refdata
// has the same table.
var alpha3To2 = map[string]string{"FRA": "FR", "NOR": "NO", "KOS": "XK"}

// countryCode is a Natural Earth feature's alpha-2 code: ISO_A2, else
// ISO_A2_EH, else from its alpha-3 code for the known cases. A code that
// tiles does not know (N. Cyprus, Somaliland) is a reason to skip.
func countryCode(p props) (string, string) {
	code, _, _ := p.str("ISO_A2", "iso_a2")
	if code == "" || code == "-99" {
		code, _, _ = p.str("ISO_A2_EH", "iso_a2_eh")
	}
	if code == "" || code == "-99" {
		for _, k := range []string{"ISO_A3_EH", "ISO_A3", "ADM0_A3"} {
			if a3, _, ok := p.str(k); ok && alpha3To2[a3] != "" {
				code = alpha3To2[a3]
				break
			}
		}
	}
	if code == "" || code == "-99" {
		return "", "no ISO 3166-1 alpha-2 code (ISO_A2 is -99)"
	}
	c, err := tiles.ParseCountry(code)
	if err != nil {
		return "", err.Error()
	}
	return c.String(), ""
}

// countryA3 is the alpha-3 code, or "" when the file has none.
func countryA3(p props) string {
	for _, k := range []string{"ISO_A3", "iso_a3", "ISO_A3_EH", "ADM0_A3"} {
		if s, _, ok := p.str(k); ok && len(s) == 3 && s != "-99" {
			return strings.ToUpper(s)
		}
	}
	return ""
}
