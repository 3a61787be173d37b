package stats

import (
	"bytes"
	"strings"
	"testing"

	"github.com/flowtiles/flowtiles/internal/sourcetest"
)

// The expected values below are worked out by hand from handFixture (k = 3);
// see its comment for the visitors, their attributes and their times.

const window = "zone=centro&from=2025-03-03&to=2025-03-04"

func TestTotalsByHand(t *testing.T) {
	e := newEnv(t, 3, records(t, handFixture, sourcetest.Centre))
	rep := e.report(t, window)
	// presences: 4+3+3+2+2+2+2+1 + 4 = 23; visitors: 8 ids + 4 anonymous = 12;
	// visits: v1, v2, v3 twice, v4-v8 once = 11; dwell (min) sorted
	// 0 0 0 20 29 45 60 90 120 120 180: median 45; bands: under 30 = 5 visits
	// (v1 v2 v3 v6 v8), 30-120 = 3 (v1 v2 v7), 120+ = 3 (v3 v4 v5): 5/11,
	// 3/11, 3/11; repeat visitors v1 v2 v3 = 3, one-day visitors 5.
	jsonEq(t, "total", asJSON(t, rep.Period.Total), `{"key":"total","label":"All",
		"presences":{"value":23},"visitors":{"value":12},"visits":{"value":11},
		"dwell_median_minutes":{"value":45},
		"dwell_under_30_share":{"value":0.4545},"dwell_30_120_share":{"value":0.2727},"dwell_over_120_share":{"value":0.2727},
		"repeat_visitors":{"value":3}}`)
	// Perugia: v1 v2 v7, 4+3+2 presences, 3 / 162449 residents; Deruta (v3)
	// is 1 person: not ranked. Germany: v4 v5 v8; France (v6) withheld.
	jsonEq(t, "top origins", asJSON(t, rep.Period.TopOrigins), `[{"key":"054039","label":"Perugia","level":"municipality",
		"presences":{"value":9},"visitors":{"value":3},"population":162449,"visitors_per_1000_residents":{"value":0.02}}]`)
	jsonEq(t, "top countries", asJSON(t, rep.Period.TopCountries), `[{"key":"DE","label":"DE","level":"country",
		"presences":{"value":5},"visitors":{"value":3}}]`)
	if rep.Period.Rows != nil || rep.By != "" {
		t.Errorf("rows without by: %v", rep.Period.Rows)
	}
	if got := asJSON(t, rep.Area); got != `{"kind":"zone","code":"centro","name":"centro"}` {
		t.Errorf("area: %s", got)
	}
	if got := rep.Period.From.Format("2006-01-02T15:04Z07:00") + " " + rep.Period.To.Format("2006-01-02T15:04Z07:00"); got != "2025-03-03T00:00+01:00 2025-03-05T00:00+01:00" {
		t.Errorf("window: %s", got)
	}
	if rep.K != 3 || rep.Timezone != "Europe/Rome" || rep.Units["dwell_median_minutes"] != "minutes" || rep.Definitions["visit"] == "" {
		t.Errorf("k, timezone, units or definitions missing: %d %q %v", rep.K, rep.Timezone, rep.Units)
	}
}

