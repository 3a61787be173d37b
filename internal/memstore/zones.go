package memstore

import (
	"cmp"
	"math/bits"
	"slices"
	"sync"
)

// Grouping by zone (tiles.DimZone) counts a record in every zone of its
// mask, and a visitor once in every zone they were in. Zones overlap and
// visitors move between them, so the stamp array (the last group of each
// visitor) would change at nearly every record and the scan collect a
// (group, visitor) pair per record and zone. Instead a zone scan keeps,
// per visitor, the masks of the zones met so far under one code (the other
// dimension's index, in the stamp array), of the records that passed the
// narrowing filters and of the others, and turns them into pairs once:
// when the visitor's code changes (rare: a visitor's origin and
// nationality are the same from record to record) and at the end of the
// scan.
//
// Where the codes fit (zoneRuns), what it turns a visitor's mask into is
// not a pair per zone but one run: visitor, code and mask in a uint64.
// Those of the end of the scan are taken in the order of the visitors,
// from the bits of the visitors met (gather): runs sorted by visitor, in
// which a visitor's runs under one code are merged into its zones under
// that code, which are its distinct (group, visitor) pairs
// (distinctRuns): no sort of a pair per zone (four times as many), which
// was most of a view's distinct counting.

// A run is code<<runCodeShift | mask<<32 | visitor: mask is zoneAcc's
// (17 bits: no zone and 16 zones), and the code takes the 15 bits left.
const (
	runMaskBits  = 17
	runCodeShift = 32 + runMaskBits
	runCodeLimit = 1 << (64 - runCodeShift)
)

// zoneRuns reports whether a zone scan of sc's shape collects runs: every
// code, the rest's included, fits in a run (below maxRunCodes).
func (sc *scan) zoneRuns() bool { return sc.zoned && 2*sc.zother <= maxRunCodes }

// maxRunCodes is runCodeLimit; the tests lower it to collect pairs.
var maxRunCodes = runCodeLimit

func run(code int, mask, v uint32) uint64 {
	return uint64(code)<<runCodeShift | uint64(mask)<<32 | uint64(v)
}

func runParts(p uint64) (code int, mask, v uint32) {
	return int(p >> runCodeShift), uint32(p>>32) & (1<<runMaskBits - 1), uint32(p)
}

// zoneAcc is a zone scan's per-visitor masks. A visitor's stamp holds
// the code of its records (the other dimension's index) plus 1, and its
// mask the zones (zoneBits) of those that pass the narrowing filters in
// bits 0-31, of the rest's (the code plus zother) in bits 32-63: a
// visitor whose records pass in some hours and not in others (a filter by
// hour or weekday) keeps one code, where a code per pass and rest turned
// into a run at each change.
type zoneAcc struct {
	mask []uint64 // per dense visitor id; valid while the visitor is stamped
	// touched has bit v%64 of word v/64 set for each visitor v stamped;
	// all clear when pooled
	touched []uint64
}

var zonePool sync.Pool // *zoneAcc

// getZones returns a zoneAcc for the visitors of sn (its masks need no
// cleaning: a visitor's is set when first touched).
func getZones(sn *snapshot) *zoneAcc {
	za, _ := zonePool.Get().(*zoneAcc)
	if za == nil {
		za = &zoneAcc{}
	}
	if len(za.mask) < int(sn.visitors)+1 {
		n := int(sn.visitors) + 1 + int(sn.visitors)/8
		za.mask, za.touched = make([]uint64, n), make([]uint64, (n+63)/64)
	}
	return za
}

// useZones gives a scan by zone of a pass its zoneAcc (those derived
// from others, or folded, need none: 4 bytes per visitor each).
func (sc *scan) useZones() {
	if sc.zoned && sc.zones == nil {
		sc.zones = getZones(sc.sn)
	}
}

// putZones returns the scan's zoneAcc, flushed, to the pool.
func (sc *scan) putZones() {
	if sc.zones != nil {
		zonePool.Put(sc.zones)
		sc.zones = nil
	}
}

