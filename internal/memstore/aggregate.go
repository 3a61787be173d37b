package memstore

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/tiles"
)

func pointOf(r *presence.Record) orb.Point { return orb.Point{r.Lon, r.Lat} }

// dim maps a record to a dense group index in [0, n) and back to its key.
type dim struct {
	n     int
	index func(b *block, i int, c *tiles.Clock) int
	// eindex is index for a rollup entry of an hour (rollup.go); nil for
	// DimBin and DimZone.
	eindex func(e *rentry, h *hourCtx) int
	key    func(idx int) int64
	zones  bool // DimZone: a record belongs to every zone of its mask
	// hourly: eindex depends on the hour only (hour, weekday, date)
	hourly bool
	// etab is eindex for the dimensions of an entry's attributes (place,
	// nationality, age, gender, spend) as a table: etab[e.prof>>eshift&emask]
	// (multi.rollups' loop, without a call per entry); nil for the others.
	etab   []int32
	eshift uint8
	emask  uint32
	// combos: the dimension of (origin, nationality) pairs (combos.go),
	// whose index of an entry is combos.code of its profile
	combos *combos
}

// attrTable returns the table of an attribute's value (of Attrs) over the
// attributes' 256 values.
func attrTable(of func(tiles.Attrs) int) []int32 {
	t := make([]int32, 256)
	for i := range t {
		t[i] = int32(of(tiles.Attrs(i)))
	}
	return t
}

// identity256 is the etab of nationalities.
var identity256 = func() []int32 {
	t := make([]int32, 256)
	for i := range t {
		t[i] = int32(i)
	}
	return t
}()

// Tables of the attributes' etab.
var (
	ageTable    = attrTable(func(a tiles.Attrs) int { return int(a.Age()) })
	genderTable = attrTable(func(a tiles.Attrs) int { return int(a.Gender()) })
	spendTable  = attrTable(func(a tiles.Attrs) int { return int(a.Spend()) })
)

// scan is the state of one Aggregate call.
type scan struct {
	q     *tiles.Query
	sn    *snapshot
	clock *tiles.Clock
	from  uint32
	to    uint32 // exclusive; math.MaxUint32 when open (records are < 2106)
	area  tiles.Rect
	whole bool // no area restriction

	areaZones uint16 // Query.AreaZones: part of the base selection
	zoneBits  uint16 // Filter.Zones: narrowing
	narrow    bool   // the filter has narrowing restrictions
	attrOK    *[256]bool
	natOK     *[256]bool
	orgOK     []uint64 // bitmap over origin index; nil means all
	hours     uint32
	days      uint8

	dims   []dim
	groups int       // product of dim sizes
	bin    *binIndex // set when grouping by bin alone: the hot path
	// bcur is the bins of the block being scanned (blockbins.go), nil
	// when they are binned record by record; btab its buffer.
	bcur, btab *binTable

	count, anon []int64  // per group; rest groups at +groups
	ckey, akey  []uint32 // sums of record keys: all records, records without a visitor
	pairs       []uint64 // the current chunk (chunks.go)
	stamp       []uint32
	stampp      *[]uint32 // stamp's, from getStamp (useStamp); nil when it has none
	clean       bool      // distinct left stamp clean
	bufs        *scanBufs
	// more are the scan's full chunks of pairs, and those of a parallel
	// scan's other workers (merge)
	more [][]uint64

	// rolls are the hours that rollups answer for, gaps the time
	// intervals left to records (nil: the whole window); see rollup.go.
	rolls    []*hourRoll
	gaps     [][2]uint32
	noRollup bool
	needProf bool // entries' attributes are read (rollup.go)
	visits   bool // the scan lists visits (Visits)

	// zones collects the visitors of a scan grouped by zone (zones.go);
	// zother is the size of the other dimension (1 when none); zruns:
	// its pairs are runs (zones.go).
	zoned  bool        // grouped by zone
	folded *foldedRuns // the runs of a grouping made by a fold (unfold)
	zones  *zoneAcc    // when zoned, and in a pass (useZones)
	// accs are the stamps and masks of the workers of a parallel pass of
	// a scan collecting runs, kept for gather; runs are its runs sorted by
	// visitor, set by gather once the pass is over
	accs   []zoneState
	runs   [][]uint64
	zother int
	zruns  bool
	// zsum are a scan by zone's sums by code, over every entry and record
	// once, kept for the groupings derived with its zones summed out: zout
	// (the other dimension's) and zall (no dimension). zsumOf is such a
	// grouping's source, and zvis and zkeys its visitors and their keys,
	// which the source's distinctRuns counts.
	zsum       *zoneSums
	zout, zall *scan
	zsumOf     *scan
	zvis       []int64
	zkeys      []uint32
	// zdrop is a grouping by zone alone derived from this one (derive),
	// whose visitors its distinctRuns counts too (zvis and zkeys)
	zdrop *scan

	hidx [2]int // per dimension of the hour: its group index in the hour being added (rollup.go)
	// seen are the visitors whose usual entries' pairs a pass collected
	// (multi.rollups; on the pass's first scan)
	seen *[2][]uint64
}

var stampPool sync.Pool // *[]uint32

// scanBufs are the growable buffers of a scan, pooled: a month over the
// whole town collects a (group, visitor) pair per record, millions of
// them, and growing and clearing them anew was a quarter of the time (the
// pairs are in chunks: chunks.go).
type scanBufs struct {
	bucket   []uint32
	sorted   [2][]uint64 // a scan's runs sorted by visitor (radixByVisitor)
	gathered [2][]uint64 // and those gather returns
}

// freeBufs keeps the largest scanBufs given back, up to maxFreeBufs: a
// sync.Pool dropped them at every other collection, and a view's runs
// sorted by visitor then went into memory new to the process (4.8 MB of
// them, 18 ms of page faults on the benchmark machine).
var freeBufs struct {
	sync.Mutex
	list []*scanBufs
}

const maxFreeBufs = 4

// maxKeptBufBytes bounds the buffers of a kept scanBufs (128 MB).
const maxKeptBufBytes = 128 << 20

