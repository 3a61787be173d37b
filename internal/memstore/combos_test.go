package memstore

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// A snapshot's pairs are numbered densely, each code the code of one pair
// (of one nationality or of several per origin); a batch with new pairs
// numbers them in a copy and leaves the older snapshot's numbering as it
// was; pairs beyond maxCombos make the numbering full.
func TestCombos(t *testing.T) {
	rng := rand.New(rand.NewPCG(sourcetest.Seed(t), 3))
	const origins = 60
	c := newCombos(origins)
	seen := map[uint32]bool{}
	var olds []*combos
	var oldKeys [][]uint32
	for batch := range 12 {
		blocks := map[blockKey]*block{}
		for j := range 1 + rng.IntN(3) {
			b := &block{}
			for range rng.IntN(200) {
				o := uint16(rng.IntN(origins))
				nat := uint8(rng.IntN(4))
				if rng.IntN(10) == 0 {
					nat = uint8(rng.IntN(256))
				}
				b.o, b.n = append(b.o, o), append(b.n, nat)
				seen[uint32(nat)<<16|uint32(o)] = true
			}
			blocks[blockKey{cx: uint32(batch), cy: uint32(j)}] = b
		}
		olds, oldKeys = append(olds, c), append(oldKeys, slices.Clone(c.keys))
		c = c.with(blocks)
		if len(c.keys) != len(seen) || c.full {
			t.Fatalf("batch %d: %d codes (full %v), want %d", batch, len(c.keys), c.full, len(seen))
		}
		for code, key := range c.keys {
			prof := profOf(0, uint8(key>>16), uint16(key))
			if got := c.code(prof); got != code || !c.has(uint16(key), uint8(key>>16)) {
				t.Fatalf("batch %d: pair %#x has code %d, want %d", batch, key, got, code)
			}
		}
		for i, old := range olds { // older snapshots keep their numbering
			if !slices.Equal(old.keys, oldKeys[i]) {
				t.Fatalf("batch %d changed the keys of snapshot %d", batch, i)
			}
			for code, key := range old.keys {
				if got := old.code(profOf(0, uint8(key>>16), uint16(key))); got != code {
					t.Fatalf("batch %d: snapshot %d's pair %#x has code %d, want %d", batch, i, key, got, code)
				}
			}
			for _, key := range c.keys[len(old.keys):] {
				if old.has(uint16(key), uint8(key>>16)) {
					t.Fatalf("batch %d: snapshot %d has the later pair %#x", batch, i, key)
				}
			}
		}
	}
	if c.with(map[blockKey]*block{{}: {o: []uint16{uint16(c.keys[0])}, n: []uint8{uint8(c.keys[0] >> 16)}}}) != c {
		t.Error("a batch of known pairs copied the numbering")
	}
	// beyond maxCombos
	big := &block{}
	for o := range 300 {
		for nat := range 256 {
			big.o, big.n = append(big.o, uint16(o)), append(big.n, uint8(nat))
		}
	}
	full := newCombos(300).with(map[blockKey]*block{{}: big})
	if !full.full || len(full.keys) != maxCombos {
		t.Errorf("%d pairs numbered, full %v: want %d and full", len(full.keys), full.full, maxCombos)
	}
}

// foldRecords returns n random records (sourcetest.Records) of which some
// are of residents of Italy of another nationality, so that an origin has
// pairs of several nationalities, and a visitor pairs of several origins.
func foldRecords(seed uint64, n int) []presence.Record {
	recs := sourcetest.Records(seed, n)
	rng := rand.New(rand.NewPCG(seed, 5))
	origins := []string{"054017", "054039", "001272", "058091"}
	nats := []tiles.Country{{'D', 'E'}, {'R', 'O'}, {'A', 'L'}, {'M', 'A'}}
	for i := range recs {
		if rng.IntN(3) == 0 {
			recs[i].Nationality = nats[rng.IntN(len(nats))]
			recs[i].Origin = origins[rng.IntN(len(origins))]
		}
	}
	return recs
}

// A view's groupings by origin (at each level) and by country, by zone and
// with the zones summed out, and the total, answer the same whether the
// pass scans them by pair (folded) or each (not), and as the reference:
// random filters, windows and rests, sequential and split between
// workers; also with groupings asked twice, and with the two by zone
// alone.
func TestFoldRandom(t *testing.T) {
	t.Run("sequential", testFoldRandom)
	t.Run("parallel", func(t *testing.T) {
		forceParallel(t)
		testFoldRandom(t)
	})
}

func testFoldRandom(t *testing.T) {
	seed := sourcetest.Seed(t)
	rng := rand.New(rand.NewPCG(seed, 6))
	records := foldRecords(seed, 6000)
	zones := sourcetest.Zones()
	s := New(refdata.Italy())
	for i := 0; i < len(records); i += 1000 { // batches: the numbering grows
		if err := s.Add(records[i:min(i+1000, len(records))], tiles.NewZoneIndex(zones)); err != nil {
			t.Fatal(err)
		}
	}
	if c := s.snap.Load().combos; len(c.rows) == 0 {
		t.Fatalf("no origin with pairs of several nationalities (%d pairs)", len(c.keys))
	}
	for i := range 24 {
		level := []tiles.Dim{tiles.DimMunicipality, tiles.DimProvince, tiles.DimRegion}[i%3]
		view := [][]tiles.Dim{{level}, {tiles.DimNationality}, nil, {level, tiles.DimZone}, {tiles.DimNationality, tiles.DimZone}, {tiles.DimZone}}
		switch i % 4 {
		case 2: // and some asked twice: the zones, derived from a grouping made by the fold
			view = append(view, []tiles.Dim{tiles.DimZone}, []tiles.Dim{level}, nil)
		case 3: // the two by zone alone
			view = view[3:5]
		}
		q := randomQuery(rng, records)
		q.Area = tiles.Rect{}
		folds := 0
		onFold = func() { folds++ }
		got := aggregateMany(t, s, q, view)
		onFold = func() {}
		if folds != 1 {
			t.Fatalf("%s: %d folds, want 1", sourcetest.Name(i, q), folds)
		}
		noFold = true
		unfolded := aggregateMany(t, s, q, view)
		noFold = false
		for j, by := range view {
			qj := q
			qj.By = by
			name := fmt.Sprintf("%s (grouping %d of %d)", sourcetest.Name(i, qj), j+1, len(view))
			if want := sourcetest.Reference(records, zones, qj); !slices.Equal(got[j], want) {
				t.Errorf("%s: %d groups, want %d", name, len(got[j]), len(want))
				sourcetest.LogFirstDiff(t, got[j], want)
			}
			if !slices.Equal(got[j], unfolded[j]) {
				t.Errorf("%s: %d groups folded, %d not", name, len(got[j]), len(unfolded[j]))
				sourcetest.LogFirstDiff(t, got[j], unfolded[j])
			}
		}
	}
}