// zoneBits is mask as zoneAcc bits: bit 0 for no zone, 1+z for zone z
// (the zone dimension's group index).
func zoneBits(mask uint16) uint32 {
	if mask == 0 {
		return 1
	}
	return uint32(mask) << 1
}

// zoneBase returns where the groups of the zone indexes (0 none, 1+zone)
// under code (the other dimension's index, plus sc.zother for the rest
// groups) are: zone index z's is base + z*stride.
func (sc *scan) zoneBase(code int) (base, stride int) {
	off := 0
	if code >= sc.zother {
		off, code = sc.groups, code-sc.zother
	}
	switch {
	case len(sc.dims) == 1:
		return off, 1
	case sc.dims[0].zones:
		return off + code, sc.dims[1].n
	default:
		return off + code*sc.dims[1].n, 1
	}
}

// addZones adds weight w and key k of visitor v (0: none) to every zone
// of mask, with j the other dimension's index (0 when zone is the only
// dimension) and off 0, or sc.groups for records that fail the narrowing
// filters.
func (sc *scan) addZones(off, j int, mask uint16, w int64, k, v uint32) {
	zb := zoneBits(mask)
	code := j
	if off != 0 {
		code += sc.zother
	}
	base, stride := sc.zoneBase(code)
	for m := zb; m != 0; m &= m - 1 {
		g := base + bits.TrailingZeros32(m)*stride
		sc.count[g] += w
		sc.ckey[g] += k
		if v == 0 {
			sc.anon[g] += w
			sc.akey[g] += k
		}
	}
	if zs := sc.zsum; zs != nil {
		zs.count[code] += w
		zs.ckey[code] += k
		if v == 0 {
			zs.anon[code] += w
			zs.akey[code] += k
		}
	}
	if v == 0 {
		return
	}
	za := sc.zones
	if c := uint32(j) + 1; sc.stamp[v] != c {
		if sc.stamp[v] != 0 {
			sc.flushZone(v)
		} else {
			za.touched[v>>6] |= 1 << (v & 63)
		}
		sc.stamp[v] = c
		za.mask[v] = 0
	}
	var rest uint // the mask's half
	if off != 0 {
		rest = 32
	}
	za.mask[v] |= uint64(zb) << rest
}

// flushZone turns visitor v's mask under its current code into pairs (runs
// when sc.zruns): those of its records that pass, and of the rest.
func (sc *scan) flushZone(v uint32) {
	code, m := int(sc.stamp[v]-1), sc.zones.mask[v]
	for half, zs := range [2]uint32{uint32(m), uint32(m >> 32)} {
		if zs == 0 {
			continue
		}
		c := code + half*sc.zother
		if sc.zruns {
			sc.push(run(c, zs, v))
			continue
		}
		base, stride := sc.zoneBase(c)
		for ; zs != 0; zs &= zs - 1 {
			g := base + bits.TrailingZeros32(zs)*stride
			sc.push(uint64(g)<<32 | uint64(v))
		}
	}
}

// flushZones turns every stamped visitor's mask into pairs and leaves the
// stamps clean, as distinct needs them; not for a scan that collects runs,
// whose masks stay for gather.
func (sc *scan) flushZones() {
	za := sc.zones
	if za == nil || sc.zruns {
		return
	}
	for wi, w := range za.touched {
		if w == 0 {
			continue
		}
		for ; w != 0; w &= w - 1 {
			v := uint32(wi*64 + bits.TrailingZeros64(w))
			sc.flushZone(v)
			sc.stamp[v] = 0
		}
		za.touched[wi] = 0
	}
}

// zoneState is the stamps and masks of a worker of a parallel scan by zone
// collecting runs, kept for gather.
type zoneState struct {
	stampp *[]uint32
	zones  *zoneAcc
}

// states returns the scan's stamps and masks, and its workers'.
func (sc *scan) states() []zoneState {
	return append([]zoneState{{sc.stampp, sc.zones}}, sc.accs...)
}

