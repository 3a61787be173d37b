// Package memstore is the in-memory tiles.Source: presence records in
// time-sorted column blocks (one per 450 m cell and month), the blocks
// indexed by an R-tree (tidwall/rtree). Readers work on an immutable
// snapshot; writers build new blocks and publish a new snapshot atomically
// (copy-on-write), so tiles are served while data arrives. Hour rollups
// (rollup.go) answer the whole hours of long windows without reading their
// records.
package memstore

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/rtree"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/tiles"
)

var _ tiles.Source = (*Store)(nil)

// Store is the in-memory source. The zero value is not usable; call New.
type Store struct {
	cat *refdata.Catalog

	// origin index (1-based) -> group keys; immutable
	muniKey, provKey, regKey []int64
	// places are the grouping dimensions of those keys, made once:
	// municipality, province, region
	places [3]placeDim

	mu sync.Mutex // serialises writers
	// visitors gives visitor hashes their dense ids; guarded by mu (its
	// lo column is the snapshots' vkeys).
	visitors visitorIndex
	// spans[v] is the time span of the records version v added (the last
	// maxSpans versions), for tiles.ChangeLog; guarded by mu.
	spans map[uint64][2]uint32

	// budget is the memory an hour's rollup may take per record it
	// stands for (rollup.go); noRollup makes queries read records only.
	// Both are set before use (tests change them).
	budget   int64
	noRollup bool

	snap atomic.Pointer[snapshot]
}

type snapshot struct {
	tree     *rtree.RTreeGN[int64, *block]
	blocks   map[blockKey]*block
	rows     int64
	visitors uint32 // dense ids 1..visitors are in use
	// vkeys[id] is the tiles.VisitorKey of dense visitor id (index 0
	// unused): Store.visitors.lo, to which writers append under Store.mu;
	// a snapshot reads only its first visitors+1 entries, which never
	// change.
	vkeys []uint32
	// vprofs[id] is the profile (profOf) of dense visitor id's first
	// record, which rollup entries of that profile leave out; written
	// like vkeys.
	vprofs  []uint32
	version uint64
	minT    uint32
	maxT    uint32
	bytes   int64
	// rolls are the hours' rollups, sorted by hour (rollup.go); rollBytes
	// their memory.
	rolls     []*hourRoll
	rollBytes int64
	// combos numbers the (origin, nationality) pairs of the records
	// (combos.go)
	combos *combos
	// zoneSet is the union of the records' zone masks: a grouping by zone
	// has a group for each zone up to its highest (1 + bits.Len16), not
	// for every zone a town may define (tiles.MaxZones)
	zoneSet  uint16
	visBytes int64 // memory of Store.visitors when published
}

// New returns an empty store whose origin codes index cat.
func New(cat *refdata.Catalog) *Store {
	s := &Store{cat: cat, spans: map[uint64][2]uint32{}, budget: rollupBudget}
	n := len(cat.Municipalities) + 1
	s.muniKey, s.provKey, s.regKey = make([]int64, n), make([]int64, n), make([]int64, n)
	for i, m := range cat.Municipalities {
		s.muniKey[i+1] = atoi(m.Code)
		s.provKey[i+1] = atoi(m.ProvinceCode)
		s.regKey[i+1] = atoi(m.RegionCode)
	}
	for i, keys := range [][]int64{s.muniKey, s.provKey, s.regKey} {
		s.places[i] = newPlaceDim(keys)
	}
	s.visitors.lo, s.visitors.hi = []uint32{0}, []uint32{0}
	s.snap.Store(&snapshot{tree: &rtree.RTreeGN[int64, *block]{}, blocks: map[blockKey]*block{}, vkeys: s.visitors.lo, vprofs: []uint32{0}, combos: newCombos(n)})
	return s
}

func atoi(s string) int64 {
	var v int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0
		}
		v = v*10 + int64(c-'0')
	}
	return v
}

// OriginError is a record whose origin code the store's catalog does not
// know (the record passed the data contract's validation).
type OriginError struct {
	Index int // 0-based position in the records added
	Code  string
}

func (e *OriginError) Error() string {
	return fmt.Sprintf("record %d: unknown origin code %q", e.Index+1, e.Code)
}

// Add adds validated records as one batch and publishes them, all or none:
// a record the store cannot hold (an *OriginError) adds nothing. zones give
// the records their zone masks (nil: none). It is the one way records,
// rather than rows mirrored from PostGIS, enter a store.
func (s *Store) Add(recs []presence.Record, zones *tiles.ZoneIndex) error {
	b := s.NewBuilder()
	if err := b.AddRecords(recs, zones); err != nil {
		return err
	}
	b.Commit()
	return nil
}

