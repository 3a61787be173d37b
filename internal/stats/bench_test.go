package stats

import (
	"context"
	"math/rand/v2"
	"net/url"
	"os"
	"strconv"
	"testing"

	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
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

// BenchmarkVisitTally tallies a month of a zone's visits as the memory
// store lists them (262,552 visits of visitors numbered up to 688,621 at
// 10 M records, day after day), as a report's total does (dense) and by
// sorting them by visitor (sorted, the rows' way).
func BenchmarkVisitTally(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	visits := make([]tiles.Visit, 262_552)
	for i := range visits {
		day := int64(i * 30 / len(visits))
		visits[i] = tiles.Visit{Visitor: uint64(rng.IntN(688_622)), Day: day, Key: rng.Uint32(), First: day * 86400, Last: day*86400 + rng.Int64N(4*3600)}
	}
	for _, dense := range []bool{true, false} {
		b.Run(map[bool]string{true: "dense", false: "sorted"}[dense], func(b *testing.B) {
			for b.Loop() {
				var g visitGroup
				if dense {
					g.dense = getDense()
				}
				for i := range visits {
					g.add(&visits[i])
				}
				g.tally()
			}
		})
	}
}