// gather sets sc.runs to the runs of a pass's scan by zone collecting runs
// (its own, and its workers'), sorted by visitor, in two lists: the runs
// turned out mid-scan (a visitor whose code changed), sorted first, and
// each visitor's masks, taken in the order of the visitors' bits, a word
// of 64 at a time. It leaves the stamps, masks and bits clean. The halves
// of the visitors are gathered side by side when a second scan processor
// is free (the caller holds one). Where every worker turned its masks into
// runs and all were sorted by visitor (a radix sort of 590,000 runs of a
// view's window: 7-11 ms of a processor), no run is written but once.
func (sc *scan) gather() {
	extra := sc.radixByVisitor()
	st := sc.states()
	words := int(sc.sn.visitors)/64 + 1 // (a pooled zoneAcc may have more)
	// cut the words where half the visitors' masks are on each side
	// (visitors met in a window have ids near one another: halves of the
	// words would not halve the work)
	perWord := func(wi int) int {
		n := 0
		for _, s := range st {
			n += bits.OnesCount64(s.zones.touched[wi])
		}
		return n
	}
	total := 0
	for wi := range words {
		total += perWord(wi)
	}
	cut, below := words, 0
	for wi := range words {
		if below >= total/2 {
			cut = wi
			break
		}
		below += perWord(wi)
	}
	ranges := [2][2]int{{0, cut}, {cut, words}}
	masks := [2]int{below, total - below} // on each side: at most 2 runs each
	spread := scanProcs.Load().spread
	if total+len(extra) < splitPairsFrom {
		spread = func(n int, fn func(i, worker int)) {
			for i := range n {
				fn(i, 0)
			}
		}
	}
	byVisitor := func(r uint64, v uint64) int { return cmp.Compare(uint64(uint32(r)), v) }
	b := sc.buffers()
	var out [2][]uint64
	spread(2, func(h, _ int) {
		w0, w1 := ranges[h][0], ranges[h][1]
		e0, _ := slices.BinarySearchFunc(extra, uint64(w0)*64, byVisitor)
		e1, _ := slices.BinarySearchFunc(extra, uint64(w1)*64, byVisitor)
		ex := extra[e0:e1]
		rs := slices.Grow(b.gathered[h][:0], len(ex)+2*masks[h])
		for wi := w0; wi < w1; wi++ {
			var any uint64
			for _, s := range st {
				any |= s.zones.touched[wi]
			}
			for ; any != 0; any &= any - 1 {
				v := uint32(wi*64 + bits.TrailingZeros64(any))
				for len(ex) > 0 && uint32(ex[0]) == v {
					rs = append(rs, ex[0])
					ex = ex[1:]
				}
				// the masks of the workers that met v under one code
				// (nearly always) as one
				bit := uint64(1) << (v & 63)
				code, m := -1, uint64(0)
				for _, s := range st {
					if s.zones.touched[wi]&bit == 0 {
						continue
					}
					stamp := *s.stampp
					if c := int(stamp[v] - 1); c != code {
						rs = appendRuns(rs, code, m, sc.zother, v)
						code, m = c, 0
					}
					m |= s.zones.mask[v]
					stamp[v] = 0
				}
				rs = appendRuns(rs, code, m, sc.zother, v)
			}
			for _, s := range st {
				s.zones.touched[wi] = 0
			}
		}
		rs = append(rs, ex...) // (none: a visitor with runs turned out mid-scan has its bit)
		b.gathered[h], out[h] = rs, rs
	})
	sc.runs = out[:]
}

// appendRuns appends to rs the runs of visitor v's masks m under code (none
// when code < 0): the half of the records that pass, under code, and the
// rest's, under code+zother.
func appendRuns(rs []uint64, code int, m uint64, zother int, v uint32) []uint64 {
	if code < 0 {
		return rs
	}
	if lo := uint32(m); lo != 0 {
		rs = append(rs, run(code, lo, v))
	}
	if hi := uint32(m >> 32); hi != 0 {
		rs = append(rs, run(code+zother, hi, v))
	}
	return rs
}

