package main

import (
	"runtime"
	"testing"

	"github.com/flowtiles/flowtiles/internal/memstore"
)

// The server runs one processor more than its scans may take, once.
func TestKeepLightProcessor(t *testing.T) {
	n := keepLightProcessor()
	if n < 1 {
		t.Fatalf("scan processors %d", n)
	}
	for range 2 {
		if got := memstore.ScanProcessors(); got != n {
			t.Errorf("scan processors %d, want %d", got, n)
		}
		if got := runtime.GOMAXPROCS(0); got != n+1 {
			t.Errorf("GOMAXPROCS %d, want %d: one for light work", got, n+1)
		}
		if keepLightProcessor() != n {
			t.Error("a second call changed the processors")
		}
	}
}
