package memstore

import (
	"math/bits"
	"slices"
	"sync"
)

// Grouping by zone (tiles.DimZone) counts a record in every zone of its
// mask, and a visitor once in every zone they were in. Zones overlap and
// visitors move between them, so the stamp array (the last group of each
// visitor) would change at nearly every record and the scan collect a
// (group, visitor) pair per record and zone. Instead a zone scan keeps,
// per visitor, the mask of the zones met so far under one code (the other
// dimension's index, and whether the records passed the narrowing
// filters; in the stamp array) and turns it into pairs once: when the
// visitor's code changes (rare: a visitor's origin and nationality are
// the same from record to record) and at the end of the scan.
//
// Where the codes fit (zoneRuns), what it turns a visitor's mask into is
// not a pair per zone but one run: visitor, code and mask in a uint64.
// The runs are then sorted by visitor, and a visitor's runs under one
// code merged into its zones under that code, which are its distinct
// (group, visitor) pairs (distinctRuns): no sort of a pair per zone (four
// times as many), which was most of a view's distinct counting.

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

// zoneAcc is a zone scan's per-visitor masks.
type zoneAcc struct {
	mask    []uint32 // per dense visitor id: bit 0 no zone, bit 1+z zone z; valid while the visitor is touched
	touched []uint32 // visitors whose stamp holds a code
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
		za.mask = make([]uint32, int(sn.visitors)+1+int(sn.visitors)/8)
	}
	za.touched = za.touched[:0]
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
	if c := uint32(code) + 1; sc.stamp[v] != c {
		if sc.stamp[v] != 0 {
			sc.flushZone(v)
		} else {
			za.touched = append(za.touched, v)
		}
		sc.stamp[v] = c
		za.mask[v] = 0
	}
	za.mask[v] |= zb
}

// flushZone turns visitor v's mask under its current code into pairs.
func (sc *scan) flushZone(v uint32) {
	if sc.zruns {
		sc.push(run(int(sc.stamp[v]-1), sc.zones.mask[v], v))
		return
	}
	base, stride := sc.zoneBase(int(sc.stamp[v] - 1))
	for m := sc.zones.mask[v]; m != 0; m &= m - 1 {
		g := base + bits.TrailingZeros32(m)*stride
		sc.push(uint64(g)<<32 | uint64(v))
	}
}

// flushZones turns every touched visitor's mask into pairs and leaves the
// stamps clean, as distinct needs them.
func (sc *scan) flushZones() {
	if sc.zones == nil {
		return
	}
	for _, v := range sc.zones.touched {
		sc.flushZone(v)
		sc.stamp[v] = 0
	}
	sc.zones.touched = sc.zones.touched[:0]
}

// distinctRuns is distinct for a scan whose pairs are runs (zoneRuns): it
// sorts the runs by visitor (radixByVisitor) and counts each visitor in
// the zones of its runs, once per code (its runs under one code merged),
// and in the groupings derived from the scan: zout once per code, zall
// once per match and rest, zdrop once per zone of the match and of the
// rest. A visitor's runs are a few, side by side once sorted: no array
// over every visitor is read or written at random (the stamps and zone
// masks of the visitors met, and their keys, were most of a view's
// distinct counting). The runs of a grouping made by a fold are its
// grouping by pair's, sorted once for both it makes (unfold).
func (sc *scan) distinctRuns(groups int) ([]int64, []uint32) {
	if f := sc.folded; f != nil {
		return sc.countRuns(groups, f.runs, f.proj)
	}
	return sc.countRuns(groups, sc.radixByVisitor(), nil)
}

// eachRun calls fn with each of the scan's runs (of a grouping made by a
// fold: its grouping by pair's, with their codes projected).
func (sc *scan) eachRun(fn func(p uint64)) {
	if f := sc.folded; f != nil {
		for _, r := range f.runs {
			code, mask, v := runParts(r)
			fn(run(f.proj[code], mask, v))
		}
		return
	}
	for _, ps := range sc.pairLists() {
		for _, p := range ps {
			fn(p)
		}
	}
}

// foldedRuns are the runs of a fold's grouping by pair and zone, sorted
// by visitor, and proj the code, in a grouping made from it, of each of
// its codes: that grouping's runs (unfold).
type foldedRuns struct {
	runs []uint64
	proj []int
}

// countRuns is distinctRuns of runs sorted by visitor, whose codes are
// proj's indexes (nil: sc's codes).
func (sc *scan) countRuns(groups int, runs []uint64, proj []int) ([]int64, []uint32) {
	visitors, keys := make([]int64, groups), make([]uint32, groups)
	vkeys := sc.sn.vkeys
	out, all, drop := sc.zout, sc.zall, sc.zdrop
	for _, x := range []*scan{out, all, drop} {
		if x != nil {
			x.zvis, x.zkeys = make([]int64, len(x.count)), make([]uint32, len(x.count))
		}
	}
	var buf []uint64 // a visitor's runs, projected, sorted by code
	var one [1]uint64
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
				g := base + bits.TrailingZeros32(m)*stride
				visitors[g]++
				keys[g] += k
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
	return visitors, keys
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

// radixByVisitor returns the scan's runs (its own and its workers')
// sorted by visitor, in a buffer of the scan's: a least significant digit
// radix sort of the visitor ids, 11 bits at a time (two passes up to 4 M
// visitors; three of 7 bits took longer). Each pass counts and moves the
// two halves of the runs side by side when a second scan processor is
// free (the caller holds one): a step on one core leaves the other idle.
func (sc *scan) radixByVisitor() []uint64 {
	n := sc.pairCount()
	const digit = 11
	passes := max(1, (bits.Len32(sc.sn.visitors)+digit-1)/digit)
	b := sc.bufs
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
