package demo

import (
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/tiles"
)

// Every demo record lies inside Deruta's municipal perimeter, so that the
// demo loads into a database whose town is Deruta (flowtiles towns add
// town --istat 054017, as the README does) without a buffer.
func TestDemoRecordsInsideDeruta(t *testing.T) {
	places, err := refdata.Places()
	if err != nil {
		t.Fatal(err)
	}
	town := DerutaTown("Europe/Rome")
	for _, p := range places {
		if p.Level == tiles.LevelMunicipality && p.Code == town.ISTAT {
			town.Perimeter = p.Shape
		}
	}
	if len(town.Perimeter) == 0 {
		t.Fatal("no perimeter of Deruta in the reference data")
	}
	ix := tiles.NewTownIndex([]tiles.Town{town})
	n, outside := 0, 0
	err = Generate(Config{Seed: 1, Records: 200000, Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}, func(r presence.Record) error {
		n++
		if _, ok := ix.Locate(orb.Point{r.Lon, r.Lat}); !ok {
			if outside++; outside <= 3 {
				t.Errorf("record at %v,%v outside Deruta", r.Lon, r.Lat)
			}
		}
		return nil
	})
	if err != nil || n == 0 || outside > 0 {
		t.Fatalf("%d of %d records outside (%v)", outside, n, err)
	}
}