func TestRowsByHand(t *testing.T) {
	e := newEnv(t, 3, records(t, handFixture, sourcetest.Centre))
	cases := []struct{ by, want string }{
		// Hour 10: v1 ×3, v2 ×2, v4, v5, v7 and the 4 anonymous: 12
		// presences, 5+4 people. Every other hour has 1 or 2 people.
		{"hour", `[
			{"key":"9","label":"09:00–09:59","suppressed":true},
			{"key":"10","label":"10:00–10:59","presences":{"value":12},"visitors":{"value":9}},
			{"key":"11","label":"11:00–11:59","suppressed":true},
			{"key":"12","label":"12:00–12:59","suppressed":true},
			{"key":"13","label":"13:00–13:59","suppressed":true},
			{"key":"15","label":"15:00–15:59","suppressed":true},
			{"key":"16","label":"16:00–16:59","suppressed":true}]`},
		// Monday: v1 v2 v3 v4 v5 + 4 anonymous; dwell 20 45 0 180 120: median
		// 45; under 30 holds 2 visitors (v1 v3): shares withheld. Tuesday:
		// v1 v2 v3 v6 v7 v8; dwell 60 0 120 29 90 0: median 44.5, published
		// in whole steps of 5 minutes (45); 30-120
		// holds 2 visitors (v1 v7).
		{"dow", `[
			{"key":"mon","label":"Monday","presences":{"value":13},"visitors":{"value":9},"visits":{"value":5},
			 "dwell_median_minutes":{"value":45},"dwell_under_30_share":{"suppressed":true},"dwell_30_120_share":{"suppressed":true},"dwell_over_120_share":{"suppressed":true}},
			{"key":"tue","label":"Tuesday","presences":{"value":10},"visitors":{"value":6},"visits":{"value":6},
			 "dwell_median_minutes":{"value":45},"dwell_under_30_share":{"suppressed":true},"dwell_30_120_share":{"suppressed":true},"dwell_over_120_share":{"suppressed":true}}]`},
		// 25-34: v1 v2 v3, all repeat (3, and 0 one-day visitors); dwell
		// 0 0 20 45 60 120: median 32.5 (35); 30-120 holds v1 v2 only.
		// 35-44: v4 v5 v6, dwell 180 120 29: median 120, under 30 holds v6
		// only; repeat 0 (3 one-day visitors). Unknown age: the anonymous
		// count of 4: no visits.
		{"age", `[
			{"key":"25-34","label":"25-34","presences":{"value":10},"visitors":{"value":3},"visits":{"value":6},
			 "dwell_median_minutes":{"value":35},"dwell_under_30_share":{"suppressed":true},"dwell_30_120_share":{"suppressed":true},"dwell_over_120_share":{"suppressed":true},
			 "repeat_visitors":{"value":3}},
			{"key":"35-44","label":"35-44","presences":{"value":6},"visitors":{"value":3},"visits":{"value":3},
			 "dwell_median_minutes":{"value":120},"dwell_under_30_share":{"suppressed":true},"dwell_30_120_share":{"suppressed":true},"dwell_over_120_share":{"suppressed":true},
			 "repeat_visitors":{"value":0}},
			{"key":"45-54","label":"45-54","suppressed":true},
			{"key":"55-64","label":"55-64","suppressed":true},
			{"key":"unknown","label":"unknown","presences":{"value":4},"visitors":{"value":4},"visits":{"value":0},
			 "dwell_median_minutes":{"suppressed":true},"dwell_under_30_share":{"suppressed":true},"dwell_30_120_share":{"suppressed":true},"dwell_over_120_share":{"suppressed":true},
			 "repeat_visitors":{"suppressed":true}}]`},
		// Deruta: v3 alone: withheld, and with it Perugia (v1 v2 v7), the
		// smallest other row: unknown would be the total minus Perugia, and
		// Deruta the total minus the other two (margins). Unknown origin:
		// v4 v5 v6 v8 + 4 anonymous, dwell 180 120 29 0: median 74.5 (75).
		{"origin", `[
			{"key":"054017","label":"Deruta","suppressed":true,"population":9456},
			{"key":"054039","label":"Perugia","suppressed":true,"population":162449},
			{"key":"unknown","label":"unknown","presences":{"value":11},"visitors":{"value":8},"visits":{"value":4},
			 "dwell_median_minutes":{"value":75},"dwell_under_30_share":{"suppressed":true},"dwell_30_120_share":{"suppressed":true},"dwell_over_120_share":{"suppressed":true},
			 "repeat_visitors":{"value":0}}]`},
		// Umbria: v1 v2 v3 v7 (4 people, 12 presences); dwell 20 60 45 0 0
		// 120 90: median 45; under 30 = v1 v2 v3, 30-120 = v1 v2 v7, 120+ =
		// v3 alone: shares withheld. Repeat v1 v2 v3 = 3, one-day v7 = 1:
		// withheld.
		{"region", `[
			{"key":"10","label":"Umbria","presences":{"value":12},"visitors":{"value":4},"visits":{"value":7},
			 "dwell_median_minutes":{"value":45},"dwell_under_30_share":{"suppressed":true},"dwell_30_120_share":{"suppressed":true},"dwell_over_120_share":{"suppressed":true},
			 "repeat_visitors":{"suppressed":true},"population":884268,"visitors_per_1000_residents":{"value":0}},
			{"key":"unknown","label":"unknown","presences":{"value":11},"visitors":{"value":8},"visits":{"value":4},
			 "dwell_median_minutes":{"value":75},"dwell_under_30_share":{"suppressed":true},"dwell_30_120_share":{"suppressed":true},"dwell_over_120_share":{"suppressed":true},
			 "repeat_visitors":{"value":0}}]`},
		// Women: v1 v3 v5 v7 (4+3+2+2 presences); dwell 20 60 0 120 120 90:
		// median 75; under 30 = v1 v3, 30-120 = v1 v7, 120+ = v3 v5; repeat
		// v1 v3 = 2. Other: v6 alone: withheld, and with it the men (v2 v4
		// v8), the smaller other row (margins).
		{"gender", `[
			{"key":"f","label":"female","presences":{"value":11},"visitors":{"value":4},"visits":{"value":6},
			 "dwell_median_minutes":{"value":75},"dwell_under_30_share":{"suppressed":true},"dwell_30_120_share":{"suppressed":true},"dwell_over_120_share":{"suppressed":true},
			 "repeat_visitors":{"suppressed":true}},
			{"key":"m","label":"male","suppressed":true},
			{"key":"x","label":"other","suppressed":true},
			{"key":"unknown","label":"unknown","presences":{"value":4},"visitors":{"value":4},"visits":{"value":0},
			 "dwell_median_minutes":{"suppressed":true},"dwell_under_30_share":{"suppressed":true},"dwell_30_120_share":{"suppressed":true},"dwell_over_120_share":{"suppressed":true},
			 "repeat_visitors":{"suppressed":true}}]`},
	}
	for _, c := range cases {
		t.Run(c.by, func(t *testing.T) {
			rep := e.report(t, window+"&by="+c.by)
			jsonEq(t, "by "+c.by, asJSON(t, rep.Period.Rows), c.want)
		})
	}
}

