package memstore

import (
	"testing"

	"github.com/flowtiles/flowtiles/internal/sourcetest"
)

// The store groups the visits it lists by every grouping of a report,
// under every filter and area of the conformance queries.
func TestVisitGroups(t *testing.T) {
	records := sourcetest.Records(sourcetest.Seed(t), 20000)
	s := load(t, records, sourcetest.Zones(), 2)
	if sourcetest.CheckVisitGroups(t, s, records) == 0 {
		t.Fatal("no visits: nothing compared")
	}
}