// AddRecords adds validated records to the batch, with zone masks from
// zones (nil: none). On a record it cannot hold it returns an
// *OriginError, and the batch keeps only the records before it.
func (b *Builder) AddRecords(recs []presence.Record, zones *tiles.ZoneIndex) error {
	for i := range recs {
		row, err := b.s.rowOf(&recs[i], zones)
		if err != nil {
			err.(*OriginError).Index = i
			return err
		}
		b.Add(row)
	}
	return nil
}

// rowOf converts a validated record to a Row.
func (s *Store) rowOf(r *presence.Record, zones *tiles.ZoneIndex) (Row, error) {
	w := r.World()
	row := Row{
		T: uint32(r.ObservedAt.Unix()), X: w.X, Y: w.Y, Weight: r.Weight, Visitor: r.Visitor,
		Key: tiles.RecordKey(r.ObservedAt.Unix(), w, r.Weight, r.Visitor),
		Nat: tiles.CountryIndex(r.Nationality), Attrs: tiles.PackAttrs(r.Age, r.Gender, r.Spend),
	}
	if r.Origin != "" {
		i := s.cat.Index(r.Origin)
		if i < 0 {
			return Row{}, &OriginError{Code: r.Origin}
		}
		row.Origin = uint16(i + 1)
	}
	if zones != nil {
		row.Zones = zones.Mask(pointOf(r))
	}
	return row, nil
}

// OriginIndex returns the Row.Origin value for an ISTAT code (0 if unknown).
func (s *Store) OriginIndex(code string) uint16 {
	return uint16(s.cat.Index(code) + 1)
}

// Stats describes the store's contents.
type Stats struct {
	Rows     int64
	Visitors int64
	Blocks   int
	Bytes    int64 // memory held by record columns
	// RollupBytes is the memory held by rollups (at most the store's
	// budget per record, and 4 B per visitor); RollupRows the records
	// they stand for.
	RollupBytes, RollupRows int64
	// VisitorBytes is the memory of the visitors' index: their hashes
	// (the low words also the keys queries read) and its table.
	VisitorBytes int64
	From, To     time.Time // time span of the records (zero when empty)
	Version      uint64
}

// Stats returns the current contents.
func (s *Store) Stats() Stats {
	sn := s.snap.Load()
	st := Stats{Rows: sn.rows, Visitors: int64(sn.visitors), Blocks: len(sn.blocks), Bytes: sn.bytes, Version: sn.version,
		RollupBytes: sn.rollBytes + int64(len(sn.vprofs))*4, VisitorBytes: sn.visBytes}
	for _, r := range sn.rolls {
		st.RollupRows += r.rows
	}
	if sn.rows > 0 {
		st.From, st.To = time.Unix(int64(sn.minT), 0).UTC(), time.Unix(int64(sn.maxT), 0).UTC()
	}
	return st
}

// Version changes whenever data is added.
func (s *Store) Version() uint64 { return s.snap.Load().version }

// Bounds returns the world rectangle holding every record (empty when none).
func (s *Store) Bounds() tiles.Rect {
	sn := s.snap.Load()
	if sn.rows == 0 {
		return tiles.Rect{}
	}
	mn, mx := sn.tree.Bounds()
	return tiles.Rect{MinX: mn[0], MinY: mn[1], MaxX: mx[0] + 1, MaxY: mx[1] + 1}
}

// Builder collects rows for one Add. It is not safe for concurrent use.
type Builder struct {
	s      *Store
	blocks map[blockKey]*block
	n      int64
	// vis holds the visitor hashes the store did not know when the batch
	// met them, in the order met; their ids are the rows' provisional
	// ids.
	vis   visitorIndex
	vprof []uint32 // [provisional id - 1]: the profile of its first row
}

// NewBuilder starts a batch of rows for s.
func (s *Store) NewBuilder() *Builder {
	return &Builder{s: s, blocks: map[blockKey]*block{}}
}

// Add appends a row to the batch.
func (b *Builder) Add(r Row) {
	k := blockKey{cx: r.X >> cellShift, cy: r.Y >> cellShift, month: monthOf(r.T)}
	bl := b.blocks[k]
	if bl == nil {
		bl = &block{key: k}
		b.blocks[k] = bl
	}
	var v uint32
	if r.Visitor != 0 {
		v = b.visitor(r.Visitor)
		if v == 0 { // a new visitor's first row
			v = b.vis.add(r.Visitor) | provisional
			b.vprof = append(b.vprof, profOf(r.Attrs, r.Nat, r.Origin))
		}
	}
	bl.append(&r, v)
	b.n++
}

// visitor returns the dense id of visitor hash h: the store's, or a
// provisional one (the batch's, made final at Commit) for a visitor the
// store did not know when the batch first met it; 0 for a visitor new to
// both.
func (b *Builder) visitor(h int64) uint32 {
	if id := b.vis.find(h); id != 0 {
		return id | provisional
	}
	b.s.mu.Lock()
	id := b.s.visitors.find(h)
	b.s.mu.Unlock()
	return id
}

const provisional = 1 << 31

