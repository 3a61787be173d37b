package memstore

import (
	"cmp"
	"math"
	"slices"
	"sort"

	"github.com/flowtiles/flowtiles/tiles"
)

// Rollups make long windows cheap: per hour (a UTC hour, Unix seconds /
// 3600), the records that share zone mask, visitor and attributes
// (age, gender, spend, nationality, origin) collapse into one entry holding
// the sum of their weights, the sum of their keys and their first and last
// second in the hour. A visitor's presences in an hour are many records
// and few entries.
//
// Every Measure stays exact: Count, Anonymous, CountKey and the key sums of
// records without a visitor are sums over records, and sums of sums are the
// same sums; Visitors and the visitors' keys count distinct visitor ids, and
// an entry keeps its visitor id, so the distinct count over entries is the
// distinct count over their records. Visits (first and last record of a
// visitor's day, the attributes of the first) are exact too: the records of
// an entry share their attributes, and its first and last second are theirs.
//
// Most entries are of a visitor with the attributes of their first record
// (Store.vprofs): those leave the attributes out (uentry, 12 bytes), the
// others keep them (rentry, 16 bytes).
//
// An hour's rollup answers for the hour only when it is exact for the query:
//   - the query groups by no bin (an entry has no position);
//   - the hour is whole inside the window (the edges of a window that does
//     not start or end on the hour are read from records);
//   - the hour is one local hour of the query's time zone (whole-hour
//     offsets: every time zone in use today but a few);
//   - every zone mask of the hour that the query may count has all its
//     records inside the query's area (each part keeps the bounding box of
//     its records).
//
// Other hours are read from records, so a query mixes the two at hour
// boundaries. Rollups take memory: an hour keeps its rollup only when it
// takes at most Store.budget bytes per record it stands for, and hourSlack
// bytes more (an hour whose records do not collapse is read from records),
// so the rollups never add more than that to a record's memory.

// rollupBudget is the default Store.budget: bytes of rollup per record.
// With the record columns' 22 bytes (26 where records weigh more than
// 1) and about 15 bytes per visitor (the visitor index and vprofs: 1.8 B
// per record in the demo data, whose visitors leave 8 records each), a
// record takes about 32 bytes (BenchmarkLoadDemo: 32.3 at 10 M records).
const rollupBudget = 8

// hourSlack is memory an hour's rollup may take beyond the budget for
// its overhead (its entries alone must fit the budget): an hour of few
// records (at night) is small whatever its overhead, and reading it from
// records would split a window into many pieces. It adds at most 2.2 MB a
// year.
const hourSlack = 256

// maxEntryWeight is the largest weight sum of an entry (8 bits): records
// that add up to more start another entry, and an hour with a record of a
// larger weight keeps no rollup.
const maxEntryWeight = 255

// rentry is one rollup entry: records of one hour and zone mask that share
// visitor and attributes.
type rentry struct {
	v    uint32 // dense visitor id; 0 for records without one
	k    uint32 // sum of the records' keys (mod 2^32)
	wfl  uint32 // weight sum << 24 | first second in the hour << 12 | last second
	prof uint32 // attrs << 24 | nationality << 16 | origin
}

// uentry is an rentry of a visitor's usual attributes (Store.vprofs).
type uentry struct {
	v, k, wfl uint32
}

// profOf packs a record's attributes as rentry.prof.
func profOf(a tiles.Attrs, nat uint8, origin uint16) uint32 {
	return uint32(a)<<24 | uint32(nat)<<16 | uint32(origin)
}

func (e *rentry) weight() int64      { return int64(e.wfl >> 24) }
func (e *rentry) first() uint32      { return e.wfl >> 12 & 0xfff }
func (e *rentry) last() uint32       { return e.wfl & 0xfff }
func (e *rentry) attrs() tiles.Attrs { return tiles.Attrs(e.prof >> 24) }
func (e *rentry) nat() uint8         { return uint8(e.prof >> 16) }
func (e *rentry) origin() uint16     { return uint16(e.prof) }

