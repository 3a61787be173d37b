package main

import (
	"os"
	"runtime/debug"
)

// serverGCPercent is the server's GOGC when the environment sets none.
//
// Most of a server's heap is the memory store's record columns and
// rollups: they live as long as their data, hold no pointers (the
// collector does not scan them) and never become garbage. Go's default
// (100) lets the heap grow by as much again as is live before it
// collects, so that the store's size decided how much garbage a server
// kept: at 10 M demo records, 0.55 GB resident once loaded, 2.66-2.68 GB
// after a cold view, stats and the noisy neighbour's load. At 50 the same
// load left 1.92-1.94 GB, at 25 1.48-1.49 GB, with the cold views' CPU,
// the stats' latency and the noisy neighbour's figures within the runs'
// spread (BENCHMARKS.md); 25 once stretched a cached tile to 109 ms.
// The server sets it once its data is loaded: loading 10 M records took
// 7.6 s at 50 against 7.2 s at 100.
const serverGCPercent = 50

// tightenGC sets the collector's percent to serverGCPercent unless the
// environment sets GOGC (an empty GOGC is Go's default: not set), and
// returns the percent in force.
func tightenGC() int {
	if os.Getenv("GOGC") != "" {
		p := debug.SetGCPercent(100)
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(serverGCPercent)
	return serverGCPercent
}
