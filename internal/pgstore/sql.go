package pgstore

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/tiles"
)

// builder assembles one parameterised statement. Values only ever travel
// as $n parameters; the SQL text is made of fixed fragments.
type builder struct {
	// town: every statement reads this town's rows only (p.town, a
	// column of presence and of presence_rollup).
	town  int16
	args  []any
	joins []string
	// rollup: the statement reads presence_rollup (no cell index).
	rollup bool
}

// records returns the SELECT of the (k0, k1, weight, visitor, rkey, m)
// rows of q from table (presence, or presence_rollup when rollup), where
// the condition extra also holds: the keys of q.By, and m true when the
// row passes the narrowing filters.
func (b *builder) records(q *tiles.Query, cat *refdata.Catalog, table string, rollup bool, extra string) (string, error) {
	b.joins, b.rollup = nil, rollup
	keys := []string{"0::bigint", "0::bigint"}
	for i, d := range q.By {
		k, err := b.key(q, d, cat)
		if err != nil {
			return "", err
		}
		keys[i] = k
	}
	base, narrow := b.where(q)
	cond := base + " AND " + extra
	if !q.WithRest {
		cond += " AND " + narrow
	}
	return fmt.Sprintf("SELECT %s AS k0, %s AS k1, p.weight, p.visitor, p.rkey::bigint & 4294967295 AS rkey, "+
		"coalesce(%s, false) AS m FROM %s p %s WHERE %s",
		keys[0], keys[1], narrow, table, strings.Join(b.joins, " "), cond), nil
}

func (b *builder) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

// cellExpr is the expression of the presence_cell index (migration 00002):
// the z16 tile of a record. It must match the index's text to be used.
const cellExpr = "((p.wy >> 16) * 65536 + (p.wx >> 16))"

// maxCells bounds the cell list of one query: an area wider than a z11
// tile is read by time alone (partitions and the BRIN on observed_at).
const maxCells = 1024

// coveringCells lists the cells (cellExpr) that area a overlaps, or nil when
// there are more than maxCells. The exact test stays on wx, wy.
func coveringCells(a tiles.Rect) []int64 {
	if a.Empty() {
		return nil
	}
	x0, x1 := a.MinX>>16, (a.MaxX-1)>>16
	y0, y1 := a.MinY>>16, (a.MaxY-1)>>16
	if (x1-x0+1)*(y1-y0+1) > maxCells {
		return nil
	}
	cells := make([]int64, 0, (x1-x0+1)*(y1-y0+1))
	for y := y0; y <= y1; y++ {
		for x := x0; x <= x1; x++ {
			cells = append(cells, y*65536+x)
		}
	}
	return cells
}