// rpart is the entries of one hour with one zone mask, and the bounding
// box of their records (inclusive).
type rpart struct {
	mask                   uint16
	minX, minY, maxX, maxY uint32
	end                    int32 // its entries are hourRoll.e[previous part's end:end]
	uend                   int32 // and hourRoll.u[previous part's uend:uend]
}

// hourRoll is the rollup of one UTC hour. It is immutable once published.
type hourRoll struct {
	h     uint32 // Unix seconds / 3600
	rows  int64  // records it stands for
	parts []rpart
	e     []rentry
	u     []uentry
}

func (r *hourRoll) bytes() int64 { return rollBytes(cap(r.e), cap(r.u), cap(r.parts)) }

// rollBytes is the memory of an hourRoll of entries and parts.
func rollBytes(entries, uentries, parts int) int64 {
	return int64(entries)*16 + int64(uentries)*12 + int64(parts)*28 + 88
}

// entries returns the entries of part j.
func (r *hourRoll) entries(j int) ([]rentry, []uentry) {
	start, ustart := int32(0), int32(0)
	if j > 0 {
		start, ustart = r.parts[j-1].end, r.parts[j-1].uend
	}
	return r.e[start:r.parts[j].end], r.u[ustart:r.parts[j].uend]
}

// rtuple is one record while an hour's rollup is built.
type rtuple struct {
	mask       uint16
	v          uint32
	prof       uint32
	t, k, w    uint32
	x, y       uint32
	overweight bool
}

// rollBuilder builds hour rollups from blocks; it reuses its buffer.
type rollBuilder struct {
	buf    []rtuple
	budget int64
	vprofs []uint32 // Store.vprofs of the snapshot built
	tmp    []rentry
	parts  []rpart
}

// rebuild returns the rollups of the given hours (sorted, unique) from the
// blocks, which must hold every record of those hours: a nil entry for an
// hour that keeps none (no records, a weight too large, or over budget).
func (rb *rollBuilder) rebuild(blocks map[blockKey]*block, hours []uint32) []*hourRoll {
	out := make([]*hourRoll, len(hours))
	byMonth := map[int32][]*block{}
	for _, h := range hours {
		byMonth[monthOf(h*3600)] = nil
	}
	for k, b := range blocks {
		if _, ok := byMonth[k.month]; ok {
			byMonth[k.month] = append(byMonth[k.month], b)
		}
	}
	var cur []int // per block of the month: records before it are done
	for i := 0; i < len(hours); {
		m := monthOf(hours[i] * 3600)
		bs := byMonth[m]
		cur = slices.Grow(cur[:0], len(bs))[:len(bs)]
		clear(cur)
		for ; i < len(hours) && monthOf(hours[i]*3600) == m; i++ {
			from, to := hours[i]*3600, hours[i]*3600+3600
			rb.buf = rb.buf[:0]
			for j, b := range bs {
				if b.maxT < from || b.minT >= to {
					continue
				}
				lo := cur[j] + sort.Search(b.len()-cur[j], func(k int) bool { return b.t[cur[j]+k] >= from })
				hi := lo
				for hi < b.len() && b.t[hi] < to {
					b.tuple(hi, &rb.buf)
					hi++
				}
				cur[j] = hi
			}
			out[i] = rb.build(hours[i])
		}
	}
	return out
}

// tuple appends record i of b to buf.
func (b *block) tuple(i int, buf *[]rtuple) {
	x, y := b.at(i)
	*buf = append(*buf, rtuple{
		mask: b.z[i], v: b.v[i], prof: profOf(b.a[i], b.n[i], b.o[i]),
		t: b.t[i], k: b.k[i], w: b.w[i], x: x, y: y, overweight: b.w[i] > maxEntryWeight,
	})
}

