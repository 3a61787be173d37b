package memstore

import "sync"

// A scan's (group, visitor) pairs, and its runs, are kept in chunks of
// chunkPairs (the scan's current one in scan.pairs, the full ones and a
// parallel scan's workers' in scan.more), taken from a free list and
// given back when the scan is over. One growing buffer per scan, pooled,
// was copied on every growth into memory new to the process: a density
// of a view's window collects millions of pairs, the pooled buffers that
// came back were those of smaller scans as often as not, and sync.Pool
// drops what it holds at every other collection. Eight planners' first
// views copied 512 MB that way, and the pages touched for the first time
// cost 15 µs each on the benchmark machine (a quarter of the views' CPU,
// most of it in the kernel). Chunks of one size are never copied, and any
// returned chunk serves any scan.
// (A variable: the tests make chunks of a few pairs.)
var chunkPairs = 1 << 15 // 256 KB

// maxFreeChunks bounds the free list (128 MB): chunks given back beyond
// it are left to the collector.
const maxFreeChunks = 512

var freeChunks struct {
	sync.Mutex
	list [][]uint64
}

// getChunk returns an empty chunk.
func getChunk() []uint64 {
	freeChunks.Lock()
	if n := len(freeChunks.list); n > 0 {
		c := freeChunks.list[n-1]
		freeChunks.list = freeChunks.list[:n-1]
		freeChunks.Unlock()
		return c
	}
	freeChunks.Unlock()
	return make([]uint64, 0, chunkPairs)
}

// putChunks gives the chunks of lists back (lists not made by getChunk
// are left alone); they must no longer be used.
func putChunks(lists [][]uint64) {
	freeChunks.Lock()
	defer freeChunks.Unlock()
	for _, c := range lists {
		if cap(c) == chunkPairs && len(freeChunks.list) < maxFreeChunks {
			freeChunks.list = append(freeChunks.list, c[:0])
		}
	}
}

// spill moves full, the scan's current chunk (full, or empty before the
// first), to its other lists and returns an empty chunk to go on with.
func (sc *scan) spill(full []uint64) []uint64 {
	if len(full) > 0 {
		sc.more = append(sc.more, full)
	}
	return getChunk()
}

// push adds pair p to the scan's pairs.
func (sc *scan) push(p uint64) {
	if len(sc.pairs) == cap(sc.pairs) {
		sc.pairs = sc.spill(sc.pairs)
	}
	sc.pairs = append(sc.pairs, p)
}
