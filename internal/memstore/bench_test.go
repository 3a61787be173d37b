package memstore

import (
	"context"
	"math/rand/v2"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowtiles/flowtiles/internal/demo"
	"github.com/flowtiles/flowtiles/internal/presence"
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
		measureLoad(b, func() *Store { return benchStore(b, 1_000_000) })
	}
}

// measureLoad loads a store with load and reports the live heap it takes
// per record, and its columns' and rollups' bytes per record; it returns
// the store's Stats.
func measureLoad(b *testing.B, load func() *Store) Stats {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := load()
	runtime.GC()
	debug.FreeOSMemory()
	runtime.ReadMemStats(&after)
	st := s.Stats()
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(st.Rows), "heapB/record")
	b.ReportMetric(float64(st.Bytes)/float64(st.Rows), "columnB/record")
	b.ReportMetric(float64(st.RollupBytes)/float64(st.Rows), "rollupB/record")
	runtime.KeepAlive(s)
	return st
}

// BenchmarkLoadDemo loads Deruta's embedded demo data set as `flowtiles
// serve --demo-records N` does (seed 1, eight months from 1 January 2025,
// the town's zones, one batch), N from FLOWTILES_BENCH_RECORDS (default:
// the demo's default size, about 2 M records), and reports the live heap
// the store takes per record, without the catalog and the zone index,
// which a server holds whatever the number of records (they are made
// before the heap is first measured). Its time includes generating the
// records.
func BenchmarkLoadDemo(b *testing.B) {
	n := 0 // demo.Config's default size
	if s := os.Getenv("FLOWTILES_BENCH_RECORDS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	dt, ok := demo.LookupTown(demo.Deruta, demo.TimeZone)
	if !ok {
		b.Fatal("no demo town deruta")
	}
	cat, zi := refdata.Italy(), tiles.NewZoneIndex(dt.Zones())
	for b.Loop() {
		st := measureLoad(b, func() *Store { return loadEmbedded(b, cat, zi, n) })
		b.ReportMetric(float64(st.VisitorBytes)/float64(st.Rows), "visitorB/record")
		b.ReportMetric(float64(st.Visitors)/float64(st.Rows), "visitors/record")
		b.ReportMetric(float64(st.Rows), "records")
	}
}

// loadEmbedded loads Deruta's demo data set of about n records (0: the
// default) into a fresh store the way the embedded backend does
// (internal/app's loadDemo): one builder fed in chunks of 8,192 records,
// committed once.
func loadEmbedded(b *testing.B, cat *refdata.Catalog, zi *tiles.ZoneIndex, n int) *Store {
	b.Helper()
	s := New(cat)
	bl := s.NewBuilder()
	chunk := make([]presence.Record, 0, 8192)
	err := demo.Generate(demo.Config{Town: demo.Deruta, Seed: 1, Records: n}, func(r presence.Record) error {
		chunk = append(chunk, r)
		if len(chunk) == cap(chunk) {
			err := bl.AddRecords(chunk, zi)
			chunk = chunk[:0]
			return err
		}
		return nil
	})
	if err == nil {
		err = bl.AddRecords(chunk, zi)
	}
	if err != nil {
		b.Fatal(err)
	}
	bl.Commit()
	return s
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

// demoRecords is the size of the demo data set of the benchmarks below
// (FLOWTILES_BENCH_RECORDS; default 1,700,000 over April and May 2025, as
// many per day as 10 M records over a year).
func demoRecords(b *testing.B) int {
	if s := os.Getenv("FLOWTILES_BENCH_RECORDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	return 1_700_000
}

// loadDemo loads the seeded demo data set (demo.Generate, seed 1, its
// zones) of n records over April and May 2025 into a fresh store, in
// batches of 100,000 records.
func loadDemo(b *testing.B, n int) *Store {
	b.Helper()
	s := New(refdata.Italy())
	zi := tiles.NewZoneIndex(demo.Zones())
	batch := make([]presence.Record, 0, 100_000)
	flush := func() error {
		err := s.Add(batch, zi)
		batch = batch[:0]
		return err
	}
	err := demo.Generate(demo.Config{Seed: 1, Records: n, Start: time.Date(2025, 4, 1, 0, 0, 0, 0, sourcetest.Rome), Months: 2}, func(r presence.Record) error {
		batch = append(batch, r)
		if len(batch) == cap(batch) {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		b.Fatal(err)
	}
	return s
}

var (
	demoOnce  sync.Once
	demoStore *Store
	demoHeap  float64 // heap bytes per record the store took
)

// sharedDemo is loadDemo, once for all the benchmarks of a run.
func sharedDemo(b *testing.B) *Store {
	demoOnce.Do(func() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		demoStore = loadDemo(b, demoRecords(b))
		runtime.GC()
		debug.FreeOSMemory()
		runtime.ReadMemStats(&after)
		demoHeap = float64(after.HeapAlloc-before.HeapAlloc) / float64(demoStore.Stats().Rows)
	})
	return demoStore
}

// reportMemory reports the memory per record of the demo store: the whole
// heap it took, its record columns, its rollups, and the share of records
// that rollups stand for. (Loading the demo data set takes long: the
// benchmarks that use it report its memory rather than load it again.)
func reportMemory(b *testing.B, s *Store) {
	st := s.Stats()
	b.ReportMetric(demoHeap, "heapB/record")
	b.ReportMetric(float64(st.Bytes)/float64(st.Rows), "columnB/record")
	b.ReportMetric(float64(st.RollupBytes)/float64(st.Rows), "rollupB/record")
	b.ReportMetric(100*float64(st.RollupRows)/float64(st.Rows), "%rolledup")
}

// statsMonth runs the queries of a stats report (internal/stats) about
// the centro-storico zone over the 30 days to 2025-06-01, grouped by dim:
// the total, the rows, the top origins and countries, and the visits.
func statsMonth(b *testing.B, s *Store, dim tiles.Dim) {
	f := tiles.Filter{From: time.Date(2025, 5, 2, 0, 0, 0, 0, sourcetest.Rome), To: time.Date(2025, 6, 1, 0, 0, 0, 0, sourcetest.Rome)}
	q := tiles.Query{Filter: f, AreaZones: tiles.ZoneBit(0), Loc: sourcetest.Rome}
	ctx := context.Background()
	groups := 0
	for _, by := range [][]tiles.Dim{nil, {dim}, {tiles.DimMunicipality}, {tiles.DimNationality}} {
		if len(by) > 0 && by[0] == tiles.DimMunicipality && dim == tiles.DimMunicipality {
			continue // the rows are the origins
		}
		q.By = by
		if err := s.Aggregate(ctx, q, func(tiles.Group) error { groups++; return nil }); err != nil {
			b.Fatal(err)
		}
	}
	q.By = nil
	if err := s.Visits(ctx, q, func(tiles.Visit) error { return nil }); err != nil {
		b.Fatal(err)
	}
	if groups == 0 {
		b.Fatal("no groups")
	}
}

// BenchmarkStatsMonth is the store's share of /api/stats about a zone for
// 30 days by hour and by origin, on the demo data set: with rollups, and
// from records alone (as before rollups) in the same run.
func BenchmarkStatsMonth(b *testing.B) {
	s := sharedDemo(b)
	for _, by := range []struct {
		name string
		dim  tiles.Dim
	}{{"hour", tiles.DimHour}, {"origin", tiles.DimMunicipality}} {
		for _, records := range []bool{false, true} {
			name := "by=" + by.name
			if records {
				name += "/records"
			}
			b.Run(name, func(b *testing.B) {
				s.noRollup = records
				defer func() { s.noRollup = false }()
				b.ReportAllocs()
				for b.Loop() {
					statsMonth(b, s, by.dim)
				}
				reportMemory(b, s)
			})
		}
	}
}

// BenchmarkVisitsMonth is the visits of a stats report about the
// centro-storico zone over the 30 days to 2025-06-01, on the demo data set.
func BenchmarkVisitsMonth(b *testing.B) {
	s := sharedDemo(b)
	f := tiles.Filter{From: time.Date(2025, 5, 2, 0, 0, 0, 0, sourcetest.Rome), To: time.Date(2025, 6, 1, 0, 0, 0, 0, sourcetest.Rome)}
	q := tiles.Query{Filter: f, AreaZones: tiles.ZoneBit(0), Loc: sourcetest.Rome}
	visits := 0
	for b.Loop() {
		visits = 0
		if err := s.Visits(context.Background(), q, func(tiles.Visit) error { visits++; return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(visits), "visits")
}

// BenchmarkTownMonthTile is an uncached density tile at z12 over the whole
// town (the tile holding Deruta's centre) for a month of the demo data set.
func BenchmarkTownMonthTile(b *testing.B) {
	s := sharedDemo(b)
	f := tiles.Filter{From: time.Date(2025, 5, 1, 0, 0, 0, 0, sourcetest.Rome), To: time.Date(2025, 6, 1, 0, 0, 0, 0, sourcetest.Rome)}
	for _, z := range []uint8{12, 13} {
		b.Run("z"+strconv.Itoa(int(z)), func(b *testing.B) {
			t := tiles.TileAt(z, tiles.Project(sourcetest.Centre[0], sourcetest.Centre[1]))
			g := tiles.NewGrid(tiles.Hexagon, z)
			dx, dy := g.Reach()
			q := tiles.Query{Filter: f, Area: t.Rect().Expand(2*dx, 2*dy), By: []tiles.Dim{tiles.DimBin}, Grid: g, Loc: sourcetest.Rome}
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Aggregate(context.Background(), q, func(tiles.Group) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// coldViewFilters are bench/coldview's filters over April and May 2025.
func coldViewFilters(b *testing.B) []tiles.Filter {
	var fs []tiles.Filter
	for _, s := range []string{"age=35-44", "gender=f", "days=sat,sun&hours=8-12", "nationality=DE", "age=18-24,25-34&gender=m"} {
		v, err := url.ParseQuery(s + "&from=2025-04-01&to=2025-05-31")
		if err != nil {
			b.Fatal(err)
		}
		f, err := tiles.ParseFilter(v, sourcetest.Rome, nil)
		if err != nil {
			b.Fatal(err)
		}
		fs = append(fs, f)
	}
	return fs
}

// coldViewGroupings are the whole-area groupings a view at zoom 9 and
// beyond asks the source for, for each filter (tiles.Engine: origins,
// flows, zones).
var coldViewGroupings = [][]tiles.Dim{
	{tiles.DimMunicipality}, {tiles.DimNationality}, nil,
	{tiles.DimMunicipality, tiles.DimZone}, {tiles.DimNationality, tiles.DimZone}, {tiles.DimZone},
}

// BenchmarkColdView is the store's whole-area share of a cold view: the
// six groupings of each of bench/coldview's filters (an op is all five
// filters), on the demo data set, each grouping a scan of its own
// (separate) and all six in one pass (AggregateMany).
func BenchmarkColdView(b *testing.B) {
	s := sharedDemo(b)
	fs := coldViewFilters(b)
	ctx := context.Background()
	for _, many := range []bool{false, true} {
		name := "separate"
		if many {
			name = "one-pass"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				for _, f := range fs {
					q := tiles.Query{Filter: f, Loc: sourcetest.Rome, WithRest: true}
					if many {
						if err := s.AggregateMany(ctx, q, coldViewGroupings, func(int, tiles.Group) error { return nil }); err != nil {
							b.Fatal(err)
						}
						continue
					}
					for _, by := range coldViewGroupings {
						q.By = by
						if err := s.Aggregate(ctx, q, func(tiles.Group) error { return nil }); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
			reportMemory(b, s)
		})
	}
}

// cpuTime is the CPU time the process has taken (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
