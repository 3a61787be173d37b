package memstore

import (
	"math"
	"slices"

	"github.com/flowtiles/flowtiles/tiles"
)

// A view asks for its origins by zone and its countries by zone
// (tiles.viewGroupings), and the pass over the entries and records fed
// both: per entry two zone scans, each with its own stamp and zone mask
// per visitor, the second (256 countries) costing nearly as much as the
// first (BenchmarkColdView: 110 of 300 ms). Both are projections of one
// grouping: by the (origin, nationality) pair of an entry, and zone. A
// snapshot numbers the pairs its records hold (combos), the pass scans
// that grouping alone (fold), and the two are made from it once the pass
// is over (unfold): their counts and key sums are sums of its groups',
// every entry being in one pair, and their runs are its runs (sorted by
// visitor once for both) with the pair's code replaced by its origin's
// or its country's, which each counts as its own (a visitor's runs under
// two pairs of one origin are one visitor of that origin).

// combos numbers the (origin index, nationality) pairs of a snapshot's
// records densely, in the order the batches brought them. It is immutable
// once published: a batch with new pairs makes a copy (with).
type combos struct {
	// byOrigin[o] is the code of origin o's one pair (comboOne, its
	// nationality in bits 16-23), or the index of its row (comboRow)
	// when it has pairs of several nationalities; 0 when it has none.
	byOrigin []uint32
	// rows[r][nat] is the code of the pair (r's origin, nat), comboNone
	// when there is none; a row is shared with the copies that do not
	// change it.
	rows []*[256]uint16
	// keys[code] is the pair: nationality << 16 | origin index.
	keys []uint32
	// full: a pair came beyond maxCombos and was not numbered; code must
	// not be used.
	full bool
}

const (
	comboOne  = 1 << 30
	comboRow  = 1 << 31
	comboNone = 0xffff
)

// maxCombos bounds the pairs numbered: a fold's codes, the pairs' and
// the rest's, must fit in a run.
const maxCombos = runCodeLimit / 2

func newCombos(origins int) *combos {
	return &combos{byOrigin: make([]uint32, origins)}
}

// code is the code of the pair of prof (profOf), which must be one of the
// snapshot's.
func (c *combos) code(prof uint32) int {
	x := c.byOrigin[uint16(prof)]
	if x&comboRow == 0 {
		return int(x & 0xffff)
	}
	return int(c.rows[x&^comboRow][uint8(prof>>16)])
}

func (c *combos) has(o uint16, nat uint8) bool {
	switch x := c.byOrigin[o]; {
	case x == 0:
		return false
	case x&comboRow != 0:
		return c.rows[x&^comboRow][nat] != comboNone
	default:
		return uint8(x>>16) == nat
	}
}

// with returns c with the pairs of the records of blocks that it lacks
// numbered: c itself when there are none.
func (c *combos) with(blocks map[blockKey]*block) *combos {
	if c.full {
		return c
	}
	nc := c                 // c until a new pair makes a copy
	var own map[uint32]bool // rows nc has copied
	for _, b := range blocks {
		for i, o := range b.o {
			nat := b.n[i]
			if nc.has(o, nat) {
				continue
			}
			if nc == c {
				nc = &combos{byOrigin: slices.Clone(c.byOrigin), rows: slices.Clone(c.rows), keys: slices.Clone(c.keys)}
				own = map[uint32]bool{}
			}
			if len(nc.keys) >= maxCombos {
				nc.full = true
				return nc
			}
			code := uint32(len(nc.keys))
			nc.keys = append(nc.keys, uint32(nat)<<16|uint32(o))
			switch x := nc.byOrigin[o]; {
			case x == 0:
				nc.byOrigin[o] = comboOne | uint32(nat)<<16 | code
			case x&comboRow == 0:
				row := new([256]uint16)
				for j := range row {
					row[j] = comboNone
				}
				row[uint8(x>>16)], row[nat] = uint16(x), uint16(code)
				r := uint32(len(nc.rows))
				nc.rows = append(nc.rows, row)
				own[r] = true
				nc.byOrigin[o] = comboRow | r
			default:
				r := x &^ comboRow
				if !own[r] {
					cp := *nc.rows[r]
					nc.rows[r] = &cp
					own[r] = true
				}
				nc.rows[r][nat] = uint16(code)
			}
		}
	}
	return nc
}

