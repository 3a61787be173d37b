package live

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/refdata"
)

// BenchmarkFanOut measures one event reaching 1,000 subscribers, each
// read by its own goroutine (the SSE handlers without the network).
func BenchmarkFanOut(b *testing.B) {
	const n = 1000
	h := NewHub(Config{Source: memstore.New(refdata.Italy()), Buffer: 16})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got sync.WaitGroup
	for range n {
		c, err := h.Subscribe()
		if err != nil {
			b.Fatal(err)
		}
		_, _ = c.Next(ctx, nil) // the retry line
		go func() {
			var buf [][]byte
			for {
				var err error
				if buf, err = c.Next(ctx, buf[:0]); err != nil {
					return
				}
				for range buf {
					got.Done()
				}
			}
		}()
	}
	ev := []byte(`{"time":"2025-03-17T10:30:00+01:00","window_minutes":15,"data_version":7,"k":15}`)
	b.ReportAllocs()
	var worst time.Duration
	for b.Loop() {
		got.Add(n)
		t0 := time.Now()
		h.Publish("live", ev)
		got.Wait()
		worst = max(worst, time.Since(t0))
	}
	b.ReportMetric(float64(worst.Microseconds()), "worst-µs")
}
