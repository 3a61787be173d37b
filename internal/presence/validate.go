package presence

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/tiles"
)

// RowError is one invalid row of an input: where it is and what is wrong.
// It prints as "file:line: column: reason", or "line N: column: reason"
// when the input has no file name (an HTTP body).
type RowError struct {
	File   string
	Line   int    // 1-based line where the row starts
	Column string // contract column, or "record" for a malformed row
	Reason string
}

func (e *RowError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Column, e.Reason)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Column, e.Reason)
}

// SyntaxError is a fault in an input's structure (a CSV header, the
// GeoJSON around the features) after which nothing more can be read. It
// prints like a RowError.
type SyntaxError struct{ RowError }

// Columns of the data contract, in its order.
const (
	colObservedAt = iota
	colLon
	colLat
	colWeight
	colVisitorID
	colAgeBand
	colGender
	colNationality
	colOriginCode
	colSpendClass
	numColumns
)

// Columns are the data contract's column names, in order.
var Columns = [numColumns]string{"observed_at", "lon", "lat", "weight", "visitor_id", "age_band", "gender", "nationality", "origin_code", "spend_class"}

// required columns must be present in every row.
var required = [numColumns]bool{colObservedAt: true, colLon: true, colLat: true}

func columnIndex(name string) int {
	for i, c := range Columns {
		if c == name {
			return i
		}
	}
	return -1
}

// fields holds one row's values by contract column, as written (trimmed).
type fields [numColumns]string

// Earliest and latest accepted observation times: the in-memory store keeps
// seconds since 1970 in 32 bits.
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// maxWeight is the largest weight the presence table holds (integer).
const maxWeight = math.MaxInt32

// Validator checks rows against the data contract. The zero value knows no
// ISTAT codes; use NewValidator.
type Validator struct {
	// Known reports whether an origin_code is an ISTAT municipality code.
	Known func(code string) bool
	// Towns, when set, are where records may lie: a record outside every
	// town (perimeter and buffer) is invalid.
	Towns *tiles.TownIndex
}

// NewValidator validates origin codes against the embedded ISTAT
// municipalities (refdata.Italy).
func NewValidator() *Validator {
	return &Validator{Known: refdata.Italy().Known}
}

// record validates f into a Record. On failure it returns the column at
// fault and the reason; the first fault in column order is reported.
func (v *Validator) record(f *fields) (Record, string, string) {
	var r Record
	for i, ok := range required {
		if ok && f[i] == "" {
			return r, Columns[i], "missing (required)"
		}
	}
	t, err := time.Parse(time.RFC3339, f[colObservedAt])
	if err != nil {
		return r, Columns[colObservedAt], fmt.Sprintf("%s is not an RFC 3339 timestamp with offset (like 2024-05-01T09:30:00+02:00)", tiles.Quote(f[colObservedAt]))
	}
	if t.Before(minTime) || !t.Before(maxTime) {
		return r, Columns[colObservedAt], fmt.Sprintf("%s is out of range (1970 to 2099)", tiles.Truncate(f[colObservedAt], tiles.MaxQuoted))
	}
	r.ObservedAt = t.Truncate(time.Second)
	if r.Lon, err = degrees(f[colLon], 180); err != nil {
		return r, Columns[colLon], err.Error()
	}
	if r.Lat, err = degrees(f[colLat], 90); err != nil {
		return r, Columns[colLat], err.Error()
	}
	if reason := v.Place(&r); reason != "" {
		return r, Columns[colLon], reason
	}
	r.Weight = 1
	if s := f[colWeight]; s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			return r, Columns[colWeight], fmt.Sprintf("%s is not a positive integer", tiles.Quote(s))
		}
		if n > maxWeight {
			return r, Columns[colWeight], fmt.Sprintf("%s is too large (at most %d)", tiles.Truncate(s, tiles.MaxQuoted), maxWeight)
		}
		r.Weight = uint32(n)
	}
	r.Visitor = VisitorHash(f[colVisitorID])
	if r.Age, err = tiles.ParseAgeBand(f[colAgeBand]); err != nil {
		return r, Columns[colAgeBand], err.Error()
	}
	if r.Gender, err = tiles.ParseGender(strings.ToLower(f[colGender])); err != nil {
		return r, Columns[colGender], err.Error()
	}
	if r.Nationality, err = tiles.ParseCountry(f[colNationality]); err != nil {
		return r, Columns[colNationality], err.Error()
	}
	if s := f[colOriginCode]; s != "" {
		if !isDigits(s, 6) {
			return r, Columns[colOriginCode], fmt.Sprintf("%s is not an ISTAT municipality code (6 digits, like 054017)", tiles.Quote(s))
		}
		if v.Known == nil || !v.Known(s) {
			return r, Columns[colOriginCode], fmt.Sprintf("unknown ISTAT municipality code %q", s)
		}
		r.Origin = s
	}
	if r.Spend, err = tiles.ParseSpend(strings.ToLower(f[colSpendClass])); err != nil {
		return r, Columns[colSpendClass], err.Error()
	}
	return r, "", ""
}

// Place sets r.Town to the town r lies in, or says why r cannot be taken
// ("" when it can): it lies outside every town of Towns. Without Towns
// every record is the first town's (0).
func (v *Validator) Place(r *Record) string {
	r.Town = 0
	if v.Towns == nil {
		return ""
	}
	if i, ok := v.Towns.Locate(orb.Point{r.Lon, r.Lat}); ok {
		r.Town = v.Towns.Town(i).ID
		return ""
	}
	return tiles.Truncate(fmt.Sprintf("%g,%g is outside every town (%s)", r.Lon, r.Lat, v.Towns.Names()), 200)
}

// degrees parses a coordinate in -limit..limit.
func degrees(s string, limit float64) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%s is not a number", tiles.Quote(s))
	}
	if v < -limit || v > limit {
		return 0, fmt.Errorf("%s is out of range (-%g to %g)", tiles.Truncate(s, tiles.MaxQuoted), limit, limit)
	}
	return v, nil
}

func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
