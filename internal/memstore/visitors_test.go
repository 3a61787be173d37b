package memstore

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// The index against a map: every hash added is found with the id it was
// given (ids 1, 2, 3, … in the order added), hashes never added are not
// found, the table stays within its load factor, and it doubles up to
// doubleSlots slots and grows by a quarter past them.
func TestVisitorIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(sourcetest.Seed(t), 1))
	var x visitorIndex
	ref := map[int64]uint32{}
	var sizes []int
	for len(ref) < 300_000 {
		h := int64(rng.Uint64())
		switch rng.IntN(4) {
		case 0: // small consecutive hashes, as in tests and benchmarks
			h = int64(len(ref) + 1)
		case 1: // the low word of an earlier hash (tiles.VisitorKey collides)
			h = h&^0xffffffff | int64(uint32(len(ref)))
		}
		if h == 0 {
			continue
		}
		if _, ok := ref[h]; ok {
			if got := x.find(h); got != ref[h] {
				t.Fatalf("find(%d) = %d, want %d", h, got, ref[h])
			}
			continue
		}
		if got := x.find(h); got != 0 {
			t.Fatalf("find(%d) before it was added = %d", h, got)
		}
		id := x.add(h)
		if int(id) != len(ref)+1 {
			t.Fatalf("add gave id %d to the hash number %d", id, len(ref)+1)
		}
		ref[h] = id
		if x.len() != len(ref) || x.hash(id) != h {
			t.Fatalf("len %d, hash(%d) = %d; want %d, %d", x.len(), id, x.hash(id), len(ref), h)
		}
		if full(x.len(), len(x.slots)) {
			t.Fatalf("%d hashes in %d slots", x.len(), len(x.slots))
		}
		if len(sizes) == 0 || sizes[len(sizes)-1] != len(x.slots) {
			sizes = append(sizes, len(x.slots))
		}
	}
	for h, id := range ref {
		if got := x.find(h); got != id {
			t.Fatalf("find(%d) = %d, want %d", h, got, id)
		}
		if got := x.find(h ^ 1<<40); got != ref[h^1<<40] {
			t.Fatalf("find(%d), never added, = %d", h^1<<40, got)
		}
	}
	for i, n := range sizes {
		want := minSlots
		if i > 0 {
			want = sizes[i-1] * 2
			if sizes[i-1] >= doubleSlots {
				want = sizes[i-1] + sizes[i-1]/4
			}
		}
		if n != want {
			t.Fatalf("table sizes %v: %d after %d", sizes, n, want)
		}
	}
	if last := sizes[len(sizes)-1]; last <= doubleSlots*2 {
		t.Fatalf("table sizes %v: the test should grow past %d slots", sizes, doubleSlots)
	}
}

// Hashes whose slot and fingerprint are the same (built by inverting the
// mix) are told apart by their words.
func TestVisitorIndexFingerprintCollisions(t *testing.T) {
	for _, z := range []uint64{0, 1, 0x123456789abcdef0} {
		if unmix(mix(z)) != z {
			t.Fatalf("unmix(mix(%#x)) = %#x", z, unmix(mix(z)))
		}
	}
	var x visitorIndex
	x.add(99) // a first table: 16 slots, ids of 5 bits
	if len(x.slots) != minSlots || x.idBits != 5 {
		t.Fatalf("first table: %d slots, %d id bits", len(x.slots), x.idBits)
	}
	rng := rand.New(rand.NewPCG(sourcetest.Seed(t), 2))
	m := rng.Uint64()
	var hs []int64
	for i := range uint64(11) { // 12 hashes in 16 slots: the table stays as it is
		h := int64(unmix(m&^(0x1f<<27) | i<<27)) // bits the slot and fingerprint ignore
		i0, fp0 := home(int64(unmix(m)), len(x.slots), x.idBits)
		if i1, fp1 := home(h, len(x.slots), x.idBits); i1 != i0 || fp1 != fp0 {
			t.Fatalf("hash %d: slot %d, fingerprint %#x; want %d, %#x", h, i1, fp1, i0, fp0)
		}
		if x.find(h) != 0 {
			t.Fatalf("find(%d) before it was added", h)
		}
		hs = append(hs, h)
		x.add(h)
	}
	if len(x.slots) != minSlots {
		t.Fatalf("table grew to %d slots", len(x.slots))
	}
	for i, h := range hs {
		if got := x.find(h); got != uint32(i+2) {
			t.Fatalf("find(hash %d) = %d, want %d", i, got, i+2)
		}
	}
	if got := x.find(int64(unmix(m&^(0x1f<<27) | 20<<27))); got != 0 {
		t.Fatalf("find of a hash not added = %d", got)
	}
}

// unmix inverts mix.
func unmix(z uint64) uint64 {
	z = unshift(z, 31) * inverse(0x94d049bb133111eb)
	z = unshift(z, 27) * inverse(0xbf58476d1ce4e5b9)
	return unshift(z, 30)
}

// unshift inverts z ^ z>>s.
func unshift(z uint64, s uint) uint64 {
	x := z
	for range 64 / s {
		x = z ^ x>>s
	}
	return x
}

// inverse returns the multiplicative inverse of odd a modulo 2^64.
func inverse(a uint64) uint64 {
	x := a
	for range 6 {
		x *= 2 - a*x
	}
	return x
}

// visitorRows returns n rows of visitors drawn from visitors hashes
// (some rows without one), each row's Key its number.
func visitorRows(rng *rand.Rand, n int, hashes []int64) []Row {
	c := tiles.Project(sourcetest.Centre[0], sourcetest.Centre[1])
	rows := make([]Row, n)
	for i := range rows {
		rows[i] = Row{
			T: 1_740_000_000 + uint32(rng.IntN(30*86400)),
			X: c.X + uint32(rng.IntN(1<<16)), Y: c.Y + uint32(rng.IntN(1<<16)),
			Weight: 1, Key: uint32(i), Origin: uint16(1 + rng.IntN(100)), Nat: uint8(rng.IntN(5)),
		}
		if rng.IntN(10) != 0 {
			rows[i].Visitor = hashes[rng.IntN(len(hashes))]
		}
	}
	return rows
}

