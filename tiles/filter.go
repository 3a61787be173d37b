package tiles

import (
	"fmt"
	"math/bits"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Filter selects presence records. Tiles and stats take the same one, parsed
// once from the request by ParseFilter. The zero Filter selects everything.
//
// Set-valued fields are bit masks over the enum values (bit 1<<v); zero
// means "no restriction". A record whose attribute is not given never
// matches a restriction on that attribute.
type Filter struct {
	From, To      time.Time // [From, To), whole hours; zero means open
	Hours         uint32    // local hours of day, bit h for h:00-h:59
	Days          uint8     // local days of week, bit time.Weekday
	Ages          uint8     // bit AgeBand
	Genders       uint8     // bit Gender
	Spends        uint8     // bit Spend
	Nationalities []Country // sorted; empty means all
	// Origins are the ISTAT codes of the origin municipalities selected by
	// the origin parameter (which may name provinces or regions), sorted.
	Origins []string
	// OriginCodes are the codes as the client gave them, for echoing back.
	OriginCodes []string
	// Zone restricts to records inside the named zone: Zones has the bit of
	// its index (0-15) set; zero means no zone restriction.
	Zone  string
	Zones uint16
}

// Narrowed reports whether f restricts who, when or where within the time
// window: hours, days, any attribute, or a zone. Such a filter is subject to
// complementary suppression (see Privacy).
func (f Filter) Narrowed() bool {
	return f.Hours != 0 || f.Days != 0 || f.Ages != 0 || f.Genders != 0 || f.Spends != 0 ||
		len(f.Nationalities) > 0 || len(f.Origins) > 0 || f.Zones != 0
}

// Base is f without its narrowing restrictions: the same window.
func (f Filter) Base() Filter {
	return Filter{From: f.From, To: f.To}
}

// ZoneIndex returns the index of the zone f restricts to, if any.
func (f Filter) ZoneIndex() (int, bool) {
	if f.Zones == 0 {
		return 0, false
	}
	return bits.TrailingZeros16(f.Zones), true
}

// ZoneBit returns the Filter.Zones (or Query.AreaZones) mask of zone index z.
func ZoneBit(z int) uint16 {
	if z < 0 || z >= MaxZones {
		return 0
	}
	return 1 << z
}

// FilterError names the parameter and the value that could not be used.
type FilterError struct {
	Param  string
	Value  string
	Reason string
}

func (e *FilterError) Error() string {
	return fmt.Sprintf("parameter %s=%q: %s", e.Param, e.Value, e.Reason)
}

// Resolver knows the reference areas a filter may name.
type Resolver interface {
	// ResolveOrigin returns the ISTAT codes of the municipalities that an
	// origin code names: a municipality (6 digits), a province (3 digits or
	// its two-letter abbreviation) or a region (2 digits).
	ResolveOrigin(code string) ([]string, bool)
	// ZoneID returns the index of a town zone by name.
	ZoneID(name string) (int, bool)
}

// FilterParams are the query parameters ParseFilter reads.
var FilterParams = []string{"from", "to", "hours", "days", "age", "gender", "nationality", "origin", "spend", "zone"}

// ParseFilter reads the filter parameters of a tile or stats request. Dates
// and hours are in loc, the town's time zone. Each parameter may be repeated
// or hold a comma-separated list. An unknown value is a *FilterError.
func ParseFilter(q url.Values, loc *time.Location, res Resolver) (Filter, error) {
	var f Filter
	var err error
	if f.From, err = parseTime(q, "from", loc, false); err != nil {
		return f, err
	}
	if f.To, err = parseTime(q, "to", loc, true); err != nil {
		return f, err
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, &FilterError{"to", q.Get("to"), "the window is empty: to must be after from"}
	}
	for _, v := range paramList(q, "hours") {
		if err := parseHours(&f.Hours, v); err != nil {
			return f, err
		}
	}
	for _, v := range paramList(q, "days") {
		d, ok := dayNames[strings.ToLower(v)]
		if !ok {
			return f, &FilterError{"days", v, "unknown day (want mon, tue, wed, thu, fri, sat or sun)"}
		}
		f.Days |= 1 << d
	}
	for _, v := range paramList(q, "age") {
		a, err := ParseAgeBand(v)
		if err != nil || a == AgeUnknown {
			return f, &FilterError{"age", v, "unknown age band (want 0-17, 18-24, 25-34, 35-44, 45-54, 55-64 or 65+)"}
		}
		f.Ages |= 1 << a
	}
	for _, v := range paramList(q, "gender") {
		g, err := ParseGender(strings.ToLower(v))
		if err != nil || g == GenderUnknown {
			return f, &FilterError{"gender", v, "unknown gender (want f, m or x)"}
		}
		f.Genders |= 1 << g
	}
	for _, v := range paramList(q, "spend") {
		s, err := ParseSpend(strings.ToLower(v))
		if err != nil || s == SpendUnknown {
			return f, &FilterError{"spend", v, "unknown spending class (want low, medium or high)"}
		}
		f.Spends |= 1 << s
	}
	for _, v := range paramList(q, "nationality") {
		c, err := ParseCountry(v)
		if err != nil {
			return f, &FilterError{"nationality", v, "unknown country (want an ISO 3166-1 alpha-2 code such as IT or DE)"}
		}
		if !slices.Contains(f.Nationalities, c) {
			f.Nationalities = append(f.Nationalities, c)
		}
	}
	slices.SortFunc(f.Nationalities, func(a, b Country) int { return strings.Compare(a.String(), b.String()) })
	for _, v := range paramList(q, "origin") {
		var codes []string
		ok := false
		if res != nil {
			codes, ok = res.ResolveOrigin(strings.ToUpper(v))
		}
		if !ok {
			return f, &FilterError{"origin", v, "unknown origin (want an ISTAT municipality code such as 054017, a province such as 054 or PG, or a region such as 10)"}
		}
		f.OriginCodes = append(f.OriginCodes, strings.ToUpper(v))
		f.Origins = append(f.Origins, codes...)
	}
	slices.Sort(f.Origins)
	f.Origins = slices.Compact(f.Origins)
	slices.Sort(f.OriginCodes)
	f.OriginCodes = slices.Compact(f.OriginCodes)
	if z := q.Get("zone"); z != "" {
		id, ok := -1, false
		if res != nil {
			id, ok = res.ZoneID(z)
		}
		if !ok {
			return f, &FilterError{"zone", z, "unknown zone"}
		}
		f.Zone, f.Zones = z, ZoneBit(id)
	}
	return f, nil
}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

var dayOrder = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

func paramList(q url.Values, key string) []string {
	var out []string
	for _, v := range q[key] {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// parseTime reads an RFC 3339 timestamp or a date (YYYY-MM-DD, local). A date
// given as "to" includes its whole day. Times are truncated to the hour.
func parseTime(q url.Values, key string, loc *time.Location, end bool) (time.Time, error) {
	s := q.Get(key)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, plusOffset(s)); err == nil {
		return t.Truncate(time.Hour).UTC(), nil
	}
	d, err := time.ParseInLocation("2006-01-02", s, loc)
	if err != nil {
		return time.Time{}, &FilterError{key, s, "not a date (want YYYY-MM-DD or an RFC 3339 timestamp such as 2025-03-01T08:00:00Z, or 2025-03-01T08:00:00%2B01:00 with its + encoded as %2B)"}
	}
	if end {
		d = d.AddDate(0, 0, 1)
	}
	return d.UTC(), nil
}

func parseHours(mask *uint32, v string) error {
	bad := &FilterError{"hours", v, "not an hour or a range of hours (want e.g. 8-12,18: 0-23, ranges end-exclusive and may wrap midnight)"}
	a, b, isRange := strings.Cut(v, "-")
	from, err := strconv.Atoi(a)
	if err != nil || from < 0 || from > 23 {
		return bad
	}
	if !isRange {
		*mask |= 1 << from
		return nil
	}
	to, err := strconv.Atoi(b)
	if err != nil || to < 0 || to > 24 || to == from {
		return bad
	}
	for h := from; h != to; h = (h + 1) % 24 {
		*mask |= 1 << h
		if to == 24 && h == 23 {
			break
		}
	}
	return nil
}

// Values renders f back as canonical query parameters: the same filter
// always gives the same string, so it can key caches and fill URL templates.
func (f Filter) Values() url.Values {
	q := url.Values{}
	if !f.From.IsZero() {
		q.Set("from", f.From.UTC().Format(time.RFC3339))
	}
	if !f.To.IsZero() {
		q.Set("to", f.To.UTC().Format(time.RFC3339))
	}
	if f.Hours != 0 {
		var hs []string
		for h := 0; h < 24; h++ {
			if f.Hours&(1<<h) != 0 {
				hs = append(hs, strconv.Itoa(h))
			}
		}
		q.Set("hours", strings.Join(hs, ","))
	}
	if f.Days != 0 {
		var ds []string
		for d := 1; d <= 7; d++ { // monday first
			if f.Days&(1<<(d%7)) != 0 {
				ds = append(ds, dayOrder[d%7])
			}
		}
		q.Set("days", strings.Join(ds, ","))
	}
	setMask := func(key string, mask uint8, names []string) {
		var out []string
		for i, n := range names {
			if i > 0 && mask&(1<<i) != 0 {
				out = append(out, n)
			}
		}
		if len(out) > 0 {
			q.Set(key, strings.Join(out, ","))
		}
	}
	setMask("age", f.Ages, ageNames[:])
	setMask("gender", f.Genders, genderNames[:])
	setMask("spend", f.Spends, spendNames[:])
	if len(f.Nationalities) > 0 {
		var cs []string
		for _, c := range f.Nationalities {
			cs = append(cs, c.String())
		}
		q.Set("nationality", strings.Join(cs, ","))
	}
	if len(f.OriginCodes) > 0 {
		q.Set("origin", strings.Join(f.OriginCodes, ","))
	}
	if f.Zones != 0 {
		q.Set("zone", f.Zone)
	}
	return q
}

// MatchAttrs reports whether a record's packed attributes pass the age,
// gender and spend restrictions.
func (f Filter) MatchAttrs(a Attrs) bool {
	return (f.Ages == 0 || f.Ages&(1<<a.Age()) != 0 && a.Age() != AgeUnknown) &&
		(f.Genders == 0 || f.Genders&(1<<a.Gender()) != 0 && a.Gender() != GenderUnknown) &&
		(f.Spends == 0 || f.Spends&(1<<a.Spend()) != 0 && a.Spend() != SpendUnknown)
}

// AttrTable returns MatchAttrs for all 256 packed values: a store filters a
// record's attributes with one lookup.
func (f Filter) AttrTable() *[256]bool {
	var t [256]bool
	for i := range t {
		t[i] = f.MatchAttrs(Attrs(i))
	}
	return &t
}