// putStates cleans the stamps and masks of a scan by zone collecting runs
// that were not gathered (its pass did not end), and gives its workers'
// back to their pools.
func (sc *scan) putStates() {
	if sc.zones == nil || !sc.zruns {
		return
	}
	if sc.runs == nil { // (gather cleaned them)
		for _, s := range sc.states() {
			stamp := *s.stampp
			for wi, w := range s.zones.touched {
				for ; w != 0; w &= w - 1 {
					stamp[wi*64+bits.TrailingZeros64(w)] = 0
				}
				s.zones.touched[wi] = 0
			}
		}
	}
	for _, s := range sc.accs {
		putStamp(s.stampp)
		zonePool.Put(s.zones)
	}
	sc.accs = nil
}

// distinctRuns is distinct for a scan whose pairs are runs (zoneRuns): it
// takes the runs sorted by visitor (a pass's scan's from gather, a derived
// one's own sorted by radixByVisitor) and counts each visitor in
// the zones of its runs, once per code (its runs under one code merged),
// and in the groupings derived from the scan: zout once per code, zall
// once per match and rest, zdrop once per zone of the match and of the
// rest. A visitor's runs are a few, side by side once sorted: no array
// over every visitor is read or written at random (the stamps and zone
// masks of the visitors met, and their keys, were most of a view's
// distinct counting). The runs of a grouping made by a fold are its
// grouping by pair's, gathered once for both it makes (unfold).
func (sc *scan) distinctRuns(groups int) ([]int64, []uint32) {
	switch {
	case sc.folded != nil:
		return sc.countRuns(groups, sc.folded.runs, sc.folded.proj)
	case sc.runs != nil:
		return sc.countRuns(groups, sc.runs, nil)
	}
	return sc.countRuns(groups, [][]uint64{sc.radixByVisitor()}, nil)
}

// eachRun calls fn with each of the scan's runs (of a grouping made by a
// fold: its grouping by pair's, with their codes projected).
func (sc *scan) eachRun(fn func(p uint64)) {
	if f := sc.folded; f != nil {
		for _, rs := range f.runs {
			for _, r := range rs {
				code, mask, v := runParts(r)
				fn(run(f.proj[code], mask, v))
			}
		}
		return
	}
	lists := sc.runs
	if lists == nil {
		lists = sc.pairLists()
	}
	for _, ps := range lists {
		for _, p := range ps {
			fn(p)
		}
	}
}

// foldedRuns are the runs of a fold's grouping by pair and zone, sorted
// by visitor, and proj the code, in a grouping made from it, of each of
// its codes: that grouping's runs (unfold).
type foldedRuns struct {
	runs [][]uint64
	proj []int
}

// countRuns is distinctRuns of runs sorted by visitor (lists of them, a
// visitor's in one list), whose codes are proj's indexes (nil: sc's codes).
func (sc *scan) countRuns(groups int, lists [][]uint64, proj []int) ([]int64, []uint32) {
	for _, x := range []*scan{sc.zout, sc.zall, sc.zdrop} {
		if x != nil {
			x.zvis, x.zkeys = make([]int64, len(x.count)), make([]uint32, len(x.count))
		}
	}
	counts := make([]visitorCount, groups)
	var buf []uint64 // a visitor's runs, projected, sorted by code
	var one [1]uint64
	for _, runs := range lists {
		buf = sc.countList(runs, proj, counts, buf, &one)
	}
	visitors, keys := make([]int64, groups), make([]uint32, groups)
	for g, c := range counts {
		visitors[g], keys[g] = int64(c.n), c.k
	}
	return visitors, keys
}

// visitorCount is a group's visitors and the sum of their keys, side by
// side: counted into two arrays, a visitor's group of the origins by zone
// (160,000 groups) was two reads from memory where it is one.
type visitorCount struct{ n, k uint32 }

