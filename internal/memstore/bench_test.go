package memstore

import (
	"context"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"testing"
	"time"

	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// benchStore builds a store of n synthetic records over eight months around
// Deruta's centre (FLOWTILES_BENCH_RECORDS overrides n).
func benchStore(b *testing.B, n int) *Store {
	b.Helper()
	if s := os.Getenv("FLOWTILES_BENCH_RECORDS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	s := New(refdata.Italy())
	bl := s.NewBuilder()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	c := tiles.Project(sourcetest.Centre[0], sourcetest.Centre[1])
	for i := 0; i < n; i++ {
		r := Row{
			T:       uint32(start + rng.Int64N(240*86400)),
			X:       uint32(int64(c.X) + int64(rng.NormFloat64()*30000)),
			Y:       uint32(int64(c.Y) + int64(rng.NormFloat64()*20000)),
			Weight:  1,
			Key:     rng.Uint32(),
			Visitor: int64(rng.IntN(n/5) + 1),
			Origin:  uint16(rng.IntN(7898) + 1),
			Nat:     uint8(rng.IntN(250)),
			Attrs:   tiles.PackAttrs(tiles.AgeBand(rng.IntN(8)), tiles.Gender(rng.IntN(4)), tiles.Spend(rng.IntN(4))),
		}
		bl.Add(r)
	}
	bl.Commit()
	return s
}

func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := benchStore(b, 1_000_000)
		runtime.GC()
		debug.FreeOSMemory()
		runtime.ReadMemStats(&after)
		st := s.Stats()
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(st.Rows), "heapB/record")
		b.ReportMetric(float64(st.Bytes)/float64(st.Rows), "columnB/record")
	}
}

func BenchmarkDensityMonth(b *testing.B) {
	s := benchStore(b, 1_000_000)
	f := tiles.Filter{}
	f.From = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	f.To = time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
	for _, z := range []uint8{12, 14, 17} {
		b.Run("z"+strconv.Itoa(int(z)), func(b *testing.B) {
			t := tiles.TileAt(z, tiles.Project(sourcetest.Centre[0], sourcetest.Centre[1]))
			g := tiles.NewGrid(tiles.Hexagon, z)
			dx, dy := g.Reach()
			q := tiles.Query{Filter: f, Area: t.Rect().Expand(2*dx, 2*dy), By: []tiles.Dim{tiles.DimBin}, Grid: g, Loc: time.UTC}
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Aggregate(context.Background(), q, func(tiles.Group) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
