package memstore

import (
	"testing"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// load builds a store from records in several batches, as live ingest does.
func load(t testing.TB, records []presence.Record, zones []tiles.Place, batches int) *Store {
	t.Helper()
	s := New(refdata.Italy())
	per := (len(records) + batches - 1) / batches
	zi := tiles.NewZoneIndex(zones)
	for i := 0; i < len(records); i += per {
		if err := s.Add(records[i:min(i+per, len(records))], zi); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestConformance(t *testing.T) {
	seed := sourcetest.Seed(t)
	records := sourcetest.Records(seed, 20000)
	zones := sourcetest.Zones()
	for _, batches := range []int{1, 3} {
		s := load(t, records, zones, batches)
		if got := s.Stats().Rows; got != int64(len(records)) {
			t.Fatalf("rows: %d, want %d", got, len(records))
		}
		sourcetest.Check(t, s, records, zones)
		sourcetest.CheckVisits(t, s, records, zones)
	}
}

// A store per town, as the mirror keeps them (the store itself knows no
// towns): each answers with exactly its town's records, as pgstore's
// stores of the same split do (the conformance suite of two towns).
func TestConformanceTwoTowns(t *testing.T) {
	_, byTown := sourcetest.SplitTowns(sourcetest.Records(sourcetest.Seed(t), 9000))
	zones := sourcetest.Zones()
	srcs := map[int16]tiles.Source{}
	for town, records := range byTown {
		srcs[town] = load(t, records, zones, 2)
	}
	sourcetest.CheckTowns(t, srcs, byTown, zones)
}

// The parallel scan (forced here on small data, with 3 workers whatever
// the machine) gives exactly the answers of the sequential one.
func TestConformanceParallel(t *testing.T) {
	forceParallel(t)
	checkBatches(t)
}

// Pairs spill over many chunks of a few pairs each (chunks.go), and the
// answers stay exact.
func TestConformanceSmallChunks(t *testing.T) {
	smallChunks(t)
	checkBatches(t)
}

// checkBatches runs the conformance suite on 20,000 records loaded in
// three batches.
func checkBatches(t *testing.T) {
	records := sourcetest.Records(sourcetest.Seed(t), 20000)
	zones := sourcetest.Zones()
	sourcetest.Check(t, load(t, records, zones, 3), records, zones)
}

// forceParallel makes every scan of the test parallel, with 3 workers
// whatever the machine, and its pairs in chunks of a few.
func forceParallel(t *testing.T) {
	defer func(r, w, s, p int) {
		t.Cleanup(func() { parallelRows, maxWorkers, splitPairsFrom = r, w, s; SetScanProcessors(p) })
	}(parallelRows, maxWorkers, splitPairsFrom, ScanProcessors())
	parallelRows, maxWorkers, splitPairsFrom = 0, 3, 0
	SetScanProcessors(3)
	smallChunks(t)
}

// smallChunks makes the test's chunks of pairs 5 pairs long.
func smallChunks(t *testing.T) {
	defer func(n int) { t.Cleanup(func() { chunkPairs = n }) }(chunkPairs)
	chunkPairs = 5
}
