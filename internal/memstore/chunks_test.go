package memstore

import (
	"slices"
	"sync"
	"testing"
)

// emptyFreeList empties a package free list (list, guarded by mu) for the
// test, and puts its entries back when the test ends.
func emptyFreeList[T any](t *testing.T, mu sync.Locker, list *[]T) {
	mu.Lock()
	saved := *list
	*list = nil
	mu.Unlock()
	t.Cleanup(func() { mu.Lock(); *list = saved; mu.Unlock() })
}

// The scan buffers given back are kept up to maxFreeBufs, the largest,
// and a scan takes the largest kept.
func TestFreeBufs(t *testing.T) {
	emptyFreeList(t, &freeBufs, &freeBufs.list)

	sizes := []int{5, 1, 9, 3, 7, 2, 8}
	for _, n := range sizes {
		putBufs(&scanBufs{bucket: make([]uint32, n)})
	}
	putBufs(nil)
	putBufs(&scanBufs{bucket: make([]uint32, 1), sorted: [2][]uint64{make([]uint64, maxKeptBufBytes/8+1)}}) // huge: not kept
	var kept []int
	for _, b := range freeBufs.list {
		kept = append(kept, cap(b.bucket))
	}
	if want := []int{5, 7, 8, 9}; !slices.Equal(kept, want) {
		t.Fatalf("kept %v, want %v", kept, want)
	}
	sc := &scan{}
	if got := cap(sc.buffers().bucket); got != 9 {
		t.Errorf("a scan took a buffer of %d, want the largest, 9", got)
	}
	if sc.buffers() != sc.bufs || len(freeBufs.list) != 3 {
		t.Errorf("a second call took another buffer (%d kept)", len(freeBufs.list))
	}
}

// Chunks come back empty and of chunkPairs; lists that are not chunks are
// not kept.
func TestChunks(t *testing.T) {
	emptyFreeList(t, &freeChunks, &freeChunks.list)

	sc := &scan{}
	for i := range 3*chunkPairs + 1 {
		sc.push(uint64(i))
	}
	if len(sc.more) != 3 || len(sc.pairs) != 1 {
		t.Fatalf("%d full chunks and %d pairs in the current one, want 3 and 1", len(sc.more), len(sc.pairs))
	}
	putChunks(append(sc.pairLists(), make([]uint64, 3, 10)))
	if len(freeChunks.list) != 4 {
		t.Fatalf("%d chunks kept, want 4", len(freeChunks.list))
	}
	if c := getChunk(); len(c) != 0 || cap(c) != chunkPairs {
		t.Errorf("a chunk of %d, capacity %d", len(c), cap(c))
	}
}
