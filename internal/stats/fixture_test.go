package stats

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// person describes a visitor of the hand-computed fixture.
type person struct {
	id          string // "" for an anonymous count
	weight      uint32
	age         tiles.AgeBand
	gender      tiles.Gender
	nationality string
	origin      string
	spend       tiles.Spend
	times       []string // local "2006-01-02 15:04"
}

// handFixture is the small data set whose figures are computed by hand in
// stats_test.go (k = 3). Every record is in zone "centro", on Monday 3 and
// Tuesday 4 March 2025:
//
//	v1 F 25-34 IT 054039 medium  Mon 10:00 10:20 (20 min)  Tue 10:00 11:00 (60)
//	v2 M 25-34 IT 054039 low     Mon 10:00 10:45 (45)      Tue 16:00 (0)
//	v3 F 25-34 IT 054017 high    Mon 11:00 (0)             Tue 11:00 13:00 (120)
//	v4 M 35-44 DE        medium  Mon 10:30 13:30 (180)
//	v5 F 35-44 DE        medium  Mon 10:30 12:30 (120)
//	v6 X 35-44 FR        high    Tue 15:00 15:29 (29)
//	v7 F 45-54 IT 054039 low     Tue 09:00 10:30 (90)
//	v8 M 55-64 DE        low     Tue 12:00 (0)
//	anonymous count of 4 people, no attributes, Mon 10:05
var handFixture = []person{
	{"v1", 1, tiles.Age25to34, tiles.GenderF, "IT", "054039", tiles.SpendMedium, []string{"2025-03-03 10:00", "2025-03-03 10:20", "2025-03-04 10:00", "2025-03-04 11:00"}},
	{"v2", 1, tiles.Age25to34, tiles.GenderM, "IT", "054039", tiles.SpendLow, []string{"2025-03-03 10:00", "2025-03-03 10:45", "2025-03-04 16:00"}},
	{"v3", 1, tiles.Age25to34, tiles.GenderF, "IT", "054017", tiles.SpendHigh, []string{"2025-03-03 11:00", "2025-03-04 11:00", "2025-03-04 13:00"}},
	{"v4", 1, tiles.Age35to44, tiles.GenderM, "DE", "", tiles.SpendMedium, []string{"2025-03-03 10:30", "2025-03-03 13:30"}},
	{"v5", 1, tiles.Age35to44, tiles.GenderF, "DE", "", tiles.SpendMedium, []string{"2025-03-03 10:30", "2025-03-03 12:30"}},
	{"v6", 1, tiles.Age35to44, tiles.GenderX, "FR", "", tiles.SpendHigh, []string{"2025-03-04 15:00", "2025-03-04 15:29"}},
	{"v7", 1, tiles.Age45to54, tiles.GenderF, "IT", "054039", tiles.SpendLow, []string{"2025-03-04 09:00", "2025-03-04 10:30"}},
	{"v8", 1, tiles.Age55to64, tiles.GenderM, "DE", "", tiles.SpendLow, []string{"2025-03-04 12:00"}},
	{"", 4, 0, 0, "", "", 0, []string{"2025-03-03 10:05"}},
}

// records expands people into records at p (each person's records a few
// metres apart, all inside the same zone).
func records(t testing.TB, people []person, p orb.Point) []presence.Record {
	t.Helper()
	var out []presence.Record
	for i, ps := range people {
		for j, s := range ps.times {
			at, err := time.ParseInLocation("2006-01-02 15:04", s, sourcetest.Rome)
			if err != nil {
				t.Fatal(err)
			}
			nat, err := tiles.ParseCountry(ps.nationality)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, presence.Record{
				ObservedAt: at, Lon: p[0] + float64(i)*1e-5, Lat: p[1] + float64(j)*1e-5, Weight: ps.weight,
				Visitor: presence.VisitorHash(ps.id), Age: ps.age, Gender: ps.gender, Nationality: nat, Origin: ps.origin, Spend: ps.spend,
			})
		}
	}
	return out
}

// env is a stats service over a memory store.
type env struct {
	store  *memstore.Store
	svc    *Service
	places *tiles.Gazetteer
	res    resolver
	zones  []tiles.Place
}

// resolver resolves origins with the catalog and zones with the places.
type resolver struct {
	cat    *refdata.Catalog
	places *tiles.Gazetteer
}

func (r resolver) ResolveOrigin(code string) ([]string, bool) { return r.cat.ResolveOrigin(code) }
func (r resolver) ZoneID(name string) (int, bool) {
	p, ok := r.places.ByCode(tiles.LevelZone, name)
	if !ok {
		return 0, false
	}
	return int(p.Key), true
}

func square(c orb.Point, dx, dy float64) orb.MultiPolygon {
	return orb.MultiPolygon{{{{c[0] - dx, c[1] - dy}, {c[0] + dx, c[1] - dy}, {c[0] + dx, c[1] + dy}, {c[0] - dx, c[1] + dy}, {c[0] - dx, c[1] - dy}}}}
}

// newEnv loads recs into a memory store with the test zones and extra
// places, and returns a service with privacy threshold k.
func newEnv(t testing.TB, k int64, recs []presence.Record, extra ...tiles.Place) *env {
	t.Helper()
	cat := refdata.Italy()
	zones := sourcetest.Zones()
	s := memstore.New(cat)
	if err := s.Add(recs, tiles.NewZoneIndex(zones)); err != nil {
		t.Fatal(err)
	}
	places := tiles.NewGazetteer(append(append([]tiles.Place{}, zones...), extra...))
	svc := New(Config{Source: s, Places: places, Catalog: cat, Privacy: tiles.UnperturbedForTests(k), Loc: sourcetest.Rome})
	return &env{store: s, svc: svc, places: places, res: resolver{cat, places}, zones: zones}
}

// report parses a query string and computes its report.
func (e *env) report(t testing.TB, query string) *Report {
	t.Helper()
	rep, err := e.try(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return rep
}

func (e *env) try(query string) (*Report, error) {
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, err
	}
	req, err := ParseRequest(q, sourcetest.Rome, e.res)
	if err != nil {
		return nil, err
	}
	return e.svc.Report(context.Background(), req)
}

// asJSON renders v as compact JSON.
func asJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// jsonEq compares JSON documents, ignoring whitespace and key order.
func jsonEq(t testing.TB, what, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("%s: got: %v\n%s", what, err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: want: %v\n%s", what, err, want)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("%s:\n got %s\nwant %s", what, gb, strings.TrimSpace(string(wb)))
	}
}