// comboDim is the grouping dimension of the pairs of c.
func comboDim(c *combos) dim {
	return dim{
		n:      len(c.keys),
		index:  func(b *block, i int, _ *tiles.Clock) int { return c.code(profOf(b.a[i], b.n[i], b.o[i])) },
		key:    func(i int) int64 { return int64(c.keys[i]) },
		combos: c,
	}
}

// placeFold is a view's two groupings by zone (to, by origin and by
// nationality) made from one scan by pair and zone (from).
type placeFold struct {
	from *scan
	to   [2]*scan
}

// noFold turns folding off, and onFold is called when a pass is folded
// (the tests compare the two ways).
var (
	noFold = false
	onFold = func() {}
)

// fold returns pass with its groupings by origin (municipality, province
// or region) and zone and by nationality and zone, collecting runs,
// replaced by one grouping by pair and zone, to be unfolded once the
// pass is over; nil when pass has no such two or the snapshot's pairs do
// not fit in runs.
func (pass multi) fold(s *Store) (multi, *placeFold) {
	if noFold {
		return pass, nil
	}
	var f placeFold
	at := [2]int{-1, -1}
	for i, x := range pass {
		if !x.zruns || len(x.dims) != 2 || !x.dims[1].zones || x.dims[0].zones {
			continue
		}
		switch x.q.By[0] {
		case tiles.DimMunicipality, tiles.DimProvince, tiles.DimRegion:
			if at[0] < 0 {
				at[0], f.to[0] = i, x
			}
		case tiles.DimNationality:
			if at[1] < 0 {
				at[1], f.to[1] = i, x
			}
		}
	}
	c := pass[0].sn.combos
	if at[0] < 0 || at[1] < 0 || c.full || len(c.keys) == 0 || 2*len(c.keys) > maxRunCodes {
		return pass, nil
	}
	h := f.to[1]
	qh := *h.q
	from := &scan{q: &qh, sn: h.sn, clock: tiles.NewClock(qh.Loc), from: 0, to: math.MaxUint32}
	if err := from.prepare(s); err != nil {
		return pass, nil // (h's query, which prepared)
	}
	from.dims[0] = comboDim(c)
	from.groups = from.dims[0].n * from.dims[1].n
	from.zother = from.dims[0].n
	from.zruns = from.zoneRuns()
	n := 2 * from.groups
	if !qh.WithRest {
		n = from.groups
	}
	from.count, from.anon = make([]int64, n), make([]int64, n)
	from.ckey, from.akey = make([]uint32, n), make([]uint32, n)
	if f.to[0].zsum != nil || f.to[1].zsum != nil {
		from.zsum = newZoneSums(2 * from.zother)
	}
	f.from = from
	onFold()
	out := make(multi, 0, len(pass)-1)
	for i, x := range pass {
		switch i {
		case at[0]:
			out = append(out, from)
		case at[1]:
		default:
			out = append(out, x)
		}
	}
	return out, &f
}

// unfold (nothing when f is nil) makes the counts and sums by code of
// f.to from those of f.from, whose pass is over (its zones flushed), each
// of the two on a scan processor of its own when one is free (the caller
// holds one), and gives them f.from's runs, sorted by visitor, with its
// codes' projections (foldedRuns).
func (f *placeFold) unfold(procs *procLimit) {
	if f == nil {
		return
	}
	h := f.from
	c := h.sn.combos
	nc, nz := h.zother, h.dims[1].n
	runs := h.runs
	procs.spread(len(f.to), func(t, _ int) {
		x := f.to[t]
		proj := make([]int, 2*nc) // code of h -> code of x
		for code, key := range c.keys[:nc] {
			p := int(key >> 16) // nationality
			if t == 0 {
				p = int(x.dims[0].etab[uint16(key)])
			}
			proj[code], proj[nc+code] = p, x.zother+p
		}
		for code := range 2 * nc {
			if code >= nc && len(h.count) == h.groups {
				break // no rest
			}
			hb, _ := h.zoneBase(code)
			xb, _ := x.zoneBase(proj[code])
			for z := range nz {
				x.count[xb+z] += h.count[hb+z]
				x.anon[xb+z] += h.anon[hb+z]
				x.ckey[xb+z] += h.ckey[hb+z]
				x.akey[xb+z] += h.akey[hb+z]
			}
			if zs := x.zsum; zs != nil {
				p := proj[code]
				zs.count[p] += h.zsum.count[code]
				zs.anon[p] += h.zsum.anon[code]
				zs.ckey[p] += h.zsum.ckey[code]
				zs.akey[p] += h.zsum.akey[code]
			}
		}
		x.folded = &foldedRuns{runs: runs, proj: proj}
	})
}
