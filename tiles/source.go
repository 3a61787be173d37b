package tiles

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrUnavailable is wrapped by the errors of a Source (or of any store)
// that could not answer for reasons that are not the query's fault: the
// database is down, unreachable or overloaded. Clients may retry; servers
// answer 503. ErrReadOnly, a kind of it, is a store that takes no writes.
var (
	ErrUnavailable = errors.New("the data store is unavailable")
	ErrReadOnly    = fmt.Errorf("%w: it is read-only", ErrUnavailable)
)

// Dim is a dimension that a query groups records by.
type Dim uint8

// Dimensions. Geographic dimensions key groups by reference codes, so that
// every source returns the same keys:
//   - DimBin: Grid.ID of the record's bin in Query.Grid;
//   - DimZone: the zone index (0-15); a record inside two zones is counted in
//     both, a record in no zone under -1 ("elsewhere in town");
//   - DimMunicipality: the ISTAT code as a number (54017), 0 when unknown;
//   - DimProvince: the ISTAT province code (54); DimRegion: the region code (10);
//   - DimNationality: CountryIndex of the nationality, 0 when unknown;
//   - DimHour: local hour 0-23; DimWeekday: local time.Weekday;
//   - DimDate: the local date as days since 1970-01-01;
//   - DimAge, DimGender, DimSpend: the enum value (0 when unknown).
const (
	DimBin Dim = iota + 1
	DimZone
	DimMunicipality
	DimProvince
	DimRegion
	DimNationality
	DimHour
	DimWeekday
	DimDate
	DimAge
	DimGender
	DimSpend
)

// Query asks a Source for aggregates of the records matching Filter inside
// Area, grouped by up to two dimensions.
type Query struct {
	Filter Filter
	// Area limits records to a world rectangle; the zero Rect means the
	// whole world.
	Area Rect
	// AreaZones limits records to those inside any of these zones (bit z,
	// as Filter.Zones), as part of the area: unlike a zone filter it does
	// not narrow, so Rest is about the same zones. Zero: no such limit.
	AreaZones uint16
	// By lists the grouping dimensions (none: a single total group).
	By []Dim
	// Grid is the bin grid for DimBin.
	Grid Grid
	// Loc is the town's time zone, for hours, weekdays and dates.
	Loc *time.Location
	// WithRest asks for Group.Rest, for complementary suppression. Sources
	// report a group only when its filtered Count is positive.
	WithRest bool
}

// Measures are the additive and distinct counts of a group of records, and
// the sums of its contributors' keys that key the group's noise (Privacy).
type Measures struct {
	Count     int64 // sum of weights: presences
	Visitors  int64 // distinct visitor ids
	Anonymous int64 // sum of weights of records without a visitor id
	// CountKey is the sum of the records' keys (RecordKey); PeopleKey the
	// sum of the distinct visitors' keys (VisitorKey) and of the keys of
	// the records without a visitor id. Both wrap around (mod 2^32).
	CountKey, PeopleKey uint32
}

// People is the number of distinct people a group stands for: every visitor
// id once, and each record without an id as `weight` people. The privacy
// threshold applies to it.
func (m Measures) People() int64 { return m.Visitors + m.Anonymous }

// Group is one result row of a Query.
type Group struct {
	Key [2]int64 // values of Query.By, in order; unused entries are 0
	Measures
	// Rest measures the records of the group that Filter.Base() selects but
	// Filter does not: the people a client could isolate by comparing this
	// figure with the same one unfiltered. Only with Query.WithRest.
	Rest Measures
}

// Source aggregates presence records. The in-memory store and the PostGIS
// store implement it and must return identical groups for identical data.
// Aggregate calls fn once per group, in no particular order; it stops and
// returns fn's error if fn fails, and ctx.Err() if ctx ends first. An
// outage is an error wrapping ErrUnavailable.
type Source interface {
	Aggregate(ctx context.Context, q Query, fn func(Group) error) error
}