func (b *scanBufs) bytes() int {
	return 4*cap(b.bucket) + 8*(cap(b.sorted[0])+cap(b.sorted[1])+cap(b.gathered[0])+cap(b.gathered[1]))
}

// getStamp returns a clean (all zero) stamp array for the visitors of sn.
func getStamp(sn *snapshot) *[]uint32 {
	sp, _ := stampPool.Get().(*[]uint32)
	if sp == nil || len(*sp) < int(sn.visitors)+1 {
		st := make([]uint32, int(sn.visitors)+1+int(sn.visitors)/8)
		sp = &st
	}
	return sp
}

// putStamp returns a stamp array, cleaned by the caller.
func putStamp(sp *[]uint32) { stampPool.Put(sp) }

// useStamp gives sc a stamp array, unless it has one: the scans of a
// pass, and those that count their pairs' distinct visitors with one (not
// those derived by zone, or counted from runs). An array is 4 bytes per
// visitor of the snapshot, zeroed when made: a view's six groupings each
// took one, where one or two of them stamp.
func (sc *scan) useStamp() {
	if sc.stampp == nil {
		sc.stampp = getStamp(sc.sn)
		sc.stamp = *sc.stampp
	}
}

// buffers returns the scan's scanBufs, taking the largest kept on first
// use (most scans need none).
func (sc *scan) buffers() *scanBufs {
	if sc.bufs == nil {
		freeBufs.Lock()
		if n := len(freeBufs.list); n > 0 {
			sc.bufs = freeBufs.list[n-1]
			freeBufs.list = freeBufs.list[:n-1]
		}
		freeBufs.Unlock()
		if sc.bufs == nil {
			sc.bufs = &scanBufs{}
		}
	}
	return sc.bufs
}

// putBufs keeps bufs (nil: none) for the next scans, unless huge, or
// smaller than any kept when maxFreeBufs are; the list stays sorted by
// size, the largest last.
func putBufs(bufs *scanBufs) {
	if bufs == nil {
		return
	}
	n := bufs.bytes()
	if n > maxKeptBufBytes {
		return
	}
	freeBufs.Lock()
	defer freeBufs.Unlock()
	l := freeBufs.list
	if len(l) == maxFreeBufs {
		if l[0].bytes() >= n {
			return
		}
		l = slices.Delete(l, 0, 1) // (the smallest, left to the collector)
	}
	i, _ := slices.BinarySearchFunc(l, n, func(b *scanBufs, n int) int { return cmp.Compare(b.bytes(), n) })
	freeBufs.list = slices.Insert(l, i, bufs)
}

var _ tiles.MultiSource = (*Store)(nil)

// Aggregate implements tiles.Source.
func (s *Store) Aggregate(ctx context.Context, q tiles.Query, fn func(tiles.Group) error) error {
	return s.aggregate(ctx, q, [][]tiles.Dim{q.By}, func(_ int, g tiles.Group) error { return fn(g) })
}

// AggregateMany implements tiles.MultiSource: q grouped by each of by, in
// one pass over the rollup entries and the records for all of them (the
// filter tested once per entry and record, each grouping fed from it).
// Groupings by bin are each a pass of their own.
func (s *Store) AggregateMany(ctx context.Context, q tiles.Query, by [][]tiles.Dim, fn func(i int, g tiles.Group) error) error {
	var one [][]tiles.Dim // groupings of the shared pass
	var at []int          // their index in by
	for i, b := range by {
		if slices.Contains(b, tiles.DimBin) {
			q.By = b
			if err := s.Aggregate(ctx, q, func(g tiles.Group) error { return fn(i, g) }); err != nil {
				return err
			}
			continue
		}
		one, at = append(one, b), append(at, i)
	}
	if len(one) == 0 {
		return nil
	}
	return s.aggregate(ctx, q, one, func(i int, g tiles.Group) error { return fn(at[i], g) })
}

// multi is the scans of one query under several groupings (none by bin,
// unless it is one scan), made one pass: multi[0]'s window, area, filter
// and rollup plan are every scan's, and each entry and record in the
// selection is added to every scan's groups.
type multi []*scan

