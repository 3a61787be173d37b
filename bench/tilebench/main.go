// Command tilebench measures uncached tile generation on the data in a
// PostGIS database (BENCHMARKS.md, "Tile engine"), side by side in one run:
//
//   - memory: the engine over the in-memory store mirrored from PostGIS (what
//     `flowtiles serve` answers from);
//   - postgis: the engine over the PostGIS source (parameterised SQL
//     aggregation, the path for windows outside the memory budget);
//   - naive: the baseline, one SQL statement per tile doing the aggregation
//     and the encoding in PostGIS (ST_HexagonGrid + ST_AsMVT), as a
//     pg_tileserv-style function layer would.
//
// Tiles come from a fixed workload file (bench/workload/*.txt: one tile
// path with its filter query per line). Every tile is computed fresh: the
// engine keeps no tile cache, and density aggregation is not cached (each
// tile aggregates its own bins, -metatile 1; with -metatile N a tile's
// block of N×N tiles is aggregated and kept, so later tiles of the block
// are cut from it).
//
//	go run ./bench/tilebench -db $DATABASE_URL -workload bench/workload/density-month.txt
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/flowtiles/flowtiles/internal/db"
	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/mirror"
	"github.com/flowtiles/flowtiles/internal/pgstore"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/tiles"
)

type job struct {
	path  string
	layer string
	tile  tiles.TileID
	query url.Values
}

