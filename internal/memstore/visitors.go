package memstore

import "math/bits"

// visitorIndex maps visitor hashes (presence.VisitorHash, never 0) to dense
// ids 1, 2, 3, … given in the order the hashes were added. The hashes are
// kept once, as two columns of 32-bit words indexed by id (lo is also the
// snapshots' vkeys, tiles.VisitorKey being a hash's low word), and the
// table is open addressing (linear probing) over 4-byte slots, each
// holding an id and, in the bits the ids leave free, a fingerprint of its
// hash, so that a probe rarely reads the words of a hash that is not the
// one sought. Beyond vkeys it takes 9 to 10.3 bytes per visitor (hi, and
// 5 to 6.25 of table) where the map[int64]uint32 it replaces took about
// 30 (BenchmarkLoadDemo at 10 M records).
//
// The zero value is an empty index. It is not safe for concurrent use: the
// store's index is guarded by Store.mu (readers of a snapshot never read
// it), a Builder's is its own.
type visitorIndex struct {
	// lo[id], hi[id] are the low and high words of id's hash (index 0
	// unused). lo is appended to only: a snapshot shares it as its vkeys
	// and reads only the ids it holds.
	lo, hi []uint32
	// slots is the table: 0 when empty, else id | fingerprint<<idBits.
	slots  []uint32
	idBits uint // bits.Len(len(slots)): every id is below len(slots)
}

const (
	// minSlots is the size of the first table.
	minSlots = 16
	// doubleSlots is the size up to which the table doubles when full;
	// past it, it grows by a quarter, so that growing never needs twice
	// the memory of a large table at once.
	doubleSlots = 1 << 16
)

// full reports whether a table of n slots is too full for count hashes:
// above 4/5, where linear probing begins to take long for hashes not in
// the table.
func full(count, n int) bool { return count*5 > n*4 }

// len is the number of hashes in the index.
func (x *visitorIndex) len() int { return max(len(x.lo)-1, 0) }

// hash returns the hash of id (1 ≤ id ≤ x.len()).
func (x *visitorIndex) hash(id uint32) int64 {
	return int64(uint64(x.hi[id])<<32 | uint64(x.lo[id]))
}

// home returns h's first slot in a table of n slots and its fingerprint
// for a table whose ids take idBits bits. Visitor hashes are mixed first:
// tests and benchmarks use small consecutive ones.
func home(h int64, n int, idBits uint) (int, uint32) {
	m := mix(uint64(h))
	return int((m >> 32) * uint64(n) >> 32), uint32(m) << idBits
}

// find returns the id of h, or 0 when it is not in the index.
func (x *visitorIndex) find(h int64) uint32 {
	n := len(x.slots)
	if n == 0 {
		return 0
	}
	i, fp := home(h, n, x.idBits)
	lo, hi := uint32(h), uint32(uint64(h)>>32)
	mask := uint32(1)<<x.idBits - 1
	for {
		s := x.slots[i]
		if s == 0 {
			return 0
		}
		if s&^mask == fp {
			if id := s & mask; x.lo[id] == lo && x.hi[id] == hi {
				return id
			}
		}
		if i++; i == n {
			i = 0
		}
	}
}

// add gives h, which must not be in the index yet, the next id and
// returns it.
func (x *visitorIndex) add(h int64) uint32 {
	if len(x.lo) == 0 {
		x.lo, x.hi = []uint32{0}, []uint32{0}
	}
	id := uint32(len(x.lo))
	x.lo = append(x.lo, uint32(h))
	x.hi = append(x.hi, uint32(uint64(h)>>32))
	if full(int(id), len(x.slots)) {
		x.grow()
	} else {
		x.place(h, id)
	}
	return id
}

// place puts id, whose hash is h, in its slot.
func (x *visitorIndex) place(h int64, id uint32) {
	n := len(x.slots)
	i, fp := home(h, n, x.idBits)
	for x.slots[i] != 0 {
		if i++; i == n {
			i = 0
		}
	}
	x.slots[i] = id | fp
}

// grow rebuilds the table larger, for the hashes of lo and hi.
func (x *visitorIndex) grow() {
	n := max(len(x.slots), minSlots)
	for full(x.len(), n) {
		if n < doubleSlots {
			n *= 2
		} else {
			n += n / 4
		}
	}
	x.slots = make([]uint32, n)
	x.idBits = uint(bits.Len(uint(n)))
	for id := 1; id < len(x.lo); id++ {
		x.place(x.hash(uint32(id)), uint32(id))
	}
}

// bytes is the memory the index holds.
func (x *visitorIndex) bytes() int64 {
	return int64(cap(x.lo)+cap(x.hi)+cap(x.slots)) * 4
}

// mix is the splitmix64 finaliser.
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