// where returns the base condition (town, window, area, zone) and the
// narrowing condition (hours, days, attributes; "true" when there is none)
// of q.
func (b *builder) where(q *tiles.Query) (base, narrow string) {
	f := &q.Filter
	conds := []string{"p.town = " + b.arg(b.town) + "::smallint"}
	if !f.From.IsZero() {
		conds = append(conds, "p.observed_at >= "+b.arg(f.From))
	}
	if !f.To.IsZero() {
		conds = append(conds, "p.observed_at < "+b.arg(f.To))
	}
	if q.Area != (tiles.Rect{}) {
		a := q.Area.Clamp()
		if cells := coveringCells(a); cells != nil && !b.rollup {
			conds = append(conds, cellExpr+" = ANY("+b.arg(cells)+"::bigint[])")
		}
		conds = append(conds,
			"p.wx >= "+b.arg(a.MinX), "p.wx < "+b.arg(a.MaxX), "p.wy >= "+b.arg(a.MinY), "p.wy < "+b.arg(a.MaxY))
	}
	if q.AreaZones != 0 {
		conds = append(conds, "p.zones & "+b.arg(int32(q.AreaZones))+" <> 0")
	}
	base = strings.Join(conds, " AND ")

	var nc []string
	if f.Zones != 0 {
		nc = append(nc, "p.zones & "+b.arg(int32(f.Zones))+" <> 0")
	}
	if f.Hours != 0 {
		var hs []int32
		for h := int32(0); h < 24; h++ {
			if f.Hours&(1<<h) != 0 {
				hs = append(hs, h)
			}
		}
		nc = append(nc, "extract(hour FROM p.observed_at AT TIME ZONE "+b.tz(q)+")::int = ANY("+b.arg(hs)+"::int[])")
	}
	if f.Days != 0 {
		var ds []int32
		for d := int32(0); d < 7; d++ {
			if f.Days&(1<<d) != 0 {
				ds = append(ds, d)
			}
		}
		nc = append(nc, "extract(dow FROM p.observed_at AT TIME ZONE "+b.tz(q)+")::int = ANY("+b.arg(ds)+"::int[])")
	}
	enum := func(col string, mask uint8, names func(i int) string, n int) {
		if mask == 0 {
			return
		}
		var vs []string
		for i := 1; i < n; i++ {
			if mask&(1<<i) != 0 {
				vs = append(vs, names(i))
			}
		}
		nc = append(nc, col+" = ANY("+b.arg(vs)+"::text[])")
	}
	enum("p.age_band", f.Ages, func(i int) string { return tiles.AgeBand(i).String() }, 8)
	enum("p.gender", f.Genders, func(i int) string { return tiles.Gender(i).String() }, 4)
	enum("p.spend_class", f.Spends, func(i int) string { return tiles.Spend(i).String() }, 4)
	if len(f.Nationalities) > 0 {
		var cs []string
		for _, c := range f.Nationalities {
			cs = append(cs, c.String())
		}
		nc = append(nc, "p.nationality::text = ANY("+b.arg(cs)+"::text[])")
	}
	if len(f.Origins) > 0 {
		nc = append(nc, "p.origin_code::text = ANY("+b.arg(f.Origins)+"::text[])")
	}
	narrow = "true"
	if len(nc) > 0 {
		narrow = strings.Join(nc, " AND ")
	}
	return base, narrow
}

// tz is the parameter holding the query's time zone name (added once).
func (b *builder) tz(q *tiles.Query) string {
	name := "UTC"
	if q.Loc != nil {
		name = q.Loc.String()
	}
	for i, a := range b.args {
		if s, ok := a.(tzName); ok && string(s) == name {
			return "$" + strconv.Itoa(i+1) + "::text"
		}
	}
	return b.arg(tzName(name)) + "::text"
}

// tzName marks the time-zone parameter so that it is shared.
type tzName string

