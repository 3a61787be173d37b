package memstore

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// Scans are CPU-bound. The goroutines that scan (and count a scan's
// distinct visitors) at once, in every store of
// the process, are at most the scan processors (SetScanProcessors; by
// default GOMAXPROCS when the package starts): a server that runs one
// processor more than that keeps it for light work (cached tiles,
// health checks, the network poller), which would otherwise wait for a
// scan's time slice to end (up to 10 ms) before it could run.

// onDistinct is called as a scan starts counting distinct visitors, which
// it does holding a scan processor (tests).
var onDistinct = func() {}

// procLimit is a counting semaphore of scan processors.
type procLimit struct {
	slots  chan struct{}
	active atomic.Int32
	peak   atomic.Int32 // most goroutines scanning at once (tests)
}

var scanProcs atomic.Pointer[procLimit]

func init() { SetScanProcessors(runtime.GOMAXPROCS(0)) }

// SetScanProcessors sets how many goroutines may scan at once in the
// process (at least 1), and so how many a scan splits into.
func SetScanProcessors(n int) {
	scanProcs.Store(&procLimit{slots: make(chan struct{}, max(1, n))})
}

// ScanProcessors returns the number set by SetScanProcessors.
func ScanProcessors() int { return cap(scanProcs.Load().slots) }

// acquire takes a scan processor for the calling goroutine, or returns
// ctx's error; release gives it back.
func (l *procLimit) acquire(ctx context.Context) error {
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	l.took()
	return nil
}

// took counts a processor taken.
func (l *procLimit) took() {
	n := l.active.Add(1)
	for p := l.peak.Load(); n > p && !l.peak.CompareAndSwap(p, n); p = l.peak.Load() {
	}
}

// tryAcquire takes a scan processor if one is free, and reports whether
// it did.
func (l *procLimit) tryAcquire() bool {
	select {
	case l.slots <- struct{}{}:
	default:
		return false
	}
	l.took()
	return true
}

// spread calls fn with each of 0..n-1 on the calling goroutine, which
// holds a scan processor, and on a goroutine more for each processor free
// at the time (up to n-1), which holds it while it takes the next index.
// worker numbers the goroutines (0: the caller) for the state of their
// own that fn may keep.
func (l *procLimit) spread(n int, fn func(i, worker int)) {
	var next atomic.Int32
	work := func(worker int) {
		for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
			fn(i, worker)
		}
	}
	var wg sync.WaitGroup
	for extra := 0; extra < n-1 && l.tryAcquire(); extra++ {
		wg.Go(func() {
			defer l.release()
			work(extra + 1)
		})
	}
	work(0)
	wg.Wait()
}

func (l *procLimit) release() {
	l.active.Add(-1)
	<-l.slots
}
