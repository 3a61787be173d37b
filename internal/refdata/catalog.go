// Package refdata holds the reference data flowtiles embeds: Italian
// municipalities (ISTAT codes, names, province, region, 2011 population and a
// point on surface), and, in boundaries.go, the area boundaries used when no
// database is configured. The files in data/ are generated from the real
// ISTAT and Natural Earth data by scripts/make-refdata; see
// data/ATTRIBUTION.md.
package refdata

import (
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/csv"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
)

//go:embed data
var files embed.FS

// Municipality is an Italian comune.
type Municipality struct {
	Code         string // ISTAT code, 6 digits ("054017")
	Name         string
	ProvinceCode string // ISTAT province code, 3 digits ("054")
	Province     string // abbreviation ("PG")
	RegionCode   string // ISTAT region code, 2 digits ("10")
	Region       string // "Umbria"
	Population   int64  // 2011 census; 0 where ISTAT has none
	Lon, Lat     float64
}

// Catalog indexes the municipalities by code, province and region. It is
// read-only once built and safe for concurrent use.
type Catalog struct {
	Municipalities []Municipality // sorted by code
	byCode         map[string]int
	byProvince     map[string][]string // province code and abbreviation -> municipality codes
	byRegion       map[string][]string
}

var (
	embedded     *Catalog
	embeddedErr  error
	embeddedOnce sync.Once
)

// Italy returns the catalog of all Italian municipalities, read once from
// the embedded data.
func Italy() *Catalog {
	embeddedOnce.Do(func() {
		embedded, embeddedErr = readCatalog("data/municipalities.csv.gz")
	})
	if embeddedErr != nil {
		// The file is part of the binary: failing to read it is a build bug.
		panic(fmt.Sprintf("refdata: embedded municipalities: %v", embeddedErr))
	}
	return embedded
}

func readCatalog(name string) (*Catalog, error) {
	raw, err := files.ReadFile(name)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(zr)
	if _, err := r.Read(); err != nil { // header
		return nil, err
	}
	var ms []Municipality
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		m := Municipality{Code: rec[0], Name: rec[1], ProvinceCode: rec[2], Province: rec[3], RegionCode: rec[4], Region: rec[5]}
		if rec[6] != "" {
			if m.Population, err = strconv.ParseInt(rec[6], 10, 64); err != nil {
				return nil, fmt.Errorf("%s: population: %w", m.Code, err)
			}
		}
		if m.Lon, err = strconv.ParseFloat(rec[7], 64); err != nil {
			return nil, fmt.Errorf("%s: lon: %w", m.Code, err)
		}
		if m.Lat, err = strconv.ParseFloat(rec[8], 64); err != nil {
			return nil, fmt.Errorf("%s: lat: %w", m.Code, err)
		}
		ms = append(ms, m)
	}
	return NewCatalog(ms), nil
}

// NewCatalog indexes ms (which it sorts by code and then owns).
func NewCatalog(ms []Municipality) *Catalog {
	sort.Slice(ms, func(i, j int) bool { return ms[i].Code < ms[j].Code })
	c := &Catalog{
		Municipalities: ms,
		byCode:         make(map[string]int, len(ms)),
		byProvince:     map[string][]string{},
		byRegion:       map[string][]string{},
	}
	for i, m := range ms {
		c.byCode[m.Code] = i
		c.byProvince[m.ProvinceCode] = append(c.byProvince[m.ProvinceCode], m.Code)
		if m.Province != "" && m.Province != m.ProvinceCode {
			c.byProvince[m.Province] = append(c.byProvince[m.Province], m.Code)
		}
		c.byRegion[m.RegionCode] = append(c.byRegion[m.RegionCode], m.Code)
	}
	return c
}

// Municipality looks a municipality up by ISTAT code.
func (c *Catalog) Municipality(code string) (Municipality, bool) {
	i, ok := c.byCode[code]
	if !ok {
		return Municipality{}, false
	}
	return c.Municipalities[i], true
}

// Index returns the position of a municipality in Municipalities, or -1.
func (c *Catalog) Index(code string) int {
	if i, ok := c.byCode[code]; ok {
		return i
	}
	return -1
}

// Known reports whether code is an ISTAT municipality code.
func (c *Catalog) Known(code string) bool {
	_, ok := c.byCode[code]
	return ok
}

// ResolveOrigin returns the municipality codes an origin code names: a
// municipality (6 digits), a province (3 digits, or its abbreviation such as
// PG) or a region (2 digits). The returned slice must not be modified.
func (c *Catalog) ResolveOrigin(code string) ([]string, bool) {
	code = strings.ToUpper(strings.TrimSpace(code))
	switch {
	case len(code) == 6:
		if i, ok := c.byCode[code]; ok {
			return []string{c.Municipalities[i].Code}, true
		}
	case len(code) == 3 || len(code) == 2 && code[0] >= 'A' && code[0] <= 'Z':
		if ms, ok := c.byProvince[code]; ok {
			return ms, true
		}
	case len(code) == 2:
		if ms, ok := c.byRegion[code]; ok {
			return ms, true
		}
	}
	return nil, false
}