// key returns the SQL expression of a grouping dimension's key (bigint),
// matching the keys of tiles.Dim and of the in-memory store exactly. It may
// add lateral joins to b.joins.
func (b *builder) key(q *tiles.Query, d tiles.Dim, cat *refdata.Catalog) (string, error) {
	switch d {
	case tiles.DimBin:
		g := q.Grid
		if g.W <= 0 || q.Area == (tiles.Rect{}) {
			return "", fmt.Errorf("grouping by bin needs a grid and an area")
		}
		cols, w := b.arg(tiles.WorldSize/g.W+2), b.arg(g.W)
		if g.Shape == tiles.Square {
			return fmt.Sprintf("(p.wy / %[1]s) * %[2]s + p.wx / %[1]s", w, cols), nil
		}
		// tiles.Grid.BinOf: the nearer of the candidate centres in rows r0
		// and r0+1 (r0 on ties), in integer arithmetic.
		h, half := b.arg(g.H), b.arg(g.W/2)
		b.joins = append(b.joins,
			fmt.Sprintf("CROSS JOIN LATERAL (SELECT p.wy / %s AS r0) hr", h),
			fmt.Sprintf("CROSS JOIN LATERAL (SELECT CASE WHEN hr.r0 %% 2 = 1 THEN p.wx / %[1]s ELSE (p.wx + %[2]s) / %[1]s END AS c0, "+
				"CASE WHEN hr.r0 %% 2 = 0 THEN p.wx / %[1]s ELSE (p.wx + %[2]s) / %[1]s END AS c1) hc", w, half),
			fmt.Sprintf("CROSS JOIN LATERAL (SELECT p.wx - (hc.c0 * %[1]s + (hr.r0 %% 2) * %[2]s) AS dx0, p.wy - hr.r0 * %[3]s AS dy0, "+
				"p.wx - (hc.c1 * %[1]s + ((hr.r0 + 1) %% 2) * %[2]s) AS dx1, p.wy - (hr.r0 + 1) * %[3]s AS dy1) hd", w, half, h))
		return fmt.Sprintf("CASE WHEN hd.dx0 * hd.dx0 + hd.dy0 * hd.dy0 <= hd.dx1 * hd.dx1 + hd.dy1 * hd.dy1 "+
			"THEN hr.r0 * %[1]s + hc.c0 ELSE (hr.r0 + 1) * %[1]s + hc.c1 END", cols), nil
	case tiles.DimZone:
		b.joins = append(b.joins, "CROSS JOIN LATERAL unnest(CASE WHEN p.zones = 0 THEN ARRAY[-1] "+
			"ELSE ARRAY(SELECT z FROM generate_series(0, 15) z WHERE p.zones & (1 << z) <> 0) END) AS zk(z)")
		return "zk.z::bigint", nil
	case tiles.DimMunicipality:
		return "coalesce(p.origin_code::bigint, 0)", nil
	case tiles.DimProvince:
		return "coalesce(left(p.origin_code, 3)::bigint, 0)", nil
	case tiles.DimRegion:
		provs, regs := regionMap(cat)
		b.joins = append(b.joins, "LEFT JOIN unnest("+b.arg(provs)+"::bigint[], "+b.arg(regs)+
			"::bigint[]) AS rm(prov, reg) ON rm.prov = left(p.origin_code, 3)::bigint")
		return "coalesce(rm.reg, 0)", nil
	case tiles.DimNationality:
		// a hashed join on the codes: array_position per record cost
		// more than the rest of the query's scan
		b.joins = append(b.joins, "LEFT JOIN unnest("+b.arg(countryCodes())+
			"::text[]) WITH ORDINALITY AS nk(code, i) ON nk.code = p.nationality::text")
		return "coalesce(nk.i, 0)", nil
	case tiles.DimHour:
		return "extract(hour FROM p.observed_at AT TIME ZONE " + b.tz(q) + ")::bigint", nil
	case tiles.DimWeekday:
		return "extract(dow FROM p.observed_at AT TIME ZONE " + b.tz(q) + ")::bigint", nil
	case tiles.DimDate:
		return "((p.observed_at AT TIME ZONE " + b.tz(q) + ")::date - date '1970-01-01')::bigint", nil
	case tiles.DimAge:
		return b.enumKey("p.age_band", 8, func(i int) string { return tiles.AgeBand(i).String() }), nil
	case tiles.DimGender:
		return b.enumKey("p.gender", 4, func(i int) string { return tiles.Gender(i).String() }), nil
	case tiles.DimSpend:
		return b.enumKey("p.spend_class", 4, func(i int) string { return tiles.Spend(i).String() }), nil
	}
	return "", fmt.Errorf("unknown grouping dimension %d", d)
}

// enumKey is the enum value of a text column (0 when NULL).
func (b *builder) enumKey(col string, n int, name func(int) string) string {
	return "coalesce(array_position(" + b.arg(enumNames(n, name)) + "::text[], " + col + ") - 1, 0)::bigint"
}

// enumNames lists an enum's names by value, with "(unknown)" for 0 so that
// array_position never matches NULL or the empty string.
func enumNames(n int, name func(int) string) []string {
	out := []string{"(unknown)"}
	for i := 1; i < n; i++ {
		out = append(out, name(i))
	}
	return out
}

// countryCodes lists tiles.Countries in index order (position, from 1, =
// tiles.CountryIndex).
func countryCodes() []string {
	out := make([]string, len(tiles.Countries))
	for i, c := range tiles.Countries {
		out[i] = c.String()
	}
	return out
}

// regionMap returns the province → region code pairs of the catalog.
func regionMap(cat *refdata.Catalog) (provs, regs []int64) {
	m := map[int64]int64{}
	for _, mu := range cat.Municipalities {
		p, _ := strconv.ParseInt(mu.ProvinceCode, 10, 64)
		r, _ := strconv.ParseInt(mu.RegionCode, 10, 64)
		m[p] = r
	}
	for p := range m {
		provs = append(provs, p)
	}
	sort.Slice(provs, func(i, j int) bool { return provs[i] < provs[j] })
	for _, p := range provs {
		regs = append(regs, m[p])
	}
	return provs, regs
}