// build collapses the records in rb.buf, all of hour h, into its rollup;
// nil when it keeps none.
func (rb *rollBuilder) build(h uint32) *hourRoll {
	ts := rb.buf
	if len(ts) == 0 {
		return nil
	}
	for i := range ts {
		if ts[i].overweight {
			return nil
		}
	}
	slices.SortFunc(ts, func(a, b rtuple) int {
		switch {
		case a.mask != b.mask:
			return int(a.mask) - int(b.mask)
		case a.v != b.v:
			return cmp.Compare(a.v, b.v)
		case a.prof != b.prof:
			return cmp.Compare(a.prof, b.prof)
		}
		return cmp.Compare(a.t, b.t)
	})
	// collapse into rb.tmp, with the parts' ends
	tmp, parts := rb.tmp[:0], rb.parts[:0]
	base := h * 3600
	var w uint32
	for i := range ts {
		t := &ts[i]
		sec := t.t - base
		if i == 0 || t.mask != ts[i-1].mask {
			if i > 0 {
				parts[len(parts)-1].end = int32(len(tmp))
			}
			parts = append(parts, rpart{mask: t.mask, minX: math.MaxUint32, minY: math.MaxUint32})
		} else if t.v == ts[i-1].v && t.prof == ts[i-1].prof && w+t.w <= maxEntryWeight {
			e := &tmp[len(tmp)-1]
			w += t.w
			e.k += t.k
			e.wfl = w<<24 | e.wfl&0xfff000 | sec
			p := &parts[len(parts)-1]
			p.minX, p.minY, p.maxX, p.maxY = min(p.minX, t.x), min(p.minY, t.y), max(p.maxX, t.x), max(p.maxY, t.y)
			continue
		}
		w = t.w
		tmp = append(tmp, rentry{v: t.v, k: t.k, wfl: w<<24 | sec<<12 | sec, prof: t.prof})
		p := &parts[len(parts)-1]
		p.minX, p.minY, p.maxX, p.maxY = min(p.minX, t.x), min(p.minY, t.y), max(p.maxX, t.x), max(p.maxY, t.y)
	}
	parts[len(parts)-1].end = int32(len(tmp))
	rb.tmp, rb.parts = tmp, parts
	nu := 0
	for i := range tmp {
		if rb.usual(&tmp[i]) {
			nu++
		}
	}
	budget := rb.budget * int64(len(ts))
	if rollBytes(len(tmp)-nu, nu, 0)-rollBytes(0, 0, 0) > budget || rollBytes(len(tmp)-nu, nu, len(parts)) > budget+hourSlack {
		return nil
	}
	r := &hourRoll{h: h, rows: int64(len(ts)), parts: append(make([]rpart, 0, len(parts)), parts...), e: make([]rentry, 0, len(tmp)-nu), u: make([]uentry, 0, nu)}
	start := int32(0)
	for j := range r.parts {
		p := &r.parts[j]
		for i := start; i < p.end; i++ {
			if e := &tmp[i]; rb.usual(e) {
				r.u = append(r.u, uentry{v: e.v, k: e.k, wfl: e.wfl})
			} else {
				r.e = append(r.e, *e)
			}
		}
		start = p.end
		p.end, p.uend = int32(len(r.e)), int32(len(r.u))
	}
	return r
}

// usual reports whether e is of a visitor with the attributes of their
// first record.
func (rb *rollBuilder) usual(e *rentry) bool { return e.v != 0 && rb.vprofs[e.v] == e.prof }

// mergeRolls returns old with the rollups of hours replaced by fresh (nil:
// none), sorted by hour. old is not modified.
func mergeRolls(old []*hourRoll, hours []uint32, fresh []*hourRoll) []*hourRoll {
	out := make([]*hourRoll, 0, len(old)+len(fresh))
	i, j := 0, 0
	for i < len(old) || j < len(hours) {
		switch {
		case j == len(hours) || i < len(old) && old[i].h < hours[j]:
			out = append(out, old[i])
			i++
		default:
			if i < len(old) && old[i].h == hours[j] {
				i++ // replaced
			}
			if fresh[j] != nil {
				out = append(out, fresh[j])
			}
			j++
		}
	}
	return out
}

