package stats

import (
	"context"
	"net/url"
	"os"
	"strconv"
	"testing"

	"github.com/flowtiles/flowtiles/internal/sourcetest"
)

// benchRecords is the size of the synthetic data set of the benchmarks
// (FLOWTILES_BENCH_RECORDS, default 1,000,000 over two months).
func benchRecords(b *testing.B) int {
	if s := os.Getenv("FLOWTILES_BENCH_RECORDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	return 1_000_000
}

// BenchmarkReport measures a month of figures for a zone, uncached (each
// iteration asks a fresh service), by hour and by origin.
func BenchmarkReport(b *testing.B) {
	recs := sourcetest.Records(1, benchRecords(b))
	e := newEnv(b, 15, recs)
	priv := sourcetest.Privacy(b, 15) // figures perturbed as a server publishes them
	for _, by := range []string{"", "hour", "origin"} {
		b.Run("by="+by, func(b *testing.B) {
			q, _ := url.ParseQuery("zone=centro&from=2025-03-01&to=2025-03-31&by=" + by)
			req, err := ParseRequest(q, sourcetest.Rome, e.res)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				svc := New(Config{Source: e.store, Places: e.places, Privacy: priv, Loc: sourcetest.Rome})
				if _, err := svc.Report(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
