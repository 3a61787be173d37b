package sourcetest

import (
	"cmp"
	"context"
	"errors"
	"math"
	"slices"
	"strconv"
	"testing"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/tiles"
)

// VisitGrouping is a source that lists visits and may group them itself.
type VisitGrouping interface {
	tiles.VisitSource
	tiles.VisitGrouper
}

// keyedEntry is a visit as VisitGroups gives it, with its group's key.
type keyedEntry struct {
	key int64
	tiles.VisitEntry
}

// visitDims are the groupings of visits a report makes (nil: the total),
// and the key of a visit's group in each: by the codes of its origin
// (refdata.Italy), its attributes or its day.
func visitDims() []struct {
	by  []tiles.Dim
	key func(v *tiles.Visit) int64
} {
	atoi := func(code string) int64 { v, _ := strconv.ParseInt(code, 10, 64); return v }
	province, region := map[string]int64{}, map[string]int64{}
	for _, m := range refdata.Italy().Municipalities {
		province[m.Code], region[m.Code] = atoi(m.ProvinceCode), atoi(m.RegionCode)
	}
	return []struct {
		by  []tiles.Dim
		key func(v *tiles.Visit) int64
	}{
		{nil, func(*tiles.Visit) int64 { return 0 }},
		{[]tiles.Dim{tiles.DimDate}, func(v *tiles.Visit) int64 { return v.Day }},
		{[]tiles.Dim{tiles.DimWeekday}, func(v *tiles.Visit) int64 { return int64(tiles.DayDate(v.Day).Weekday()) }},
		{[]tiles.Dim{tiles.DimAge}, func(v *tiles.Visit) int64 { return int64(v.Age) }},
		{[]tiles.Dim{tiles.DimGender}, func(v *tiles.Visit) int64 { return int64(v.Gender) }},
		{[]tiles.Dim{tiles.DimSpend}, func(v *tiles.Visit) int64 { return int64(v.Spend) }},
		{[]tiles.Dim{tiles.DimNationality}, func(v *tiles.Visit) int64 { return int64(tiles.CountryIndex(v.Nationality)) }},
		{[]tiles.Dim{tiles.DimMunicipality}, func(v *tiles.Visit) int64 { return atoi(v.Origin) }},
		{[]tiles.Dim{tiles.DimProvince}, func(v *tiles.Visit) int64 { return province[v.Origin] }},
		{[]tiles.Dim{tiles.DimRegion}, func(v *tiles.Visit) int64 { return region[v.Origin] }},
	}
}

// CheckVisitGroups checks that src groups the visits it lists
// (tiles.VisitGrouper): for each query of Queries that groups by nothing
// (visits ignore By) and each grouping of a report, VisitGroups gives the
// visits of Visits, each once, in the group of its key and in one call
// per group, or declines the query (tiles.ErrNotGrouped) without calling
// fn. It returns how many visits it compared. Groupings no report makes
// must be declined.
func CheckVisitGroups(t *testing.T, src VisitGrouping, records []presence.Record) int {
	t.Helper()
	ctx := context.Background()
	compared := 0
	for i, q := range Queries(records) {
		if len(q.By) > 0 {
			continue
		}
		for _, d := range visitDims() {
			var want, got []keyedEntry
			if err := src.Visits(ctx, q, func(v tiles.Visit) error {
				want = append(want, keyedEntry{d.key(&v), tiles.VisitEntry{Visitor: v.Visitor, Key: tiles.VisitKey(v.Key, v.Day), Dwell: int32(min(v.Last-v.First, math.MaxInt32))}})
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			calls := map[int64]int{}
			err := src.VisitGroups(ctx, q, d.by, func(k int64, vs []tiles.VisitEntry) error {
				calls[k]++
				for _, e := range vs {
					got = append(got, keyedEntry{k, e})
				}
				return nil
			})
			if errors.Is(err, tiles.ErrNotGrouped) && len(calls) == 0 {
				continue
			}
			if err != nil {
				t.Fatalf("%s by %v: %v", Name(i, q), d.by, err)
			}
			sortKeyed(want)
			sortKeyed(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s by %v: %d grouped visits, want %d listed", Name(i, q), d.by, len(got), len(want))
			}
			for k, n := range calls {
				if n != 1 {
					t.Errorf("%s by %v: group %d in %d calls", Name(i, q), d.by, k, n)
				}
			}
			compared += len(want)
		}
	}
	q := tiles.Query{Loc: Rome}
	for _, by := range [][]tiles.Dim{{tiles.DimHour}, {tiles.DimZone}, {tiles.DimBin}, {tiles.DimAge, tiles.DimGender}} {
		err := src.VisitGroups(ctx, q, by, func(int64, []tiles.VisitEntry) error { t.Errorf("by %v: called", by); return nil })
		if !errors.Is(err, tiles.ErrNotGrouped) {
			t.Errorf("by %v: %v, want tiles.ErrNotGrouped", by, err)
		}
	}
	return compared
}

func sortKeyed(es []keyedEntry) {
	slices.SortFunc(es, func(a, b keyedEntry) int {
		return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.Visitor, b.Visitor), cmp.Compare(a.Key, b.Key), cmp.Compare(a.Dwell, b.Dwell))
	})
}