// hourCtx is the local time of one hour's rollup.
type hourCtx struct {
	hour    int
	weekday int
	day     int64
}

// planRollup chooses the hours that rollups answer for (sc.rolls) and the
// time intervals left to records (sc.gaps), unless the query needs records
// only.
func (sc *scan) planRollup() {
	if sc.bin != nil || sc.sn.rolls == nil || sc.noRollup {
		return
	}
	for _, d := range sc.q.By {
		if d == tiles.DimBin {
			return
		}
	}
	rolls := sc.sn.rolls
	h0 := (uint64(sc.from) + 3599) / 3600
	h1 := uint64(sc.to) / 3600 // hours before h1 end by sc.to
	i := sort.Search(len(rolls), func(i int) bool { return uint64(rolls[i].h) >= h0 })
	var served []*hourRoll
	for ; i < len(rolls) && uint64(rolls[i].h) < h1; i++ {
		if sc.usable(rolls[i]) {
			served = append(served, rolls[i])
		}
	}
	if len(served) == 0 {
		return
	}
	start := uint64(sc.from)
	for _, r := range served {
		hs := uint64(r.h) * 3600
		if hs > start {
			sc.gaps = append(sc.gaps, [2]uint32{uint32(start), uint32(hs)})
		}
		start = hs + 3600
	}
	if start < uint64(sc.to) {
		sc.gaps = append(sc.gaps, [2]uint32{uint32(start), sc.to})
	}
	if sc.gaps == nil {
		sc.gaps = [][2]uint32{} // records answer for nothing
	}
	sc.rolls = served
	// the attributes of entries are read only when filtered or grouped by
	// (or for visits: their first record's)
	sc.needProf = sc.narrow || sc.q.By == nil && sc.visits
	for _, d := range sc.q.By {
		switch d {
		case tiles.DimMunicipality, tiles.DimProvince, tiles.DimRegion, tiles.DimNationality, tiles.DimAge, tiles.DimGender, tiles.DimSpend:
			sc.needProf = true
		}
	}
}

// usable reports whether r answers exactly for its hour of the query.
func (sc *scan) usable(r *hourRoll) bool {
	hs := int64(r.h) * 3600
	off := sc.clock.Local(hs) - hs
	if off%3600 != 0 || sc.clock.Local(hs+3599)-(hs+3599) != off {
		return false
	}
	if sc.whole {
		return true
	}
	for _, p := range r.parts {
		if sc.areaZones != 0 && p.mask&sc.areaZones == 0 {
			continue // none of its records count
		}
		if int64(p.minX) < sc.area.MinX || int64(p.maxX) >= sc.area.MaxX ||
			int64(p.minY) < sc.area.MinY || int64(p.maxY) >= sc.area.MaxY {
			return false
		}
	}
	return true
}

// hourOf returns the local time of hour r.
func (sc *scan) hourOf(r *hourRoll) hourCtx {
	hs := int64(r.h) * 3600
	return hourCtx{hour: sc.clock.Hour(hs), weekday: int(sc.clock.Weekday(hs)), day: sc.clock.Day(hs)}
}