// aggregate runs q grouped by each of by (q.By is ignored) and calls fn
// with the index of the grouping and each of its groups.
func (s *Store) aggregate(ctx context.Context, q tiles.Query, by [][]tiles.Dim, fn func(int, tiles.Group) error) error {
	sn := s.snap.Load()
	m := make(multi, 0, len(by))
	defer func() {
		for _, sc := range m {
			sc.putZones()
		}
	}()
	needProf := false
	for _, b := range by {
		qi := q
		qi.By = b
		sc := &scan{q: &qi, sn: sn, clock: tiles.NewClock(q.Loc), from: 0, to: math.MaxUint32}
		if err := sc.prepare(s); err != nil {
			return err
		}
		m = append(m, sc)
		needProf = needProf || sc.needProf
	}
	if m[0].empty() {
		return nil
	}
	pass, derived := m.plan()
	pass, fold := pass.fold(s)
	scans := m // every scan with counters and pairs: m's, and a fold's
	if fold != nil {
		defer fold.from.putZones()
		scans = append(slices.Clone(m), fold.from)
	}
	sc := pass[0]
	for _, x := range pass {
		x.useStamp()
		x.useZones()
	}
	for _, x := range scans {
		x.needProf = needProf // (the entries' attributes are read for all when one needs them)
		defer func() {
			x.putStates()
			if x.stampp != nil {
				if !x.zruns && !x.clean { // (else flushZones, gather, putStates or distinct left them clean)
					for _, ps := range x.pairLists() { // leave the stamps clean for the next scan
						for _, p := range ps {
							x.stamp[uint32(p)] = 0
						}
					}
				}
				putStamp(x.stampp)
			}
			putChunks(x.pairLists())
			putBufs(x.bufs)
		}()
	}

	var blocks []*block
	rows := 0
	collect := func(_, _ [2]int64, b *block) bool {
		if sc.overlaps(b) {
			blocks = append(blocks, b)
			rows += b.len()
		}
		return true
	}
	if sc.whole {
		sn.tree.Scan(collect)
	} else {
		sn.tree.Search([2]int64{sc.area.MinX, sc.area.MinY}, [2]int64{sc.area.MaxX - 1, sc.area.MaxY - 1}, collect)
	}
	entries := 0
	for _, r := range sc.rolls {
		entries += r.entryCount()
	}
	procs := scanProcs.Load()
	var err error
	// Counting the distinct visitors is scan work too (8% of the
	// CPU of the noisy-neighbour benchmark): it holds a processor, as the
	// scan does; fn, which emit calls, does not.
	visitors, vkeys := make([][]int64, len(m)), make([][]uint32, len(m))
	// The groupings' counts are independent (but that a zone sum's source
	// counts its derived groupings' visitors, first): they are spread over
	// the processors free at the time (a report by hour's four took 13 ms
	// in a row).
	count := func() {
		for _, first := range []bool{true, false} {
			var todo []*scan
			var at []int
			for i, x := range m {
				if (x.zsum != nil || x.zdrop != nil) == first {
					todo, at = append(todo, x), append(at, i)
				}
			}
			procs.spread(len(todo), func(j, _ int) {
				visitors[at[j]], vkeys[at[j]] = todo[j].distinct(len(todo[j].count))
			})
		}
	}
	if workers := min(max(cap(procs.slots), 2), maxWorkers); workers > 1 && rows+entries >= parallelRows {
		if err = pass.parallel(ctx, procs, blocks, workers, rows, entries); err == nil {
			if err = procs.acquire(ctx); err == nil {
				pass.gather()
				fold.unfold(procs)
				derive(derived)
				count()
				procs.release()
			}
		}
	} else if err = procs.acquire(ctx); err == nil {
		pass.rollups(sc.rolls)
		for _, b := range blocks {
			if err = ctx.Err(); err != nil {
				break
			}
			pass.block(b)
		}
		pass.flushZones()
		if err == nil {
			pass.gather()
			fold.unfold(procs)
			derive(derived)
			count()
		}
		procs.release()
	}
	if err != nil {
		return fmt.Errorf("memory store scan: %w", err)
	}
	for i, x := range m {
		if err := x.emit(func(g tiles.Group) error { return fn(i, g) }, visitors[i], vkeys[i]); err != nil {
			return err
		}
	}
	return nil
}

// derivation is a grouping x that is grouping h with h's dimension k
// summed out: a dimension that puts every record in one group (not zones,
// which overlap), so that x's counts and key sums are sums of h's, and
// the visitors of a group of x are those of h's pairs of its groups.
type derivation struct {
	x, h *scan
	k    int
	// zone: x is h by zone with its zones summed out ([origin] from
	// [origin, zone]), or with both dimensions summed out when x has none
	// (zones.go); k is then the zone's index in h.dims
	zone bool
}

// plan splits m into the scans of the pass and those derived from them
// (the total from the nationalities, the zones from the origins by zone:
// a view's): a derived grouping's pairs are fewer than its entries and
// records. Of the groupings a grouping can be derived from, one summing
// out an attribute (origin, nationality, age…) is taken first: a visitor
// is in one group of it, nearly always, where by hour or date they are
// in many, and their pairs are read again (a report by hour's total, from
// its hours: 465,000 pairs against 257,000 from its countries).
func (m multi) plan() (multi, []derivation) {
	var derived []derivation
	isDerived := map[*scan]bool{}
	derived = m.planZoneSums(derived, isDerived)
	for _, n := range []int{1, 0} { // (the 2-dimension groupings are never derived)
		for _, x := range m {
			if len(x.dims) != n {
				continue
			}
			if isDerived[x] {
				continue
			}
			best := derivation{k: -1}
			for _, h := range m {
				if len(h.dims) != n+1 || isDerived[h] {
					continue
				}
				for k, d := range h.dims {
					if d.zones || !slices.Equal(slices.Delete(slices.Clone(h.q.By), k, k+1), x.q.By) {
						continue
					}
					if best.k < 0 || d.etab != nil && best.h.dims[best.k].etab == nil {
						best = derivation{x: x, h: h, k: k}
					}
				}
			}
			if best.k >= 0 {
				derived = append(derived, best)
				isDerived[x] = true
			}
		}
	}
	if len(derived) == 0 {
		return m, nil
	}
	pass := make(multi, 0, len(m)-len(derived))
	for _, x := range m {
		if !isDerived[x] {
			pass = append(pass, x)
		}
	}
	return pass, derived
}

// derive makes the groups and pairs of each derived grouping from its
// source's, once the pass is over (its zones flushed).
func derive(ds []derivation) {
	for _, d := range ds {
		x, h := d.x, d.h
		if d.zone {
			h.deriveZoneSum(x)
			continue
		}
		n1 := 1
		if len(h.dims) == 2 {
			n1 = h.dims[1].n
		}
		proj := func(gh int) int {
			off := 0
			if gh >= h.groups {
				off, gh = x.groups, gh-h.groups
			}
			switch {
			case len(h.dims) == 1:
				return off
			case d.k == 0:
				return off + gh%n1
			default:
				return off + gh/n1
			}
		}
		for gh := range h.count {
			gx := proj(gh)
			x.count[gx] += h.count[gh]
			x.anon[gx] += h.anon[gh]
			x.ckey[gx] += h.ckey[gh]
			x.akey[gx] += h.akey[gh]
		}
		if x.zruns = h.zruns; h.zruns && h.zdrop == nil {
			// x is h without its other dimension: h's distinctRuns counts
			// its visitors (a visitor in the zones of all their runs)
			h.zdrop, x.zsumOf = x, h
			continue
		}
		if h.zruns {
			// a second such x: its own runs, whose code is the rest's or not
			h.eachRun(func(p uint64) {
				code, mask, v := runParts(p)
				x.push(run(min(code/h.zother, 1)*x.zother, mask, v))
			})
			continue
		}
		for _, ps := range h.pairLists() {
			for _, p := range ps {
				x.push(uint64(proj(int(p>>32)))<<32 | p&0xffffffff)
			}
		}
	}
}