// MultiSource is implemented by sources that answer one query under
// several groupings for less than one Aggregate per grouping (the
// in-memory store: one pass over the records for all of them).
// AggregateMany runs q grouped by each of by (q.By is ignored) and calls
// fn with the index in by of the grouping and each of its groups, which
// are those Aggregate gives, in no particular order; it stops and returns
// fn's error if fn fails.
type MultiSource interface {
	AggregateMany(ctx context.Context, q Query, by [][]Dim, fn func(i int, g Group) error) error
}

// AggregateMany runs q grouped by each of by on src: in one call when src
// is a MultiSource, else one Aggregate per grouping.
func AggregateMany(ctx context.Context, src Source, q Query, by [][]Dim, fn func(i int, g Group) error) error {
	if m, ok := src.(MultiSource); ok {
		return m.AggregateMany(ctx, q, by, fn)
	}
	for i, b := range by {
		q.By = b
		if err := src.Aggregate(ctx, q, func(g Group) error { return fn(i, g) }); err != nil {
			return err
		}
	}
	return nil
}

// ChangeLog is implemented by sources that know the time span of the
// records each data version added, so that clients showing another period
// need not refetch. Changed returns the span of everything added after
// version from up to version to (ok false when a version in between is not
// known). The span is about records, so it is published only through
// ChangedDays.
type ChangeLog interface {
	Changed(from, to uint64) (first, last time.Time, ok bool)
}

// Visit is one visitor's presence in the queried area on one local day:
// the building block of visits, dwell time and repeat-visitor figures. A
// visit never leaves the server: only aggregates of visits are published.
type Visit struct {
	// Visitor identifies the visitor within one Visits call only (an opaque
	// number, not the stored hash).
	Visitor     uint64
	Day         int64 // local date, days since 1970-01-01
	First, Last int64 // Unix seconds of the first and last matching record that day
	Presences   int64 // sum of weights of its matching records
	// Attributes of the visitor's first matching record that day (of
	// records in the same second, the least by FirstRecordLess).
	Age         AgeBand
	Gender      Gender
	Spend       Spend
	Nationality Country
	Key         uint32 // VisitorKey of the visitor
	Origin      string // ISTAT municipality code or ""
}

// VisitSource is implemented by sources that can list visits. Only records
// with a visitor id form visits. q.By, q.Grid and q.WithRest are ignored.
// Visits calls fn once per visit, in no particular order.
type VisitSource interface {
	Visits(ctx context.Context, q Query, fn func(Visit) error) error
}

// VisitEntry is a visit as a tally of visits needs it (Privacy.Visits):
// who, the visit's key, and how long.
type VisitEntry struct {
	Visitor uint64 // Visit.Visitor
	Key     uint32 // VisitKey(Visit.Key, Visit.Day)
	Dwell   int32  // Visit.Last - Visit.First, in seconds (at most MaxInt32)
}

// ErrNotGrouped is returned by a VisitGrouper that cannot group the visits
// of a query itself (before calling fn): the caller lists them instead.
var ErrNotGrouped = errors.New("tiles: these visits are not grouped by the source")

// VisitGrouper is implemented by visit sources that group the visits of a
// query by a dimension themselves, more cheaply than listing them: the
// same visits as Visits gives, each as a VisitEntry in the group of its
// first record's attributes (or of its day), keyed as Aggregate keys that
// record in the dimension. by is nil (every visit in the group of key 0)
// or one of DimDate, DimWeekday, DimAge, DimGender, DimSpend,
// DimNationality, DimMunicipality, DimProvince and DimRegion. fn may be
// called more than once for a group, never concurrently, and may keep vs.
type VisitGrouper interface {
	VisitGroups(ctx context.Context, q Query, by []Dim, fn func(key int64, vs []VisitEntry) error) error
}

// FirstRecordLess orders the attributes of two records observed in the same
// second, so that every source picks the same one as a visit's first:
// by origin code, nationality, age band, gender, then spending class.
func FirstRecordLess(a, b Visit) bool {
	if a.Origin != b.Origin {
		return a.Origin < b.Origin
	}
	if a.Nationality != b.Nationality {
		return a.Nationality.String() < b.Nationality.String()
	}
	if a.Age != b.Age {
		return a.Age < b.Age
	}
	if a.Gender != b.Gender {
		return a.Gender < b.Gender
	}
	return a.Spend < b.Spend
}