// eachEntry calls fn with the entries of r in the base selection, each
// with its part and whether its hour, weekday and zone pass the narrowing
// filters (pass), but not those of the parts for which skip(pass) is true.
// The entry is fn's only during the call.
func (sc *scan) eachEntry(r *hourRoll, hc hourCtx, skip func(pass bool) bool, fn func(p *rpart, e *rentry, pass bool)) {
	when := (sc.hours == 0 || sc.hours&(1<<hc.hour) != 0) && (sc.days == 0 || sc.days&(1<<hc.weekday) != 0)
	vprofs := sc.sn.vprofs
	if !sc.needProf {
		vprofs = nil // (a random read per entry saved)
	}
	for j := range r.parts {
		p := &r.parts[j]
		if sc.areaZones != 0 && p.mask&sc.areaZones == 0 {
			continue
		}
		pass := when && (sc.zoneBits == 0 || p.mask&sc.zoneBits != 0)
		if skip(pass) {
			continue
		}
		es, us := r.entries(j)
		var e rentry
		for i := range us {
			u := &us[i]
			e = rentry{v: u.v, k: u.k, wfl: u.wfl}
			if vprofs != nil {
				e.prof = vprofs[u.v]
			}
			fn(p, &e, pass)
		}
		for i := range es {
			fn(p, &es[i], pass)
		}
	}
}

// match reports whether entry e of a part that passes (pass) passes the
// narrowing filters.
func (sc *scan) match(e *rentry, pass bool) bool {
	if !sc.narrow {
		return true
	}
	o := e.origin()
	return pass && sc.attrOK[e.attrs()] && sc.natOK[e.nat()] &&
		(sc.orgOK == nil || sc.orgOK[o/64]&(1<<(o%64)) != 0)
}

// entryCount is the number of entries of r.
func (r *hourRoll) entryCount() int { return len(r.e) + len(r.u) }

// rollups aggregates the hours rolls, of those that rollups answer for,
// into every scan of m: one loop over the entries, each tested once
// against the filter and added to each scan's groups (without a call
// through a closure per entry: the dimensions' etab), or rollupDirect for
// a single scan without narrowing filters and with at most one
// dimension, not zones.
func (m multi) rollups(rolls []*hourRoll) {
	sc := m[0]
	if len(m) == 1 && !sc.narrow && (len(sc.dims) == 0 || len(sc.dims) == 1 && !sc.dims[0].zones) {
		for _, r := range rolls {
			hc := sc.hourOf(r)
			sc.rollupDirect(r, &hc)
		}
		return
	}
	withRest, narrow := sc.q.WithRest, sc.narrow
	vprofs := sc.sn.vprofs
	if !sc.needProf {
		vprofs = nil // (a random read per entry saved)
	}
	// The scans whose group of a usual entry (uentry: a visitor's usual
	// attributes) is the visitor's whatever the hour or zone (grouped by
	// attributes only) collect the (group, visitor) pair of a visitor's
	// usual entries once, the first time the visitor is met (seen, per
	// match and rest): one bit in a small set, where each scan's stamp
	// was a random read of its own in an array of every visitor.
	keyed, others := m.usualKeyed()
	var seen *[2][]uint64
	if len(keyed) > 0 {
		seen = sc.seenUsual()
	}
	for _, r := range rolls {
		hc := sc.hourOf(r)
		for _, x := range m {
			x.atHour(&hc)
		}
		when := (sc.hours == 0 || sc.hours&(1<<hc.hour) != 0) && (sc.days == 0 || sc.days&(1<<hc.weekday) != 0)
		for j := range r.parts {
			p := &r.parts[j]
			if sc.areaZones != 0 && p.mask&sc.areaZones == 0 {
				continue
			}
			pass := when && (sc.zoneBits == 0 || p.mask&sc.zoneBits != 0)
			if narrow && !pass && !withRest {
				continue
			}
			es, us := r.entries(j)
			var e rentry
			for i := range us {
				u := &us[i]
				e = rentry{v: u.v, k: u.k, wfl: u.wfl}
				if vprofs != nil {
					e.prof = vprofs[u.v]
				}
				match := sc.match(&e, pass)
				if !match && !withRest {
					continue
				}
				for _, x := range others {
					x.addE(!match, p.mask, &e)
				}
				if seen != nil {
					set := 0
					if !match {
						set = 1
					}
					word, bit := &seen[set][u.v>>6], uint64(1)<<(u.v&63)
					first := *word&bit == 0
					*word |= bit
					for _, x := range keyed {
						x.addUsual(!match, &e, first)
					}
				}
			}
			for i := range es {
				e := &es[i]
				match := sc.match(e, pass)
				if !match && !withRest {
					continue
				}
				for _, x := range m {
					x.addE(!match, p.mask, e)
				}
			}
		}
	}
}