// countList counts one list of countRuns's into counts (and the derived
// groupings' zvis and zkeys), with buf and one for a visitor's runs; it
// returns buf.
func (sc *scan) countList(runs []uint64, proj []int, counts []visitorCount, buf []uint64, one *[1]uint64) []uint64 {
	vkeys := sc.sn.vkeys
	out, all, drop := sc.zout, sc.zall, sc.zdrop
	for i := 0; i < len(runs); {
		v := uint32(runs[i])
		j := i + 1
		for j < len(runs) && uint32(runs[j]) == v {
			j++
		}
		rs := runs[i:j]
		i = j
		switch {
		case len(rs) == 1 && proj != nil: // (most visitors)
			code, mask, _ := runParts(rs[0])
			one[0] = run(proj[code], mask, v)
			rs = one[:]
		case len(rs) > 1:
			buf = buf[:0]
			for _, r := range rs {
				code, mask, _ := runParts(r)
				if proj != nil {
					code = proj[code]
				}
				buf = append(buf, run(code, mask, v))
			}
			sortFew(buf)
			rs = buf
		}
		k := vkeys[v]
		var inAll [2]bool
		var dropped [2]uint32 // zones of the match and of the rest
		for a := 0; a < len(rs); {
			code, mask, _ := runParts(rs[a])
			for a++; a < len(rs) && int(rs[a]>>runCodeShift) == code; a++ {
				_, m, _ := runParts(rs[a])
				mask |= m
			}
			base, stride := sc.zoneBase(code)
			for m := mask; m != 0; m &= m - 1 {
				c := &counts[base+bits.TrailingZeros32(m)*stride]
				c.n++
				c.k += k
			}
			rest := 0
			if code >= sc.zother {
				rest = 1
			}
			if out != nil {
				g := out.zsumGroup(sc, code)
				out.zvis[g]++
				out.zkeys[g] += k
			}
			if all != nil && !inAll[rest] {
				inAll[rest] = true
				g := all.zsumGroup(sc, code)
				all.zvis[g]++
				all.zkeys[g] += k
			}
			dropped[rest] |= mask
		}
		if drop != nil {
			for rest, mask := range dropped {
				for m := mask; m != 0; m &= m - 1 {
					g := rest*drop.groups + bits.TrailingZeros32(m)
					drop.zvis[g]++
					drop.zkeys[g] += k
				}
			}
		}
	}
	return buf
}

// sortFew sorts a visitor's few runs (one per worker of a parallel pass,
// nearly always) by insertion: slices.Sort's call for two or three took
// longer than the merging.
func sortFew(rs []uint64) {
	if len(rs) > 12 {
		slices.Sort(rs)
		return
	}
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j] < rs[j-1]; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

// radixByVisitor returns the scan's runs in its pairs (its own and its
// workers': a derived grouping's, or those a pass turned out mid-scan)
// sorted by visitor, in a buffer of the scan's: a least significant digit
// radix sort of the visitor ids, 11 bits at a time (two passes up to 4 M
// visitors; three of 7 bits took longer). Each pass counts and moves the
// two halves of the runs side by side when a second scan processor is
// free (the caller holds one): a step on one core leaves the other idle.
func (sc *scan) radixByVisitor() []uint64 {
	n := sc.pairCount()
	const digit = 11
	passes := max(1, (bits.Len32(sc.sn.visitors)+digit-1)/digit)
	b := sc.buffers()
	if cap(b.sorted[0]) < n {
		b.sorted[0] = make([]uint64, n, n+n/4)
	}
	if passes > 1 && cap(b.sorted[1]) < n {
		b.sorted[1] = make([]uint64, n, n+n/4)
	}
	spread := scanProcs.Load().spread
	if n < splitPairsFrom {
		spread = func(n int, fn func(i, worker int)) {
			for i := range n {
				fn(i, 0)
			}
		}
	}
	half := splitPairs(sc.pairLists(), n)
	var count [2][1 << digit]int
	var dst []uint64
	for pass := range passes {
		dst = b.sorted[pass%2][:n]
		shift := pass * digit
		spread(2, func(h, _ int) {
			c := &count[h]
			clear(c[:])
			for _, ps := range half[h] {
				for _, p := range ps {
					c[uint32(p)>>shift&(1<<digit-1)]++
				}
			}
		})
		at := 0 // the first half's runs of a digit, then the second's
		for d := range count[0] {
			c0, c1 := count[0][d], count[1][d]
			count[0][d], count[1][d] = at, at+c0
			at += c0 + c1
		}
		spread(2, func(h, _ int) {
			c := &count[h]
			for _, ps := range half[h] {
				for _, p := range ps {
					d := uint32(p) >> shift & (1<<digit - 1)
					dst[c[d]] = p
					c[d]++
				}
			}
		})
		half = splitPairs([][]uint64{dst}, n)
	}
	return dst
}