func TestDatesAndSpendKeys(t *testing.T) {
	e := newEnv(t, 3, records(t, handFixture, sourcetest.Centre))
	keys := func(rows []Row) string {
		var ks []string
		for _, r := range rows {
			ks = append(ks, r.Key)
		}
		return strings.Join(ks, " ")
	}
	if got := keys(e.report(t, window+"&by=date").Period.Rows); got != "2025-03-03 2025-03-04" {
		t.Errorf("date keys: %s", got)
	}
	// low: v2 v7 v8; medium: v1 v4 v5; high: v3 v6
	if got := keys(e.report(t, window+"&by=spend").Period.Rows); got != "low medium high unknown" {
		t.Errorf("spend keys: %s", got)
	}
	rows := e.report(t, window+"&by=spend").Period.Rows
	// high (2 people) is withheld, and with it low (3 people), the smaller
	// other known row: the total minus the others would give it (margins)
	if !rows[2].Suppressed || !rows[0].Suppressed || rows[1].Suppressed || rows[3].Suppressed {
		t.Errorf("spend: high (2 people) and low (margins) must be withheld, medium and unknown published: %s", asJSON(t, rows))
	}
	if got := keys(e.report(t, window+"&by=nationality").Period.Rows); got != "DE FR IT unknown" {
		t.Errorf("nationality keys: %s", got)
	}
	if got := keys(e.report(t, window+"&by=province").Period.Rows); got != "054 unknown" {
		t.Errorf("province keys: %s", got)
	}
}

func TestComparisonByHand(t *testing.T) {
	e := newEnv(t, 3, records(t, handFixture, sourcetest.Centre))
	rep := e.report(t, "zone=centro&from=2025-03-04&to=2025-03-04&compare_from=2025-03-03&compare_to=2025-03-03")
	// Tuesday: 10 presences, 6 people, 6 visits, dwell median 44.5 (45), 30-120
	// band of 2 visitors; nobody repeats within one day.
	jsonEq(t, "period", asJSON(t, rep.Period.Total), `{"key":"total","label":"All",
		"presences":{"value":10},"visitors":{"value":6},"visits":{"value":6},"dwell_median_minutes":{"value":45},
		"dwell_under_30_share":{"suppressed":true},"dwell_30_120_share":{"suppressed":true},"dwell_over_120_share":{"suppressed":true},
		"repeat_visitors":{"value":0}}`)
	// Monday: 13 presences, 9 people, 5 visits, median 45.
	jsonEq(t, "comparison", asJSON(t, rep.Comparison.Total), `{"key":"total","label":"All",
		"presences":{"value":13},"visitors":{"value":9},"visits":{"value":5},"dwell_median_minutes":{"value":45},
		"dwell_under_30_share":{"suppressed":true},"dwell_30_120_share":{"suppressed":true},"dwell_over_120_share":{"suppressed":true},
		"repeat_visitors":{"value":0}}`)
	// 10-13 = -3 (-3/13), 6-9 = -3 (-1/3), 6-5 = +1 (+0.2), 45-45 = 0;
	// shares withheld; repeat 0-0 has no relative change.
	jsonEq(t, "change", asJSON(t, rep.Change.Total), `{"key":"total","label":"All",
		"presences":{"absolute":-3,"relative":-0.2308},"visitors":{"absolute":-3,"relative":-0.3333},
		"visits":{"absolute":1,"relative":0.2},"dwell_median_minutes":{"absolute":0,"relative":0},
		"dwell_under_30_share":{"suppressed":true},"dwell_30_120_share":{"suppressed":true},"dwell_over_120_share":{"suppressed":true},
		"repeat_visitors":{"absolute":0}}`)
	// Perugia on Tuesday: v1 v2 v7 (2+1+2 presences); on Monday only v1 v2.
	if got := asJSON(t, rep.Period.TopOrigins); !strings.Contains(got, `"presences":{"value":5},"visitors":{"value":3}`) {
		t.Errorf("Tuesday's top origins: %s", got)
	}
	if len(rep.Comparison.TopOrigins) != 0 {
		t.Errorf("Monday's top origins must be empty (Perugia: 2 people): %s", asJSON(t, rep.Comparison.TopOrigins))
	}

	// By hour: 10 is published on both days? Monday hour 10: v1 v2 v4 v5 +
	// 4 anonymous; Tuesday hour 10: v1 v7 only: withheld, so is the change.
	rep = e.report(t, "zone=centro&from=2025-03-04&to=2025-03-04&compare_from=2025-03-03&compare_to=2025-03-03&by=hour")
	for _, r := range rep.Change.Rows {
		if !r.Suppressed {
			t.Errorf("change of hour %s: both sides must be published for a change: %s", r.Key, asJSON(t, r))
		}
	}
}

