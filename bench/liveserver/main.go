// Command liveserver is a stand-in server for the stats and live
// benchmarks until `flowtiles serve` wires the endpoints: a memory store of
// synthetic Deruta records (the last eight weeks up to now, so that the
// live figures have a present and a history), with GET /api/stats,
// GET /api/live and POST /api/ingest exactly as internal/server serves
// them. Its ingest decoder reads only the NDJSON that bench/livefanout
// posts; the real one is the presence readers'.
//
//	go run ./bench/liveserver -listen 127.0.0.1:8089 -token T -records 2000000
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/internal/live"
	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/server"
	"github.com/flowtiles/flowtiles/internal/stats"
	"github.com/flowtiles/flowtiles/tiles"
)

var centre = orb.Point{12.4177, 42.9826}

func main() {
	listen := flag.String("listen", "127.0.0.1:8089", "address")
	token := flag.String("token", "bench", "ingest token")
	records := flag.Int("records", 1_000_000, "synthetic records over the last eight weeks")
	interval := flag.Duration("live-interval", 5*time.Second, "live event interval")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*listen, *token, *records, *interval, log); err != nil {
		log.Error("liveserver", "err", err)
		os.Exit(1)
	}
}

func square(c orb.Point, dx, dy float64) orb.MultiPolygon {
	return orb.MultiPolygon{{{{c[0] - dx, c[1] - dy}, {c[0] + dx, c[1] - dy}, {c[0] + dx, c[1] + dy}, {c[0] - dx, c[1] + dy}, {c[0] - dx, c[1] - dy}}}}
}

func run(listen, token string, n int, interval time.Duration, log *slog.Logger) error {
	loc, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		return err
	}
	cat := refdata.Italy()
	zones := []tiles.Place{
		{Level: tiles.LevelZone, Code: "centro", Key: 0, Name: "Centro storico", Shape: square(centre, 0.002, 0.0015), Point: centre},
		{Level: tiles.LevelZone, Code: "piazza", Key: 1, Name: "Piazza dei Consoli", Shape: square(orb.Point{centre[0] + 0.002, centre[1]}, 0.001, 0.0005), Point: orb.Point{centre[0] + 0.002, centre[1]}},
	}
	s := memstore.New(cat)
	start := time.Now()
	synthesize(s, zones, n, loc)
	log.Info("loaded", "records", n, "took", time.Since(start).Round(time.Millisecond), "bytes", s.Stats().Bytes)

	places := tiles.NewGazetteer(append([]tiles.Place{}, zones...))
	priv := tiles.Privacy{K: tiles.DefaultK}
	hub := live.NewHub(live.Config{Source: s, Zones: zones, Privacy: priv, Loc: loc, Interval: interval, Log: log})
	e := echo.New()
	e.HideBanner = true
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		if fe, ok := err.(*tiles.FilterError); ok {
			_ = c.JSON(http.StatusBadRequest, map[string]string{"error": fe.Error(), "param": fe.Param})
			return
		}
		_ = c.JSON(http.StatusInternalServerError, map[string]string{"error": err.Error()})
	}
	(&server.StatsAPI{Stats: stats.New(stats.Config{Source: s, Places: places, Catalog: cat, Privacy: priv, Loc: loc}),
		Loc: loc, Resolver: resolver{cat, places}}).Register(e)
	(&server.LiveAPI{Hub: hub}).Register(e)
	(&server.IngestAPI{Tokens: live.ParseTokens(token), Sink: live.NewMemorySink(s, zones), Decode: decode,
		Version: s.Version, Poke: hub.Poke}).Register(e)

	// Memory for bench/livefanout, after a collection so that it is live
	// memory: heap in use, goroutine stacks, goroutines.
	e.GET("/debug/mem", func(c echo.Context) error {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return c.JSON(http.StatusOK, map[string]uint64{"heap_inuse": m.HeapInuse, "stack_inuse": m.StackInuse, "goroutines": uint64(runtime.NumGoroutine())})
	})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { _ = hub.Run(ctx) }()
	srv := &http.Server{Addr: listen, Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("listening", "addr", listen)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// synthesize adds n records: visitors of the last eight weeks, in daytime,
// around the centre, each seen a few times per visit.
func synthesize(s *memstore.Store, zones []tiles.Place, n int, loc *time.Location) {
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Now()
	origins := []string{"054017", "054039", "054052", "054001", "058091", "001272", "054053"}
	b := s.NewBuilder()
	for i := 0; i < n; {
		day := now.AddDate(0, 0, -rng.IntN(56)).In(loc)
		arrive := time.Date(day.Year(), day.Month(), day.Day(), 8+rng.IntN(12), rng.IntN(60), 0, 0, loc)
		v := presence.VisitorHash(fmt.Sprint("v", rng.IntN(n/20+1)))
		r := presence.Record{Weight: 1, Visitor: v, Age: tiles.AgeBands[rng.IntN(7)], Gender: tiles.Genders[rng.IntN(3)],
			Spend: tiles.Spends[rng.IntN(3)], Nationality: tiles.Italy, Origin: origins[rng.IntN(len(origins))]}
		p := orb.Point{centre[0] + rng.NormFloat64()*0.0015, centre[1] + rng.NormFloat64()*0.001}
		for k := range 1 + rng.IntN(8) {
			r.ObservedAt = arrive.Add(time.Duration(k*10+rng.IntN(10)) * time.Minute)
			if r.ObservedAt.After(now) {
				break
			}
			r.Lon, r.Lat = p[0]+rng.NormFloat64()*0.0002, p[1]+rng.NormFloat64()*0.0002
			row, err := s.RowOf(&r, zones)
			if err != nil {
				panic(err)
			}
			b.Add(row)
			i++
		}
	}
	b.Commit()
}

type resolver struct {
	cat    *refdata.Catalog
	places *tiles.Gazetteer
}

func (r resolver) ResolveOrigin(code string) ([]string, bool) { return r.cat.ResolveOrigin(code) }
func (r resolver) ZoneID(name string) (int, bool) {
	p, ok := r.places.ByCode(tiles.LevelZone, name)
	return int(p.Key), ok
}

// decode reads the NDJSON lines bench/livefanout posts.
func decode(format string, body io.Reader) (presence.Decoded, error) {
	var d presence.Decoded
	if format != "ndjson" {
		return d, fmt.Errorf("this stand-in server reads NDJSON only")
	}
	sc := bufio.NewScanner(body)
	for line := 1; sc.Scan(); line++ {
		var v struct {
			ObservedAt time.Time `json:"observed_at"`
			Lon        float64   `json:"lon"`
			Lat        float64   `json:"lat"`
			Visitor    string    `json:"visitor_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			if d.ErrorCount++; len(d.Errors) < presence.MaxListedErrors {
				d.Errors = append(d.Errors, fmt.Sprintf("line %d: %v", line, err))
			}
			continue
		}
		d.Records = append(d.Records, presence.Record{ObservedAt: v.ObservedAt, Lon: v.Lon, Lat: v.Lat, Weight: 1, Visitor: presence.VisitorHash(v.Visitor)})
	}
	return d, sc.Err()
}