// Len is the number of rows in the batch.
func (b *Builder) Len() int64 { return b.n }

// Commit merges the batch into the store and publishes a new snapshot.
func (b *Builder) Commit() {
	s := b.s
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.snap.Load()
	// Give new visitors their final ids, in the order the batch met
	// them (the same rows give the same ids). A hash may have been added
	// by a concurrent Commit since it was looked up.
	final := make([]uint32, b.vis.len()+1)
	vprofs := old.vprofs
	for p := 1; p < len(final); p++ {
		h := b.vis.hash(uint32(p))
		if id := s.visitors.find(h); id != 0 {
			final[p] = id
			continue
		}
		final[p] = s.visitors.add(h)
		vprofs = append(vprofs, b.vprof[p-1])
	}
	next := &snapshot{
		tree:      old.tree.Copy(),
		blocks:    maps.Clone(old.blocks),
		rows:      old.rows + b.n,
		visitors:  uint32(s.visitors.len()),
		vkeys:     s.visitors.lo,
		visBytes:  s.visitors.bytes(),
		vprofs:    vprofs,
		version:   old.version + 1,
		minT:      old.minT,
		maxT:      old.maxT,
		bytes:     old.bytes,
		rollBytes: old.rollBytes,
		combos:    old.combos.with(b.blocks),
		zoneSet:   old.zoneSet,
	}
	if old.rows == 0 {
		next.minT, next.maxT = ^uint32(0), 0
	}
	span := [2]uint32{^uint32(0), 0}
	touched := map[uint32]bool{} // hours with new records
	for _, nb := range b.blocks {
		for _, t := range nb.t {
			touched[t/3600] = true
		}
		for _, z := range nb.z {
			next.zoneSet |= z
		}
	}
	for k, nb := range b.blocks {
		for i, v := range nb.v {
			if v&provisional != 0 {
				nb.v[i] = final[v&^provisional]
			}
		}
		if ob := old.blocks[k]; ob != nil {
			next.tree.Delete(rectOf(ob))
			next.bytes -= ob.bytes()
			merged := &block{key: k}
			for i := range ob.len() {
				merged.appendFrom(ob, i)
			}
			for i := range nb.len() {
				merged.appendFrom(nb, i)
			}
			nb = merged
		}
		sb := nb.seal()
		next.blocks[k] = sb
		mn, mx, _ := rectOf(sb)
		next.tree.Insert(mn, mx, sb)
		next.bytes += sb.bytes()
		next.minT, next.maxT = min(next.minT, sb.minT), max(next.maxT, sb.maxT)
	}
	for _, nb := range b.blocks { // the batch's own records
		for _, t := range nb.t {
			span[0], span[1] = min(span[0], t), max(span[1], t)
		}
	}
	if len(touched) > 0 {
		hours := slices.Sorted(maps.Keys(touched))
		rb := &rollBuilder{budget: s.budget, vprofs: next.vprofs}
		fresh := rb.rebuild(next.blocks, hours)
		i := 0
		for _, r := range old.rolls { // the memory of the rollups replaced
			for i < len(hours) && hours[i] < r.h {
				i++
			}
			if i < len(hours) && hours[i] == r.h {
				next.rollBytes -= r.bytes()
			}
		}
		for _, r := range fresh {
			if r != nil {
				next.rollBytes += r.bytes()
			}
		}
		next.rolls = mergeRolls(old.rolls, hours, fresh)
	} else {
		next.rolls = old.rolls
	}
	if b.n > 0 {
		s.spans[next.version] = span
		delete(s.spans, next.version-maxSpans)
	}
	s.snap.Store(next)
	b.blocks, b.vis, b.n, b.vprof = map[blockKey]*block{}, visitorIndex{}, 0, nil
}

// maxSpans bounds the versions whose spans a store remembers.
const maxSpans = 1024

var _ tiles.ChangeLog = (*Store)(nil)

// Changed implements tiles.ChangeLog: the span of the records added after
// version from up to version to.
func (s *Store) Changed(from, to uint64) (first, last time.Time, ok bool) {
	if to <= from || to-from > maxSpans {
		return first, last, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	lo, hi := ^uint32(0), uint32(0)
	for v := from + 1; v <= to; v++ {
		sp, ok := s.spans[v]
		if !ok {
			return first, last, false
		}
		lo, hi = min(lo, sp[0]), max(hi, sp[1])
	}
	return time.Unix(int64(lo), 0).UTC(), time.Unix(int64(hi), 0).UTC(), true
}

func rectOf(b *block) (mn, mx [2]int64, data *block) {
	return [2]int64{int64(b.minX), int64(b.minY)}, [2]int64{int64(b.maxX), int64(b.maxY)}, b
}

func monthOf(t uint32) int32 {
	y, m, _ := time.Unix(int64(t), 0).UTC().Date()
	return int32(y*12 + int(m) - 1)
}