// flushZones is scan.flushZones for each scan.
func (m multi) flushZones() {
	for _, x := range m {
		x.flushZones()
	}
}

// gather sets the runs of each scan of the pass collecting them.
func (m multi) gather() {
	for _, x := range m {
		if x.zruns && x.zones != nil {
			x.gather()
		}
	}
}

// A scan of at least parallelRows candidate records (a month over the whole
// town) is split across up to maxWorkers goroutines.
// (Variables, so that the tests can force the parallel path.)
var (
	parallelRows = 100_000
	maxWorkers   = 4
	// splitPairsFrom is the fewest pairs whose distinct count is split
	// between goroutines
	splitPairsFrom = 65_536
)

// parallel scans the rollups' hours and the blocks with workers
// goroutines, each with its own counters, pair lists, stamps and clock,
// then merges them into m. The hours and the blocks are cut into pieces
// of about entries/(workers·piecesPerWorker) rollup entries or
// rows/(workers·piecesPerWorker) records, and each goroutine, once it
// holds one of procs, takes the next piece not taken until none is left:
// a goroutine that gets its processor late (the others are busy: a
// report's visits, another request) takes fewer, where equal shares fixed
// in advance made the scan wait for the last one's. The result is exactly
// the sequential one: counts add up, and distinct counts the visitors of
// the merged (group, visitor) pairs, in which a pair may repeat.
func (m multi) parallel(ctx context.Context, procs *procLimit, blocks []*block, workers, rows, entries int) error {
	parts := make([]multi, workers)
	parts[0] = m
	for w := 1; w < workers; w++ {
		parts[w] = make(multi, len(m))
		for i, sc := range m {
			parts[w][i] = sc.worker()
		}
	}
	type piece struct {
		hours  []*hourRoll
		blocks []*block
	}
	var pieces []piece
	cut := workers * piecesPerWorker
	for i, n, from := 0, 0, 0; i < len(m[0].rolls); i++ {
		n += m[0].rolls[i].entryCount()
		if n >= (len(pieces)+1)*entries/cut || i == len(m[0].rolls)-1 {
			pieces = append(pieces, piece{hours: m[0].rolls[from : i+1]})
			from = i + 1
		}
	}
	hourPieces := len(pieces)
	for i, n, from := 0, 0, 0; i < len(blocks); i++ {
		n += blocks[i].len()
		if n >= (len(pieces)-hourPieces+1)*rows/cut || i == len(blocks)-1 {
			pieces = append(pieces, piece{blocks: blocks[from : i+1]})
			from = i + 1
		}
	}
	var next atomic.Int32
	var wg sync.WaitGroup
	for w := range parts {
		wg.Go(func() {
			p := parts[w]
			if procs.acquire(ctx) != nil {
				return
			}
			defer procs.release()
			defer p.flushZones()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(pieces) || ctx.Err() != nil {
					return
				}
				p.rollups(pieces[i].hours)
				for _, b := range pieces[i].blocks {
					p.block(b)
				}
			}
		})
	}
	wg.Wait()
	for _, pm := range parts[1:] {
		for i, p := range pm {
			m[i].merge(p)
		}
	}
	return ctx.Err()
}

// piecesPerWorker is how many pieces of the hours, and of the blocks, a
// parallel scan is cut into per goroutine.
const piecesPerWorker = 4

// worker returns a copy of sc for a worker of parallel: its own counters,
// pairs, stamps, clock and zone masks.
func (sc *scan) worker() *scan {
	p := *sc
	p.seen = nil // (a worker's own, made as it first needs them)
	p.bcur, p.btab = nil, nil
	p.clock = tiles.NewClock(sc.q.Loc)
	p.count, p.anon = make([]int64, len(sc.count)), make([]int64, len(sc.anon))
	p.ckey, p.akey = make([]uint32, len(sc.ckey)), make([]uint32, len(sc.akey))
	p.stampp = getStamp(sc.sn)
	p.stamp = *p.stampp
	p.pairs, p.more, p.bufs = nil, nil, nil
	if sc.zones != nil {
		p.zones = getZones(sc.sn)
	}
	if sc.zsum != nil {
		p.zsum = newZoneSums(len(sc.zsum.count))
	}
	return &p
}

// merge adds the groups and pairs of worker p to sc, and releases p's
// buffers but the chunks of its pairs, which sc keeps in more (copied into
// sc.pairs, millions of them, they were 4% of a cold view's time).
func (sc *scan) merge(p *scan) {
	if p.zruns && p.zones != nil {
		sc.accs = append(sc.accs, zoneState{p.stampp, p.zones}) // for gather
	} else {
		p.putZones()
		defer putStamp(p.stampp)
	}
	for g := range sc.count {
		sc.count[g] += p.count[g]
		sc.anon[g] += p.anon[g]
		sc.ckey[g] += p.ckey[g]
		sc.akey[g] += p.akey[g]
	}
	if sc.zsum != nil {
		sc.zsum.add(p.zsum)
	}
	ps := p.pairLists()
	sc.more = append(sc.more, ps...)
	if !p.zruns { // (else flushZones left them clean, or gather will)
		for _, l := range ps {
			for _, pr := range l {
				p.stamp[uint32(pr)] = 0
			}
		}
	}
}

// pairLists returns the scan's pairs: its own, and its workers'.
func (sc *scan) pairLists() [][]uint64 {
	return append([][]uint64{sc.pairs}, sc.more...)
}

// pairCount is the number of the scan's pairs.
func (sc *scan) pairCount() int {
	n := len(sc.pairs)
	for _, ps := range sc.more {
		n += len(ps)
	}
	return n
}

func (sc *scan) empty() bool {
	return sc.sn.rows == 0 || (!sc.whole && sc.area.Empty()) || sc.from >= sc.to
}