// usualKeyed splits m into the scans grouped by attributes only (no
// zone, hour, weekday or date), whose group of a usual entry is its
// visitor's, and the others.
func (m multi) usualKeyed() (keyed, others multi) {
	for _, x := range m {
		byAttrs := true
		for _, d := range x.dims {
			byAttrs = byAttrs && d.etab != nil
		}
		if byAttrs {
			keyed = append(keyed, x)
		} else {
			others = append(others, x)
		}
	}
	return keyed, others
}

// seenUsual returns the sets of visitors whose usual entries' pairs the
// scan's pass collected (multi.rollups): [0] of matching entries, [1] of
// rest ones. Kept for the scan's pass (a parallel worker's pieces).
func (sc *scan) seenUsual() *[2][]uint64 {
	if sc.seen == nil {
		n := (int(sc.sn.visitors) + 64) / 64
		sc.seen = &[2][]uint64{make([]uint64, n), nil}
		if sc.q.WithRest {
			sc.seen[1] = make([]uint64, n)
		}
	}
	return sc.seen
}

// addUsual adds usual entry e to its group, or to its rest group, and
// the group's pair of its visitor when first (of a scan grouped by
// attributes only: multi.usualKeyed).
func (sc *scan) addUsual(rest bool, e *rentry, first bool) {
	off := 0
	if rest {
		off = sc.groups
	}
	g := sc.egroup(off, e)
	sc.count[g] += e.weight()
	sc.ckey[g] += e.k
	if first {
		sc.push(uint64(g)<<32 | uint64(e.v))
	}
}

// atHour sets sc.hidx, the group index of each dimension of the hour
// (hour, weekday, date), for the entries of hour hc.
func (sc *scan) atHour(hc *hourCtx) {
	for k := range sc.dims {
		if d := &sc.dims[k]; d.hourly {
			sc.hidx[k] = d.eindex(nil, hc)
		}
	}
}

// eidx is dimension k's group index of entry e (of the hour of sc.hidx).
func (sc *scan) eidx(k int, e *rentry) int {
	d := &sc.dims[k]
	if d.etab == nil {
		if d.combos != nil {
			return d.combos.code(e.prof)
		}
		return sc.hidx[k]
	}
	return int(d.etab[e.prof>>d.eshift&d.emask])
}

// addE adds entry e, of a part of zone mask, to its group, or to its rest
// group.
func (sc *scan) addE(rest bool, mask uint16, e *rentry) {
	off := 0
	if rest {
		off = sc.groups
	}
	switch len(sc.dims) {
	case 0:
		sc.addEntry(off, e)
	case 1:
		if sc.dims[0].zones {
			sc.addZones(off, 0, mask, e.weight(), e.k, e.v)
		} else {
			sc.addEntry(sc.egroup(off, e), e)
		}
	case 2:
		switch {
		case sc.dims[0].zones:
			sc.addZones(off, sc.eidx(1, e), mask, e.weight(), e.k, e.v)
		case sc.dims[1].zones:
			sc.addZones(off, sc.eidx(0, e), mask, e.weight(), e.k, e.v)
		default:
			sc.addEntry(sc.egroup(off, e), e)
		}
	}
}

// egroup is the group of entry e at off (0, or sc.groups for the rest) in
// a grouping with no zone dimension.
func (sc *scan) egroup(off int, e *rentry) int {
	switch len(sc.dims) {
	case 1:
		return off + sc.eidx(0, e)
	case 2:
		return off + sc.eidx(0, e)*sc.dims[1].n + sc.eidx(1, e)
	}
	return off
}

