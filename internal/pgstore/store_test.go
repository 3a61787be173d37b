package pgstore

import (
	"testing"

	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/internal/testdb"
)

func TestConformance(t *testing.T) {
	db := testdb.New(t)
	records := sourcetest.Records(sourcetest.Seed(t), 6000)
	zones := sourcetest.Zones()
	testdb.Insert(t, db, records[:4000], zones)
	testdb.Insert(t, db, records[4000:], zones)
	s := New(db, refdata.Italy(), 0)
	sourcetest.Check(t, s, records, zones)
	sourcetest.CheckVisits(t, s, records, zones)

}