func (sc *scan) prepare(s *Store) error {
	q, f := sc.q, &sc.q.Filter
	if !f.From.IsZero() {
		sc.from = clampTime(f.From.Unix())
	}
	if !f.To.IsZero() {
		sc.to = clampTime(f.To.Unix())
	}
	sc.whole = q.Area == (tiles.Rect{})
	sc.area = q.Area.Clamp()
	sc.areaZones, sc.zoneBits = q.AreaZones, f.Zones
	sc.narrow = f.Narrowed()
	sc.attrOK = f.AttrTable()
	sc.natOK = &[256]bool{}
	for i := range sc.natOK {
		sc.natOK[i] = len(f.Nationalities) == 0
	}
	for _, c := range f.Nationalities {
		sc.natOK[tiles.CountryIndex(c)] = true
	}
	if len(f.Origins) > 0 {
		sc.orgOK = make([]uint64, (len(s.muniKey)+63)/64)
		for _, code := range f.Origins {
			if i := s.OriginIndex(code); i != 0 {
				sc.orgOK[i/64] |= 1 << (i % 64)
			}
		}
	}
	sc.hours, sc.days = f.Hours, f.Days
	sc.noRollup = s.noRollup

	sc.groups = 1
	for _, d := range q.By {
		dm, err := sc.dim(s, d)
		if err != nil {
			return err
		}
		sc.dims = append(sc.dims, dm)
		sc.groups *= dm.n
	}
	if len(sc.dims) > 2 {
		return fmt.Errorf("at most two grouping dimensions, got %d", len(sc.dims))
	}
	for i, d := range sc.dims {
		if d.zones {
			sc.zoned, sc.zother = true, 1
			if len(sc.dims) == 2 {
				sc.zother = sc.dims[1-i].n
			}
			sc.zruns = sc.zoneRuns()
		}
	}
	if len(q.By) == 1 && q.By[0] == tiles.DimBin {
		sc.bin = newBinIndex(q.Grid, sc.area)
	}
	sc.planRollup()
	n := sc.groups
	if q.WithRest {
		n *= 2
	}
	sc.count, sc.anon = make([]int64, n), make([]int64, n)
	sc.ckey, sc.akey = make([]uint32, n), make([]uint32, n)
	return nil
}

func clampTime(t int64) uint32 {
	if t < 0 {
		return 0
	}
	if t >= math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(t)
}

func (sc *scan) dim(s *Store, d tiles.Dim) (dim, error) {
	q := sc.q
	switch d {
	case tiles.DimBin:
		if sc.whole {
			return dim{}, fmt.Errorf("grouping by bin needs an area")
		}
		g := q.Grid
		if g.W <= 0 || g.H <= 0 {
			return dim{}, fmt.Errorf("grouping by bin needs a grid")
		}
		bi := newBinIndex(g, sc.area)
		if bi.rows*bi.cols > 1<<22 {
			return dim{}, fmt.Errorf("area too large for bins: %d×%d", bi.rows, bi.cols)
		}
		return dim{
			n:     int(bi.rows * bi.cols),
			index: func(b *block, i int, _ *tiles.Clock) int { return bi.index(b.at(i)) },
			key: func(idx int) int64 {
				return int64(g.ID(tiles.Bin{Row: bi.r0 + int64(idx)/bi.cols, Col: bi.c0 + int64(idx)%bi.cols}))
			},
		}, nil
	case tiles.DimZone:
		n := tiles.MaxZones + 1
		if sc.sn != nil {
			n = 1 + bits.Len16(sc.sn.zoneSet)
		}
		return dim{n: n, zones: true, key: func(idx int) int64 { return int64(idx) - 1 }}, nil
	case tiles.DimMunicipality, tiles.DimProvince, tiles.DimRegion:
		pd := &s.places[map[tiles.Dim]int{tiles.DimMunicipality: 0, tiles.DimProvince: 1, tiles.DimRegion: 2}[d]]
		idx, back := pd.idx, pd.back
		return dim{
			n:      len(back),
			index:  func(b *block, i int, _ *tiles.Clock) int { return int(idx[b.o[i]]) },
			eindex: func(e *rentry, _ *hourCtx) int { return int(idx[e.origin()]) },
			key:    func(i int) int64 { return back[i] },
			etab:   idx, emask: 0xffff,
		}, nil
	case tiles.DimNationality:
		return dim{n: 256, index: func(b *block, i int, _ *tiles.Clock) int { return int(b.n[i]) },
			eindex: func(e *rentry, _ *hourCtx) int { return int(e.nat()) }, key: func(i int) int64 { return int64(i) },
			etab: identity256, eshift: 16, emask: 0xff}, nil
	case tiles.DimHour:
		return dim{n: 24, hourly: true, index: func(b *block, i int, c *tiles.Clock) int { return c.Hour(int64(b.t[i])) },
			eindex: func(_ *rentry, h *hourCtx) int { return h.hour }, key: func(i int) int64 { return int64(i) }}, nil
	case tiles.DimWeekday:
		return dim{n: 7, hourly: true, index: func(b *block, i int, c *tiles.Clock) int { return int(c.Weekday(int64(b.t[i]))) },
			eindex: func(_ *rentry, h *hourCtx) int { return h.weekday }, key: func(i int) int64 { return int64(i) }}, nil
	case tiles.DimDate:
		lo, hi := max(sc.from, sc.sn.minT), min(sc.to-1, sc.sn.maxT)
		if lo > hi {
			lo, hi = sc.sn.minT, sc.sn.maxT
		}
		c := tiles.NewClock(q.Loc)
		d0, d1 := c.Day(int64(lo)), c.Day(int64(hi))
		return dim{
			n:      int(d1-d0) + 1,
			hourly: true,
			index:  func(b *block, i int, c *tiles.Clock) int { return int(c.Day(int64(b.t[i])) - d0) },
			eindex: func(_ *rentry, h *hourCtx) int { return int(h.day - d0) },
			key:    func(i int) int64 { return d0 + int64(i) },
		}, nil
	case tiles.DimAge:
		return dim{n: 8, index: func(b *block, i int, _ *tiles.Clock) int { return int(b.a[i].Age()) },
			eindex: func(e *rentry, _ *hourCtx) int { return int(e.attrs().Age()) }, key: func(i int) int64 { return int64(i) },
			etab: ageTable, eshift: 24, emask: 0xff}, nil
	case tiles.DimGender:
		return dim{n: 4, index: func(b *block, i int, _ *tiles.Clock) int { return int(b.a[i].Gender()) },
			eindex: func(e *rentry, _ *hourCtx) int { return int(e.attrs().Gender()) }, key: func(i int) int64 { return int64(i) },
			etab: genderTable, eshift: 24, emask: 0xff}, nil
	case tiles.DimSpend:
		return dim{n: 4, index: func(b *block, i int, _ *tiles.Clock) int { return int(b.a[i].Spend()) },
			eindex: func(e *rentry, _ *hourCtx) int { return int(e.attrs().Spend()) }, key: func(i int) int64 { return int64(i) },
			etab: spendTable, eshift: 24, emask: 0xff}, nil
	}
	return dim{}, fmt.Errorf("unknown grouping dimension %d", d)
}

