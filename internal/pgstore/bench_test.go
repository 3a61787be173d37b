package pgstore

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/flowtiles/flowtiles/internal/db"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/tiles"
)

// BenchmarkStatsQueries runs, on a loaded database, the queries of one
// /api/stats request about a zone (the total, the rows, the top origins
// and countries, the visits; one after the other), for a 30-day and a
// six-month window ending at FLOWTILES_BENCH_TO (default 2025-06-01), on
// the records alone, with the rollup, and with the rollup and the
// visitor-day tables (the store's own choice):
//
//	FLOWTILES_BENCH_DATABASE_URL=postgres://…/flowtiles_bench \
//	  go test ./internal/pgstore -run '^$' -bench StatsQueries -benchtime 3x
//
// The zone is FLOWTILES_BENCH_ZONE (default centro-storico). Issue 14's
// six-month figure (3 M records over the 182 days to 2025-06-01, town 0):
//
//	flowtiles migrate; flowtiles areas import --kind zones testdata/deruta/zones.geojson
//	flowtiles demo --records 3000000 --start 2024-12-01 --months 6 --out bench.csv
//	flowtiles ingest bench.csv; psql -c 'VACUUM ANALYZE'
//	… -bench 'StatsQueries/days=182/.*/(rollup|visitordays)' -benchtime 1x
func BenchmarkStatsQueries(b *testing.B) {
	url := os.Getenv("FLOWTILES_BENCH_DATABASE_URL")
	if url == "" {
		b.Skip("FLOWTILES_BENCH_DATABASE_URL is not set")
	}
	ctx := context.Background()
	pool, err := db.Open(ctx, url, 30*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	zone := os.Getenv("FLOWTILES_BENCH_ZONE")
	if zone == "" {
		zone = "centro-storico"
	}
	var id int
	if err := pool.QueryRow(ctx, `SELECT id FROM zone WHERE name = $1`, zone).Scan(&id); err != nil {
		b.Fatalf("zone %s: %v", zone, err)
	}
	to := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	if s := os.Getenv("FLOWTILES_BENCH_TO"); s != "" {
		if to, err = time.Parse(time.DateOnly, s); err != nil {
			b.Fatal(err)
		}
	}
	rome, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		b.Fatal(err)
	}
	for _, days := range []int{30, 182} {
		for _, by := range []tiles.Dim{tiles.DimHour, tiles.DimMunicipality} {
			for _, read := range []string{"records", "rollup", "visitordays"} {
				s := &Store{pool: pool, cat: refdata.Italy(), recordsOnly: read == "records", noDays: read != "visitordays"}
				name := fmt.Sprintf("days=%d/by=%s/%s", days, map[tiles.Dim]string{tiles.DimHour: "hour", tiles.DimMunicipality: "origin"}[by], read)
				q := tiles.Query{Filter: tiles.Filter{From: to.AddDate(0, 0, -days), To: to}, AreaZones: tiles.ZoneBit(id), Loc: rome}
				// as stats.Service.period: the rows are the origins when by origin
				groupings := [][]tiles.Dim{nil, {by}, {tiles.DimNationality}}
				if by != tiles.DimMunicipality {
					groupings = append(groupings, []tiles.Dim{tiles.DimMunicipality})
				}
				b.Run(name, func(b *testing.B) {
					for b.Loop() {
						for _, dims := range groupings {
							q := q
							q.By = dims
							if err := s.Aggregate(ctx, q, func(tiles.Group) error { return nil }); err != nil {
								b.Fatal(err)
							}
						}
						if err := s.Visits(ctx, q, func(tiles.Visit) error { return nil }); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
