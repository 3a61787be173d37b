package main

import (
	"runtime"
	"sync"

	"github.com/flowtiles/flowtiles/internal/memstore"
)

// keepLightProcessor makes the server run one processor more than its
// scans may use, and returns the scans' processors: GOMAXPROCS as the
// process started (by default the CPUs it may use). Scans and renders
// are CPU-bound and used to take every processor, so that a cached tile
// or a health check, and the network poller that notices them, waited for
// a scan's time slice to end (up to 10 ms in Go's scheduler) before they
// could run; with a processor that no scan takes they run at once, and
// the operating system shares the CPUs. Only the first call changes
// anything.
var keepLightProcessor = sync.OnceValue(func() int {
	n := runtime.GOMAXPROCS(0)
	memstore.SetScanProcessors(n)
	runtime.GOMAXPROCS(n + 1)
	return n
})