// placeDim is a grouping by place (municipality, province, region): the
// dense group index of each origin index, and the key of each group.
// Store.places holds them, made once: making one per scan took 5 ms.
type placeDim struct {
	idx  []int32
	back []int64
}

// newPlaceDim numbers the distinct keys (per origin index) densely.
func newPlaceDim(keys []int64) placeDim {
	pd := placeDim{idx: make([]int32, len(keys))}
	pos := map[int64]int32{}
	for i, k := range keys {
		p, ok := pos[k]
		if !ok {
			p = int32(len(pd.back))
			pos[k] = p
			pd.back = append(pd.back, k)
		}
		pd.idx[i] = p
	}
	return pd
}

// span reports whether all the records of b lie in the area (so that test
// can skip the position check). ok is false when the block holds nothing
// for the scan; eachRange gives the runs of records to read.
func (sc *scan) span(b *block) (inside, ok bool) {
	if (sc.areaZones != 0 || sc.zoneBits != 0 && !sc.q.WithRest) && !b.hasZones {
		return false, false
	}
	inside = sc.whole || (int64(b.minX) >= sc.area.MinX && int64(b.maxX) < sc.area.MaxX &&
		int64(b.minY) >= sc.area.MinY && int64(b.maxY) < sc.area.MaxY)
	return inside, true
}

// test reports whether record i of b is in the base selection (window,
// area, zone) and whether it also passes the narrowing filters.
func (sc *scan) test(b *block, i int, inside bool) (base, match bool) {
	if sc.areaZones != 0 && b.z[i]&sc.areaZones == 0 {
		return false, false
	}
	if !inside {
		xu, yu := b.at(i)
		x, y := int64(xu), int64(yu)
		if x < sc.area.MinX || x >= sc.area.MaxX || y < sc.area.MinY || y >= sc.area.MaxY {
			return false, false
		}
	}
	return true, !sc.narrow || sc.matches(b, i)
}

// matches reports whether record i of b passes the narrowing filters.
func (sc *scan) matches(b *block, i int) bool {
	return (sc.zoneBits == 0 || b.z[i]&sc.zoneBits != 0) && sc.attrOK[b.a[i]] && sc.natOK[b.n[i]] &&
		(sc.orgOK == nil || sc.orgOK[b.o[i]/64]&(1<<(b.o[i]%64)) != 0) &&
		(sc.hours == 0 || sc.hours&(1<<sc.clock.Hour(int64(b.t[i]))) != 0) &&
		(sc.days == 0 || sc.days&(1<<sc.clock.Weekday(int64(b.t[i]))) != 0)
}

// block aggregates the matching records of b.
func (sc *scan) block(b *block) {
	inside, ok := sc.span(b)
	if !ok {
		return
	}
	if sc.bin != nil {
		sc.bcur = sc.blockTable(b)
	}
	sc.eachRange(b, func(i0, i1 int) { sc.records(b, i0, i1, inside) })
}

// records aggregates the matching records [i0, i1) of b.
func (sc *scan) records(b *block, i0, i1 int, inside bool) {
	if sc.bin != nil && inside && sc.areaZones == 0 {
		sc.binBlock(b, i0, i1)
		return
	}
	withRest := sc.q.WithRest
	for i := i0; i < i1; i++ {
		base, match := sc.test(b, i, inside)
		if !base || !match && !withRest {
			continue
		}
		sc.addRecord(!match, b, i)
	}
}

// block aggregates the matching records of b, testing each once for all
// the scans of m.
func (m multi) block(b *block) {
	sc := m[0]
	if len(m) == 1 {
		sc.block(b)
		return
	}
	inside, ok := sc.span(b)
	if !ok {
		return
	}
	withRest := sc.q.WithRest
	sc.eachRange(b, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			base, match := sc.test(b, i, inside)
			if !base || !match && !withRest {
				continue
			}
			for _, x := range m {
				x.addRecord(!match, b, i)
			}
		}
	})
}

// addRecord adds record i of b to its group, or to its rest group.
func (sc *scan) addRecord(rest bool, b *block, i int) {
	off := 0
	if rest {
		off = sc.groups
	}
	if sc.bin != nil {
		if bt := sc.bcur; bt != nil {
			sc.add(off+int(bt.tab[bt.idx[i]]), b, i)
		} else {
			sc.add(off+sc.bin.index(b.at(i)), b, i)
		}
		return
	}
	switch len(sc.dims) {
	case 0:
		sc.add(off, b, i)
	case 1:
		d := sc.dims[0]
		if d.zones {
			sc.addZones(off, 0, b.z[i], int64(b.w[i]), b.k[i], b.v[i])
		} else {
			sc.add(off+d.index(b, i, sc.clock), b, i)
		}
	case 2:
		d0, d1 := sc.dims[0], sc.dims[1]
		if d0.zones {
			sc.addZones(off, d1.index(b, i, sc.clock), b.z[i], int64(b.w[i]), b.k[i], b.v[i])
		} else if d1.zones {
			sc.addZones(off, d0.index(b, i, sc.clock), b.z[i], int64(b.w[i]), b.k[i], b.v[i])
		} else {
			sc.add(off+d0.index(b, i, sc.clock)*d1.n+d1.index(b, i, sc.clock), b, i)
		}
	}
}