func main() {
	dbURL := flag.String("db", os.Getenv("DATABASE_URL"), "PostGIS URL holding the data")
	workload := flag.String("workload", "bench/workload/density-month.txt", "tile workload file")
	rounds := flag.Int("rounds", 1, "passes over the workload")
	naiveMax := flag.Int("naive-max", 0, "stop the naive baseline after this many tiles (0: all)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the engine passes to this file")
	only := flag.String("only", "memory,postgis,naive", "sources to measure (comma list)")
	metatile := flag.Int("metatile", 1, "density: tiles across the blocks aggregated together and kept (tiles.Config.Metatile); 1: each tile alone, uncached")
	town := flag.Int("town", 0, "the ID of the town whose records are measured (flowtiles towns list)")
	gist := flag.Bool("baseline-gist", true, "give the naive baseline the GiST index on presence.geom it relies on (created if missing, kept)")
	flag.Parse()
	ctx := context.Background()

	jobs, err := readWorkload(*workload)
	if err != nil {
		log.Fatal(err)
	}
	pool, err := db.Open(ctx, *dbURL, 10*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	cat := refdata.Italy()
	store := pgstore.New(pool, cat, int16(*town))
	places, err := store.Places(ctx)
	if err != nil {
		log.Fatal(err)
	}
	var zones []tiles.Place
	for _, p := range places {
		if p.Level == tiles.LevelZone {
			zones = append(zones, p)
		}
	}
	loc, _ := time.LoadLocation("Europe/Rome")
	mem := memstore.New(cat)
	start := time.Now()
	n, err := mirror.New(pool, cat, map[int16]*memstore.Store{int16(*town): mem}, time.Time{}).Load(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("data: %d presence records (mirrored into memory in %.1f s)\n", n, time.Since(start).Seconds())
	gaz := tiles.NewGazetteer(places)
	res := refdata.Resolver{Catalog: cat, Zones: zones}
	secret, err := db.PrivacySecret(ctx, pool)
	if err != nil {
		log.Fatal(err)
	}
	priv, err := tiles.NewPrivacy(tiles.DefaultK, secret, tiles.DefaultNoiseD, tiles.DefaultNoiseGrowth)
	if err != nil {
		log.Fatal(err)
	}
	cfg := tiles.Config{Privacy: priv, Loc: loc, Metatile: *metatile} // as serve publishes: perturbed
	engines := []struct {
		name string
		e    *tiles.Engine
	}{{"memory", tiles.NewEngine(mem, gaz, cfg)}, {"postgis", tiles.NewEngine(store, gaz, cfg)}}

	type result struct {
		name  string
		times []time.Duration
		bytes int
	}
	var results []result
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	for _, en := range engines {
		if !strings.Contains(","+*only+",", ","+en.name+",") {
			continue
		}
		r := result{name: en.name}
		for round := range *rounds + 1 {
			for _, j := range jobs {
				f, err := tiles.ParseFilter(j.query, loc, res)
				if err != nil {
					log.Fatalf("%s: %v", j.path, err)
				}
				t0 := time.Now()
				b, err := en.e.Tile(ctx, tiles.Request{Layer: j.layer, Tile: j.tile, Filter: f})
				if err != nil {
					log.Fatalf("%s %s: %v", en.name, j.path, err)
				}
				if round > 0 { // round 0 warms the runtime and the database's buffers
					r.times = append(r.times, time.Since(t0))
					r.bytes += len(b)
				}
			}
		}
		results = append(results, r)
	}
	if !strings.Contains(","+*only+",", ",naive,") {
		*naiveMax, *gist = -1, false
	}
	if *gist {
		// flowtiles' own spatial index is a btree on cells (migration
		// 00002), which the naive statement cannot use; a pg_tileserv
		// function layer would have a GiST on geom, so the baseline gets one.
		t0 := time.Now()
		if _, err := pool.Exec(ctx, `CREATE INDEX IF NOT EXISTS presence_geom_baseline ON presence USING gist (geom)`); err != nil {
			log.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `ANALYZE presence`); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("baseline: GiST index on presence.geom ready (%.1f s)\n", time.Since(t0).Seconds())
	}
	naive := result{name: "naive ST_AsMVT (baseline)"}
	for i, j := range jobs {
		if *naiveMax != 0 && i >= *naiveMax {
			break
		}
		if j.layer != "density" {
			continue
		}
		from, to := window(j.query, loc)
		sql, args := naiveDensity(j.tile, from, to)
		t0 := time.Now()
		var b []byte
		if err := pool.QueryRow(ctx, sql, args...).Scan(&b); err != nil {
			log.Fatalf("naive %s: %v", j.path, err)
		}
		naive.times = append(naive.times, time.Since(t0))
		naive.bytes += len(b)
	}
	if len(naive.times) > 0 {
		results = append(results, naive)
	}

	// Throughput is compared on the tiles the baseline computed (the first
	// -naive-max of the workload), one request at a time.
	nb := *naiveMax
	if nb <= 0 || nb > len(jobs) {
		nb = len(jobs)
	}
	rate := func(ts []time.Duration) float64 {
		var sum time.Duration
		for _, t := range ts {
			sum += t
		}
		if sum <= 0 {
			return 0
		}
		return float64(len(ts)) / sum.Seconds()
	}
	baseRate := rate(naive.times)
	fmt.Printf("workload: %s, %d tiles (baseline: the density tiles among the first %d); one request at a time, after a warm-up pass\n\n", *workload, len(jobs), nb)
	fmt.Println("| source | tiles | p50 | p99 | max | tiles/s, whole workload | tiles/s, the baseline's tiles | ratio to the baseline |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		sub := r.times
		if r.name != naive.name {
			sub = nil
			for i := 0; i < len(r.times); i++ {
				if i%len(jobs) < nb && jobs[i%len(jobs)].layer == "density" {
					sub = append(sub, r.times[i])
				}
			}
		}
		rr := rate(sub)
		ratio := "–"
		if baseRate > 0 {
			ratio = fmt.Sprintf("%.0f×", rr/baseRate)
		}
		fmt.Printf("| %s | %d | %s | %s | %s | %.0f | %.1f | %s |\n", r.name, len(r.times), ms(median(r.times)), ms(pct(r.times, 99)), ms(pct(r.times, 100)),
			rate(r.times), rr, ratio)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func median(ts []time.Duration) time.Duration { return pct(ts, 50) }

func pct(ts []time.Duration, p int) time.Duration {
	if len(ts) == 0 {
		return 0
	}
	s := slices.Clone(ts)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

// window is the filter's time window, as the naive SQL needs it.
func window(q url.Values, loc *time.Location) (from, to time.Time) {
	f, err := tiles.ParseFilter(url.Values{"from": q["from"], "to": q["to"]}, loc, nil)
	if err != nil {
		log.Fatal(err)
	}
	from, to = f.From, f.To
	if from.IsZero() {
		from = time.Unix(0, 0)
	}
	if to.IsZero() {
		to = time.Unix(1<<40, 0)
	}
	return from, to
}

// naiveDensity is the one-statement baseline: hexagons of the same size as
// flowtiles' bins (1/16 of the tile) over the tile envelope, points
// joined to them, k-anonymity applied, encoded by ST_AsMVT.
func naiveDensity(t tiles.TileID, from, to time.Time) (string, []any) {
	return `WITH env AS (SELECT ST_TileEnvelope($1, $2, $3) AS e),
bins AS (
  SELECT h.geom, sum(p.weight) AS count, count(DISTINCT p.visitor) AS visitors,
         sum(p.weight) FILTER (WHERE p.visitor IS NULL) AS anonymous
  FROM env
  CROSS JOIN LATERAL ST_HexagonGrid((ST_XMax(env.e) - ST_XMin(env.e)) / 16 / sqrt(3), env.e) h
  JOIN presence p ON ST_Intersects(ST_Transform(p.geom, 3857), h.geom)
  WHERE p.geom && ST_Transform(env.e, 4326) AND p.observed_at >= $4 AND p.observed_at < $5
  GROUP BY h.geom
  HAVING count(DISTINCT p.visitor) + coalesce(sum(p.weight) FILTER (WHERE p.visitor IS NULL), 0) >= 15
)
SELECT coalesce(ST_AsMVT(m, 'density', 4096, 'geom'), '') FROM (
  SELECT ST_AsMVTGeom(bins.geom, env.e, 4096, 64) AS geom, count, visitors FROM bins, env
) m`, []any{int(t.Z), int(t.X), int(t.Y), from, to}
}

func readWorkload(name string) ([]job, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var jobs []job
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		u, err := url.Parse(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, i+1, err)
		}
		// /tiles/{layer}/{z}/{x}/{y}.mvt
		parts := strings.Split(strings.TrimPrefix(u.Path, "/tiles/"), "/")
		if len(parts) != 4 {
			return nil, fmt.Errorf("%s:%d: not a tile path: %s", name, i+1, u.Path)
		}
		y := strings.TrimSuffix(strings.TrimSuffix(parts[3], ".mvt"), ".pbf")
		t, err := tiles.ParseTile(parts[1], parts[2], y)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, i+1, err)
		}
		jobs = append(jobs, job{path: line, layer: parts[0], tile: t, query: u.Query()})
	}
	return jobs, nil
}