// rollupDirect is rollups for hour r of a scan without narrowing filters
// and with at most one dimension, not zones (a stats report's total, rows,
// origins and countries): a loop over the entries without eachEntry's
// per-entry closures, and for no dimension or one of the hour's (hour,
// weekday, date) one group for the whole hour, summed in registers.
func (sc *scan) rollupDirect(r *hourRoll, hc *hourCtx) {
	g, eindex := 0, (func(*rentry, *hourCtx) int)(nil)
	if len(sc.dims) == 1 {
		if d := &sc.dims[0]; d.hourly {
			g = d.eindex(nil, hc)
		} else {
			eindex = d.eindex
		}
	}
	vprofs := sc.sn.vprofs
	var e rentry // (one for the call: a usual entry with its attributes)
	for j := range r.parts {
		if p := &r.parts[j]; sc.areaZones != 0 && p.mask&sc.areaZones == 0 {
			continue
		}
		es, us := r.entries(j)
		if eindex != nil {
			for i := range us {
				u := &us[i]
				e = rentry{v: u.v, k: u.k, wfl: u.wfl, prof: vprofs[u.v]}
				sc.addEntry(eindex(&e, hc), &e)
			}
			for i := range es {
				sc.addEntry(eindex(&es[i], hc), &es[i])
			}
			continue
		}
		var w, anon int64
		var k, akey uint32
		stamp, pairs, token := sc.stamp, sc.pairs, uint32(g)+1
		for i := range us {
			u := &us[i] // a usual entry has a visitor
			w += int64(u.wfl >> 24)
			k += u.k
			if stamp[u.v] != token {
				stamp[u.v] = token
				if len(pairs) == cap(pairs) {
					pairs = sc.spill(pairs)
				}
				pairs = append(pairs, uint64(g)<<32|uint64(u.v))
			}
		}
		for i := range es {
			e := &es[i]
			ew := int64(e.wfl >> 24)
			w += ew
			k += e.k
			if e.v == 0 {
				anon += ew
				akey += e.k
				continue
			}
			if stamp[e.v] != token {
				stamp[e.v] = token
				if len(pairs) == cap(pairs) {
					pairs = sc.spill(pairs)
				}
				pairs = append(pairs, uint64(g)<<32|uint64(e.v))
			}
		}
		sc.pairs = pairs
		sc.count[g] += w
		sc.ckey[g] += k
		sc.anon[g] += anon
		sc.akey[g] += akey
	}
}

func (sc *scan) addEntry(g int, e *rentry) {
	w := e.weight()
	sc.count[g] += w
	sc.ckey[g] += e.k
	v := e.v
	if v == 0 {
		sc.anon[g] += w
		sc.akey[g] += e.k
		return
	}
	if sc.stamp[v] != uint32(g)+1 {
		sc.stamp[v] = uint32(g) + 1
		sc.push(uint64(g)<<32 | uint64(v))
	}
}

// overlaps reports whether records of b are to be read.
func (sc *scan) overlaps(b *block) bool {
	if b.maxT < sc.from || b.minT >= sc.to {
		return false
	}
	if sc.gaps == nil {
		return true
	}
	i := sort.Search(len(sc.gaps), func(i int) bool { return sc.gaps[i][1] > b.minT })
	return i < len(sc.gaps) && sc.gaps[i][0] <= b.maxT
}

// eachRange calls fn with the runs [i0, i1) of records of b to read.
func (sc *scan) eachRange(b *block, fn func(i0, i1 int)) {
	if sc.gaps == nil {
		if i0, i1 := b.timeRange(sc.from, sc.to); i0 < i1 {
			fn(i0, i1)
		}
		return
	}
	i := sort.Search(len(sc.gaps), func(i int) bool { return sc.gaps[i][1] > b.minT })
	for ; i < len(sc.gaps) && sc.gaps[i][0] <= b.maxT; i++ {
		if i0, i1 := b.timeRange(sc.gaps[i][0], sc.gaps[i][1]); i0 < i1 {
			fn(i0, i1)
		}
	}
}