// binBlock is block for the hot path: density bins of records in the
// window of a block inside the area. The bins of a piece of the records
// are found first (from the block's bins, or their coordinates), then,
// under narrowing filters, moved to the rest's bins (or dropped) for the
// records that do not pass, then added: one loop each rather than a few
// calls per record.
func (sc *scan) binBlock(b *block, i0, i1 int) {
	var buf [256]int32
	for c0 := i0; c0 < i1; c0 += len(buf) {
		c1 := min(c0+len(buf), i1)
		gs := buf[:c1-c0]
		if bt := sc.bcur; bt != nil {
			for i, p := range bt.idx[c0:c1] {
				gs[i] = bt.tab[p]
			}
		} else {
			bi, xs, ys := sc.bin, b.x[c0:c1], b.y[c0:c1]
			ys = ys[:len(xs)]
			x0, y0 := b.corner()
			for i, x := range xs {
				gs[i] = int32(bi.index(x0+uint32(x), y0+uint32(ys[i])))
			}
		}
		if sc.narrow {
			sc.narrowBins(b, c0, gs)
		}
		sc.addBins(b, c0, gs)
	}
}

// narrowBins moves the bins gs of records c0, c0+1, … of b that do not
// pass the narrowing filters to the rest's bins, or below 0 (dropped)
// when the scan has no rest. The attributes and nationality decide
// without a branch per record: which records pass is as random as their
// attributes, and the branches, mispredicted, took most of a filtered
// density's test. The other filters, rarer, are tested record by record
// for the records that pass those.
func (sc *scan) narrowBins(b *block, c0 int, gs []int32) {
	groups, rest := int32(sc.groups), int32(sc.groups)
	if !sc.q.WithRest {
		rest = -1 << 30
	}
	as, ns := b.a[c0:c0+len(gs)], b.n[c0:c0+len(gs)]
	as, ns = as[:len(gs)], ns[:len(gs)]
	attr, nat := sc.attrOK, sc.natOK
	for i := range gs {
		gs[i] += (1 - b2i(attr[as[i]])&b2i(nat[ns[i]])) * rest
	}
	if sc.zoneBits == 0 && sc.orgOK == nil && sc.hours == 0 && sc.days == 0 {
		return
	}
	for i, g := range gs {
		if g >= 0 && g < groups && !sc.matches(b, c0+i) {
			gs[i] += rest
		}
	}
}

// b2i is 1 for true, 0 for false.
func b2i(x bool) int32 {
	if x {
		return 1
	}
	return 0
}

// addBins adds records i0, i0+1, … of b to bins gs, but those of a bin
// below 0.
func (sc *scan) addBins(b *block, i0 int, gs []int32) {
	ws, ks, vs := b.w[i0:i0+len(gs)], b.k[i0:i0+len(gs)], b.v[i0:i0+len(gs)]
	count, anon, ckey, akey, stamp, pairs := sc.count, sc.anon, sc.ckey, sc.akey, sc.stamp, sc.pairs
	for i, g := range gs {
		if g < 0 {
			continue
		}
		w := int64(ws[i])
		count[g] += w
		ckey[g] += ks[i]
		v := vs[i]
		if v == 0 {
			anon[g] += w
			akey[g] += ks[i]
			continue
		}
		if stamp[v] != uint32(g)+1 {
			stamp[v] = uint32(g) + 1
			if len(pairs) == cap(pairs) {
				pairs = sc.spill(pairs)
			}
			pairs = append(pairs, uint64(g)<<32|uint64(v))
		}
	}
	sc.pairs = pairs
}

func (sc *scan) add(g int, b *block, i int) {
	w := int64(b.w[i])
	sc.count[g] += w
	sc.ckey[g] += b.k[i]
	v := b.v[i]
	if v == 0 {
		sc.anon[g] += w
		sc.akey[g] += b.k[i]
		return
	}
	if sc.stamp[v] != uint32(g)+1 {
		sc.stamp[v] = uint32(g) + 1
		sc.push(uint64(g)<<32 | uint64(v))
	}
}

func (sc *scan) emit(fn func(tiles.Group) error, visitors []int64, vkeys []uint32) error {
	measures := func(g int) tiles.Measures {
		return tiles.Measures{Count: sc.count[g], Visitors: visitors[g], Anonymous: sc.anon[g],
			CountKey: sc.ckey[g], PeopleKey: vkeys[g] + sc.akey[g]}
	}
	for g := 0; g < sc.groups; g++ {
		if sc.count[g] == 0 {
			continue
		}
		grp := tiles.Group{Measures: measures(g)}
		if sc.q.WithRest {
			grp.Rest = measures(g + sc.groups)
		}
		switch len(sc.dims) {
		case 1:
			grp.Key[0] = sc.dims[0].key(g)
		case 2:
			n1 := sc.dims[1].n
			grp.Key[0], grp.Key[1] = sc.dims[0].key(g/n1), sc.dims[1].key(g%n1)
		}
		if err := fn(grp); err != nil {
			return err
		}
	}
	return nil
}