func TestCSVByHand(t *testing.T) {
	e := newEnv(t, 3, records(t, handFixture, sourcetest.Centre))
	var buf bytes.Buffer
	if err := e.report(t, window+"&by=age").WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	// plain RFC 4180: CRLF line ends, no comment lines, the header first
	if strings.Contains(buf.String(), "#") || strings.Count(buf.String(), "\r\n") != strings.Count(buf.String(), "\n") {
		t.Errorf("not plain RFC 4180 CSV:\n%q", buf.String())
	}
	data := strings.Split(strings.TrimSpace(strings.ReplaceAll(buf.String(), "\r\n", "\n")), "\n")
	want := []string{
		"key,label,presences,visitors,visits,dwell_median_minutes,dwell_under_30_share,dwell_30_120_share,dwell_over_120_share,repeat_visitors,population,visitors_per_1000_residents,suppressed",
		"total,All,23,12,11,45,0.4545,0.2727,0.2727,3,,,",
		"25-34,25-34,10,3,6,35,,,,3,,,dwell_under_30_share;dwell_30_120_share;dwell_over_120_share",
		"35-44,35-44,6,3,3,120,,,,0,,,dwell_under_30_share;dwell_30_120_share;dwell_over_120_share",
		"45-54,45-54,,,,,,,,,,,row",
		"55-64,55-64,,,,,,,,,,,row",
		"unknown,unknown,4,4,0,,,,,,,,dwell_median_minutes;dwell_under_30_share;dwell_30_120_share;dwell_over_120_share;repeat_visitors",
	}
	if strings.Join(data, "\n") != strings.Join(want, "\n") {
		t.Errorf("CSV:\n%s\nwant:\n%s", strings.Join(data, "\n"), strings.Join(want, "\n"))
	}
	// what it is about: format=csv&meta=1
	buf.Reset()
	if err := e.report(t, window+"&by=age").WriteCSVMeta(&buf); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"name,value\r\n", "area,zone centro\r\n", "period,2025-03-03T00:00:00+01:00 to 2025-03-05T00:00:00+01:00\r\n", "by,age\r\n", "k,3\r\n",
		"definition.dwell,\"Last minus first", "suppressed,\"figures about fewer than 3 people"} {
		if !strings.Contains(buf.String(), c) {
			t.Errorf("CSV meta lacks %q:\n%s", c, buf.String())
		}
	}

	buf.Reset()
	if err := e.report(t, "zone=centro&from=2025-03-04&to=2025-03-04&compare_from=2025-03-03&compare_to=2025-03-03").WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(buf.String(), "\r\n", "\n")), "\n")
	header, total := lines[0], lines[1]
	if !strings.HasPrefix(header, "key,label,presences,compare_presences,change_presences,change_presences_relative,visitors,") ||
		!strings.HasSuffix(header, ",suppressed,compare_suppressed") {
		t.Errorf("comparison header: %s", header)
	}
	if !strings.HasPrefix(total, "total,All,10,13,-3,-0.2308,6,9,-3,-0.3333,6,5,1,0.2,45,45,0,0,") {
		t.Errorf("comparison total: %s", total)
	}
}