// A view asks for the origins and the countries, each alone and by zone,
// and for the total. Those alone are the same by zone with the zones
// summed out: a record counts once in its code's sum (zoneSums, kept
// beside the zones' groups), and a visitor is in origin o if they have a
// run under o's code. So a pass of the two groupings by zone answers the
// four others (plan, planZoneSums), without a scan of their own (each
// entry and record added to each, and their (group, visitor) pairs
// counted).

// zoneSums are a scan by zone's counts and key sums by code (the other
// dimension's index, plus zother for the rest).
type zoneSums struct {
	count, anon []int64
	ckey, akey  []uint32
}

func newZoneSums(n int) *zoneSums {
	return &zoneSums{count: make([]int64, n), anon: make([]int64, n), ckey: make([]uint32, n), akey: make([]uint32, n)}
}

func (zs *zoneSums) add(o *zoneSums) {
	for c := range zs.count {
		zs.count[c] += o.count[c]
		zs.anon[c] += o.anon[c]
		zs.ckey[c] += o.ckey[c]
		zs.akey[c] += o.akey[c]
	}
}

// planZoneSums adds to derived the groupings of m that scans by zone and
// one other dimension, collecting runs, answer with their zones summed
// out: that dimension alone, and none.
func (m multi) planZoneSums(derived []derivation, isDerived map[*scan]bool) []derivation {
	var hs []*scan
	var kzs []int // the zone's index in each h's dimensions
	for _, h := range m {
		if h.zruns && len(h.dims) == 2 && !isDerived[h] {
			kz := 0
			if !h.dims[0].zones {
				kz = 1
			}
			hs, kzs = append(hs, h), append(kzs, kz)
		}
	}
	if len(hs) == 0 {
		return derived
	}
	from := func(x *scan, i int) {
		x.zsumOf = hs[i]
		isDerived[x] = true
		derived = append(derived, derivation{x: x, h: hs[i], k: kzs[i], zone: true})
	}
	for i, h := range hs {
		other := h.q.By[1-kzs[i]]
		for _, x := range m {
			if !isDerived[x] && len(x.dims) == 1 && x.q.By[0] == other && h.zout == nil {
				h.zout = x
				from(x, i)
			}
		}
	}
	// The total from the source of the fewest codes, the lighter count (a
	// view's countries, 256 codes, against its origins' 7,899, from which
	// the zones are derived too): the two count side by side.
	least := 0
	for i, h := range hs {
		if h.zother < hs[least].zother {
			least = i
		}
	}
	for _, x := range m {
		if !isDerived[x] && len(x.dims) == 0 {
			hs[least].zall = x
			from(x, least)
			break
		}
	}
	for _, h := range hs {
		if h.zout != nil || h.zall != nil {
			h.zsum = newZoneSums(2 * h.zother)
		}
	}
	return derived
}

// zsumGroup is the group of x, derived from h by zone with its zones
// summed out, of h's code.
func (x *scan) zsumGroup(h *scan, code int) int {
	rest := code >= h.zother
	if rest {
		code -= h.zother
	}
	if len(x.dims) == 0 {
		code = 0
	}
	if rest {
		return x.groups + code
	}
	return code
}

// deriveZoneSum makes the groups of x, derived from sc with its zones
// summed out, from sc's sums by code (their visitors come with sc's).
func (sc *scan) deriveZoneSum(x *scan) {
	zs := sc.zsum
	for c := range zs.count {
		if g := x.zsumGroup(sc, c); g < len(x.count) {
			x.count[g] += zs.count[c]
			x.anon[g] += zs.anon[c]
			x.ckey[g] += zs.ckey[c]
			x.akey[g] += zs.akey[c]
		}
	}
}