// distinct counts the distinct visitors of each group, and sums their
// keys, from the (group, visitor) pairs the scan collected (which may
// repeat): it buckets the visitors by group (a counting sort) and counts
// each bucket's distinct visitors with the stamp array. Linear in the
// number of pairs.
func (sc *scan) distinct(groups int) ([]int64, []uint32) {
	onDistinct()
	if sc.zsumOf != nil { // counted by its source's distinctRuns
		return sc.zvis, sc.zkeys
	}
	if sc.zruns {
		return sc.distinctRuns(groups)
	}
	visitors, keys := make([]int64, groups), make([]uint32, groups)
	n := sc.pairCount()
	if n == 0 {
		return visitors, keys
	}
	// A counting sort by group, then each group's distinct visitors with a
	// stamp array, whose values from the scan are at most groups: the
	// tokens are above them. Each step is split in two, side by side when
	// a second scan processor is free (a view's density, one grouping of
	// millions of pairs, took 29 ms of its request's slot on one core):
	// the pairs in halves, then the groups, the second half's with a
	// stamp array of its own when on a goroutine of its own.
	sc.useStamp()
	vkeys, half := sc.sn.vkeys, splitPairs(sc.pairLists(), n)
	spread := scanProcs.Load().spread
	if n < splitPairsFrom { // (a few: the halves one after the other, no goroutine)
		spread = func(n int, fn func(i, worker int)) {
			for i := range n {
				fn(i, 0)
			}
		}
	}
	counts := [2][]int32{make([]int32, groups), make([]int32, groups)}
	spread(2, func(h, _ int) {
		c := counts[h]
		for _, ps := range half[h] {
			for _, p := range ps {
				c[p>>32]++
			}
		}
	})
	start := make([]int32, groups+1)
	next := [2][]int32{make([]int32, groups), make([]int32, groups)}
	for g := range groups {
		next[0][g], next[1][g] = start[g], start[g]+counts[0][g]
		start[g+1] = start[g] + counts[0][g] + counts[1][g]
	}
	b := sc.buffers()
	if cap(b.bucket) < n {
		b.bucket = make([]uint32, n, n+n/4)
	}
	bucket := b.bucket[:n] // every slot is written below
	spread(2, func(h, _ int) {
		nx := next[h]
		for _, ps := range half[h] {
			for _, p := range ps {
				g := p >> 32
				bucket[nx[g]] = uint32(p)
				nx[g]++
			}
		}
	})
	mid, _ := slices.BinarySearch(start, int32(n/2))
	mid = min(mid, groups)
	ranges := [2][2]int{{0, mid}, {mid, groups}}
	var own *[]uint32     // the second goroutine's stamps
	var elsewhere [2]bool // the halves it counted
	spread(2, func(h, worker int) {
		stamp := sc.stamp
		if worker > 0 {
			if own == nil {
				own = getStamp(sc.sn)
			}
			stamp = *own
		}
		for g := ranges[h][0]; g < ranges[h][1]; g++ {
			token := uint32(groups + 1 + g)
			var n int64
			var k uint32
			for _, v := range bucket[start[g]:start[g+1]] {
				if stamp[v] != token {
					stamp[v] = token
					n++
					k += vkeys[v]
				}
			}
			visitors[g], keys[g] = n, k
		}
		// leave them clean, the visitors just read (in the cache): the
		// caller's stamps, which the scan stamped too, of the halves it
		// counted, while cleaning them once the scan was over, pair by
		// pair, took a few milliseconds of one processor
		for _, v := range bucket[start[ranges[h][0]]:start[ranges[h][1]]] {
			stamp[v] = 0
		}
		elsewhere[h] = worker > 0
	})
	for h, r := range ranges { // the caller's stamps of the others
		if elsewhere[h] {
			for _, v := range bucket[start[r[0]]:start[r[1]]] {
				sc.stamp[v] = 0
			}
		}
	}
	sc.clean = true
	if own != nil {
		putStamp(own)
	}
	return visitors, keys
}

// splitPairs returns the pairs of lists (n in all) in two halves.
func splitPairs(lists [][]uint64, n int) [2][][]uint64 {
	var half [2][][]uint64
	left := n / 2
	for _, ps := range lists {
		k := min(left, len(ps))
		if k > 0 {
			half[0] = append(half[0], ps[:k])
		}
		if k < len(ps) {
			half[1] = append(half[1], ps[k:])
		}
		left -= k
	}
	return half
}

// binIndex maps world coordinates to dense bin indexes over an area: the
// inner loop of density tiles, tiles.Grid.BinOf without the Bin values.
type binIndex struct {
	hex        bool
	w, h, half int64
	shift      uint    // w = 1 << shift
	inv        float64 // 1/h: y/h by a multiplication, corrected to the exact quotient
	r0, c0     int64
	rows, cols int64
}

func newBinIndex(g tiles.Grid, area tiles.Rect) *binIndex {
	bi := &binIndex{hex: g.Shape == tiles.Hexagon, w: g.W, h: g.H, half: g.W / 2, inv: 1 / float64(g.H)}
	bi.shift = uint(bits.TrailingZeros64(uint64(g.W)))
	bi.r0, bi.c0 = area.MinY/g.H, area.MinX/g.W
	bi.rows = (area.MaxY-area.MinY)/g.H + 3
	bi.cols = (area.MaxX-area.MinX)/g.W + 3
	return bi
}

// shape is the shape of bi's grid.
func (bi *binIndex) shape() tiles.Shape {
	if bi.hex {
		return tiles.Hexagon
	}
	return tiles.Square
}

func (bi *binIndex) index(xu, yu uint32) int {
	x, y := int64(xu), int64(yu)
	if !bi.hex {
		return int((y>>bi.shift-bi.r0)*bi.cols + x>>bi.shift - bi.c0)
	}
	// y / h by a float multiplication (fast), corrected to the exact quotient
	r0 := int64(float64(yu) * bi.inv)
	if r0*bi.h > y {
		r0--
	} else if (r0+1)*bi.h <= y {
		r0++
	}
	// Row r0 is offset by half a bin when odd, row r0+1 when r0 is even;
	// the nearer of the two centres decides. Without branches: which row
	// is odd, and which centre is nearer, are as likely as not, and a
	// mispredicted branch took longer than the arithmetic.
	odd := r0 & 1
	ca, cb := (x+bi.half)>>bi.shift, x>>bi.shift
	sw := (ca ^ cb) & -odd // odd: swap
	c0, c1 := ca^sw, cb^sw
	dx0 := x - (c0*bi.w + odd*bi.half)
	dy0 := y - r0*bi.h
	dx1 := x - (c1*bi.w + (1-odd)*bi.half)
	dy1 := dy0 - bi.h
	i0 := (r0-bi.r0)*bi.cols + c0 - bi.c0
	i1 := i0 + bi.cols + c1 - c0
	// far: all ones when the second centre is strictly nearer
	far := (dx1*dx1 + dy1*dy1 - dx0*dx0 - dy0*dy0) >> 63
	return int(i0 ^ (i0^i1)&far)
}
