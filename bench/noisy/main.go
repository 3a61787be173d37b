// Command noisy measures what a noisy neighbour does to light requests on
// a running server: while -clients clients send heavy requests that no
// cache can answer (tiles of every layer and stats, each with a filter of
// its own), a prober asks for a cached tile and /healthz in turn and
// records their latencies. The same probe on the quiet server comes first,
// for the ratio.
//
//	flowtiles serve --listen 127.0.0.1:8080 &   # the embedded demo
//	go run ./bench/noisy -url http://127.0.0.1:8080 -clients 8 -duration 20s
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowtiles/flowtiles/tiles"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "server base URL")
	clients := flag.Int("clients", 8, "noisy clients, each sending one heavy request after another")
	duration := flag.Duration("duration", 20*time.Second, "how long the noisy clients run (and the quiet probe before them)")
	every := flag.Duration("every", 10*time.Millisecond, "pause between two probes")
	days := flag.Int("days", 240, "the data's days, ending with -to (the embedded demo: 240); noisy filters fall within them")
	to := flag.String("to", time.Now().Format(time.DateOnly), "the data's last day (YYYY-MM-DD)")
	statsShare := flag.Float64("stats", 0.2, "share of the heavy requests that are stats reports (the rest are tiles)")
	seed := flag.Uint64("seed", 1, "seed of the noisy filters")
	flag.Parse()

	end, err := time.Parse(time.DateOnly, *to)
	if err != nil {
		fail(fmt.Errorf("-to: %w", err))
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *clients + 4, DisableCompression: true}, Timeout: 60 * time.Second}
	centre, err := centreOf(client, *base)
	if err != nil {
		fail(err)
	}
	tile := tiles.TileAt(14, tiles.Project(centre[0], centre[1]))
	cached := fmt.Sprintf("%s/tiles/density/%d/%d/%d.mvt", *base, tile.Z, tile.X, tile.Y)
	for range 2 { // the second is served from the cache
		if _, st, err := get(client, cached); err != nil || (st != 200 && st != 204) {
			fail(fmt.Errorf("warming %s: %d %v", cached, st, err))
		}
	}
	probes := []probe{{name: "cached tile", url: cached}, {name: "/healthz", url: *base + "/healthz"}}

	quiet := runProbes(client, probes, *every, *duration)
	fmt.Printf("quiet (%v):\n", *duration)
	report(quiet)

	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		mu      sync.Mutex
		heavy   []time.Duration
		status  = map[int]int{}
		errs    int
		layers  = []string{"density", "origins", "flows", "zones"}
		started = time.Now()
	)
	for i := range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(*seed, uint64(i)))
			for !stop.Load() {
				u := heavyURL(rng, *base, tile, layers, end, *days, *statsShare)
				d, st, err := get(client, u)
				mu.Lock()
				if err != nil {
					errs++
				} else {
					status[st]++
					heavy = append(heavy, d)
				}
				mu.Unlock()
			}
		}()
	}
	noisy := runProbes(client, probes, *every, *duration)
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(started)
	fmt.Printf("noisy (%d clients sending heavy requests, %v):\n", *clients, *duration)
	report(noisy)
	mu.Lock()
	fmt.Printf("  heavy requests   %d in %v (%.1f/s), statuses %v, errors %d; latency p50 %v p99 %v max %v\n",
		len(heavy), elapsed.Round(time.Millisecond), float64(len(heavy))/elapsed.Seconds(), status, errs, pct(heavy, 0.5), pct(heavy, 0.99), pct(heavy, 1))
	mu.Unlock()
	for i := range probes {
		fmt.Printf("  ratio noisy/quiet %-12s p50 %.1f× p99 %.1f×\n", probes[i].name,
			ratio(pct(noisy[i].lat, 0.5), pct(quiet[i].lat, 0.5)), ratio(pct(noisy[i].lat, 0.99), pct(quiet[i].lat, 0.99)))
	}
}

// heavyURL is a request that no cache answers: a tile of a random layer
// near the centre, or a stats report, with a window of random days (and
// hours) of the data's span.
func heavyURL(rng *rand.Rand, base string, centre tiles.TileID, layers []string, end time.Time, days int, statsShare float64) string {
	from := end.AddDate(0, 0, -1-rng.IntN(days))
	to := from.AddDate(0, 0, 1+rng.IntN(90))
	q := url.Values{}
	q.Set("from", from.Format(time.DateOnly))
	q.Set("to", to.Format(time.DateOnly))
	if rng.IntN(2) == 0 {
		h := rng.IntN(20)
		q.Set("hours", fmt.Sprintf("%d-%d", h, h+1+rng.IntN(4)))
	}
	if rng.Float64() < statsShare {
		q.Set("zone", "centro-storico")
		q.Set("by", []string{"hour", "origin", "dow", "age"}[rng.IntN(4)])
		return base + "/api/stats?" + q.Encode()
	}
	layer := layers[rng.IntN(len(layers))]
	z, x, y := int(centre.Z), int(centre.X)+rng.IntN(6)-3, int(centre.Y)+rng.IntN(4)-2
	if layer == "origins" || layer == "flows" {
		z, x, y = 10, int(centre.X>>4), int(centre.Y>>4)
	}
	return fmt.Sprintf("%s/tiles/%s/%d/%d/%d.mvt?%s", base, layer, z, x, y, q.Encode())
}

type probe struct {
	name, url string
	lat       []time.Duration
	bad       int
}

// runProbes asks for each probe in turn, pausing every between two, for d.
func runProbes(client *http.Client, probes []probe, every, d time.Duration) []probe {
	out := slices.Clone(probes)
	end := time.Now().Add(d)
	for i := 0; time.Now().Before(end); i++ {
		p := &out[i%len(out)]
		lat, st, err := get(client, p.url)
		if err != nil || st >= 300 && st != 304 {
			p.bad++
		} else {
			p.lat = append(p.lat, lat)
		}
		time.Sleep(every)
	}
	return out
}

func report(ps []probe) {
	for _, p := range ps {
		fmt.Printf("  %-16s n %5d  p50 %9v  p99 %9v  max %9v  failed %d\n", p.name, len(p.lat), pct(p.lat, 0.5), pct(p.lat, 0.99), pct(p.lat, 1), p.bad)
	}
}

// centreOf reads the centre of the density layer's TileJSON.
func centreOf(client *http.Client, base string) ([2]float64, error) {
	resp, err := client.Get(base + "/tiles/density.json")
	if err != nil {
		return [2]float64{}, err
	}
	defer resp.Body.Close()
	var doc struct {
		Center []float64 `json:"center"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || len(doc.Center) < 2 {
		return [2]float64{}, fmt.Errorf("TileJSON of %s: no centre (%v)", base, err)
	}
	return [2]float64{doc.Center[0], doc.Center[1]}, nil
}

func get(client *http.Client, u string) (time.Duration, int, error) {
	t0 := time.Now()
	resp, err := client.Get(u)
	if err != nil {
		return 0, 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(t0), resp.StatusCode, nil
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)].Round(10 * time.Microsecond)
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "noisy:", err)
	os.Exit(1)
}