// visitorHashes returns n distinct random visitor hashes.
func visitorHashes(rng *rand.Rand, n int) []int64 {
	seen := map[int64]bool{0: true}
	hs := make([]int64, 0, n)
	for len(hs) < n {
		if h := int64(rng.Uint64()); !seen[h] {
			seen[h] = true
			hs = append(hs, h)
		}
	}
	return hs
}

// The same rows, added the same way, give the same ids: a batch gives its
// new visitors ids in the order it first met them.
func TestVisitorIDsStable(t *testing.T) {
	rng := rand.New(rand.NewPCG(sourcetest.Seed(t), 3))
	rows := visitorRows(rng, 20_000, visitorHashes(rng, 3000))
	load := func() *snapshot {
		s := New(refdata.Italy())
		for i := 0; i < len(rows); i += 7000 {
			b := s.NewBuilder()
			for _, r := range rows[i:min(i+7000, len(rows))] {
				b.Add(r)
			}
			b.Commit()
		}
		return s.snap.Load()
	}
	a, b := load(), load()
	// ids in the order first met
	var want []uint32
	seen := map[int64]bool{}
	for _, r := range rows {
		if r.Visitor != 0 && !seen[r.Visitor] {
			seen[r.Visitor] = true
			want = append(want, tiles.VisitorKey(r.Visitor))
		}
	}
	for _, sn := range []*snapshot{a, b} {
		if int(sn.visitors) != len(want) || len(sn.vkeys) != len(want)+1 {
			t.Fatalf("%d visitors, %d keys; want %d", sn.visitors, len(sn.vkeys), len(want))
		}
		for id, k := range want {
			if sn.vkeys[id+1] != k {
				t.Fatalf("visitor id %d has key %#x, want %#x (the visitor met %d-th)", id+1, sn.vkeys[id+1], k, id+1)
			}
		}
	}
	for k, ba := range a.blocks {
		bb := b.blocks[k]
		if bb == nil || len(bb.v) != len(ba.v) {
			t.Fatalf("block %v differs", k)
		}
		for i := range ba.v {
			if ba.v[i] != bb.v[i] || ba.k[i] != bb.k[i] {
				t.Fatalf("block %v row %d: visitor %d, %d", k, i, ba.v[i], bb.v[i])
			}
		}
	}
}

// Builders that commit at once, with visitors in common: each visitor hash
// gets one id, each id one hash, and every row its visitor's id.
func TestVisitorsConcurrentBatches(t *testing.T) {
	rng := rand.New(rand.NewPCG(sourcetest.Seed(t), 4))
	hashes := visitorHashes(rng, 5000)
	const workers, batches, per = 4, 6, 1500
	rows := make([][]Row, workers)
	for w := range rows {
		// each worker's visitors overlap the others' half way
		rows[w] = visitorRows(rng, batches*per, hashes[w*1000:w*1000+2000])
		for i := range rows[w] {
			rows[w][i].Key = uint32(w*batches*per + i)
		}
	}
	s := New(refdata.Italy())
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; i < len(rows[w]); i += per {
				b := s.NewBuilder()
				for _, r := range rows[w][i : i+per] {
					b.Add(r)
				}
				b.Commit()
			}
		})
	}
	wg.Wait()
	sn := s.snap.Load()
	byKey := map[uint32]int64{} // Row.Key -> visitor hash
	distinct := map[int64]bool{}
	for w := range rows {
		for _, r := range rows[w] {
			byKey[r.Key] = r.Visitor
			if r.Visitor != 0 {
				distinct[r.Visitor] = true
			}
		}
	}
	if sn.rows != workers*batches*per || int(sn.visitors) != len(distinct) || len(sn.vkeys) != len(distinct)+1 || len(sn.vprofs) != len(distinct)+1 {
		t.Fatalf("%d rows, %d visitors (%d keys, %d profiles); want %d, %d", sn.rows, sn.visitors, len(sn.vkeys), len(sn.vprofs), workers*batches*per, len(distinct))
	}
	idOf, hashOf := map[int64]uint32{}, map[uint32]int64{}
	for _, bl := range sn.blocks {
		for i, id := range bl.v {
			h := byKey[bl.k[i]]
			if (h == 0) != (id == 0) || id > sn.visitors {
				t.Fatalf("row %d of visitor %d: id %d", bl.k[i], h, id)
			}
			if h == 0 {
				continue
			}
			if prev, ok := idOf[h]; ok && prev != id {
				t.Fatalf("visitor %d has ids %d and %d", h, prev, id)
			}
			if prev, ok := hashOf[id]; ok && prev != h {
				t.Fatalf("id %d is of visitors %d and %d", id, prev, h)
			}
			idOf[h], hashOf[id] = id, h
			if sn.vkeys[id] != tiles.VisitorKey(h) {
				t.Fatalf("id %d: key %#x, want %#x", id, sn.vkeys[id], tiles.VisitorKey(h))
			}
		}
	}
	if len(idOf) != len(distinct) {
		t.Fatalf("%d visitors in the rows, want %d", len(idOf), len(distinct))
	}
	// two words per id, and a table at most 4/5 full
	if got, least := s.Stats().VisitorBytes, int64(len(distinct)+1)*8+int64(len(distinct))*5; got < least {
		t.Fatalf("visitors' index of %d B, want at least %d", got, least)
	}
}
