package main

import (
	"os"
	"runtime/debug"
	"testing"
)

// The server collects garbage at serverGCPercent unless GOGC says
// otherwise.
func TestTightenGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	gogc, set := os.LookupEnv("GOGC")
	os.Unsetenv("GOGC")
	t.Cleanup(func() {
		if set {
			os.Setenv("GOGC", gogc)
		}
	})
	debug.SetGCPercent(100)
	if got := tightenGC(); got != serverGCPercent {
		t.Errorf("tightenGC() = %d, want %d", got, serverGCPercent)
	}
	if got := debug.SetGCPercent(100); got != serverGCPercent {
		t.Errorf("GC percent %d, want %d", got, serverGCPercent)
	}

	t.Setenv("GOGC", "") // Go's default, as if unset
	debug.SetGCPercent(100)
	if got := tightenGC(); got != serverGCPercent {
		t.Errorf("with GOGC empty: tightenGC() = %d, want %d", got, serverGCPercent)
	}

	t.Setenv("GOGC", "80") // as if the process had started with it
	debug.SetGCPercent(80)
	if got := tightenGC(); got != 80 {
		t.Errorf("with GOGC=80: tightenGC() = %d", got)
	}
	if got := debug.SetGCPercent(100); got != 80 {
		t.Errorf("with GOGC=80: GC percent %d, want it left alone", got)
	}
}
