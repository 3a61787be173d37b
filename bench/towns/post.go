package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowtiles/flowtiles/tiles"
)

// sample is one tile request of the load.
type sample struct {
	start time.Time
	took  time.Duration
	ok    bool
}

func runPost(args []string) error {
	fs := flag.NewFlagSet("towns post", flag.ExitOnError)
	base := fs.String("url", "http://127.0.0.1:8080", "the town's base URL (its /t/{town} prefix)")
	token := fs.String("token", "bench", "the ingest token")
	lon := fs.Float64("lon", 12.4177, "longitude of the town's centre")
	lat := fs.Float64("lat", 42.9826, "latitude of the town's centre")
	z := fs.Int("z", 16, "zoom of the tiles requested")
	clients := fs.Int("clients", 4, "clients requesting tiles throughout")
	quiet := fs.Duration("quiet", 10*time.Second, "tile load without ingest first (the baseline)")
	gap := fs.Duration("gap", 2*time.Second, "pause between posts (and after the last)")
	to := fs.String("to", "2025-09-01", "end of the tiles' first 30-day window (a date); each request moves it an hour back, for 90 days, then the windows grow a day")
	timeout := fs.Duration("timeout", 60*time.Second, "per request")
	fs.Parse(args)
	if fs.NArg() == 0 {
		return fmt.Errorf("post: no batch files")
	}
	end, err := time.Parse(time.DateOnly, *to)
	if err != nil {
		return fmt.Errorf("post: -to: %w", err)
	}
	var bodies [][]byte
	var records []int
	for _, p := range fs.Args() {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		bodies = append(bodies, b)
		records = append(records, bytes.Count(b, []byte{'\n'})-1)
	}

	// the tiles: 3×3 at z around the centre, density, uncached (a window
	// of its own per request)
	centre := tiles.TileAt(uint8(*z), tiles.Project(*lon, *lat))
	var paths []string
	for y := range 3 {
		for x := range 3 {
			paths = append(paths, fmt.Sprintf("/tiles/density/%d/%d/%d.mvt", *z, centre.X+uint32(x)-1, centre.Y+uint32(y)-1))
		}
	}
	client := &http.Client{Timeout: *timeout, Transport: &http.Transport{MaxConnsPerHost: *clients + 2, MaxIdleConnsPerHost: *clients + 2}}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var (
		mu      sync.Mutex
		samples []sample
		n       atomic.Int64
		wg      sync.WaitGroup
	)
	for range *clients {
		wg.Go(func() {
			for ctx.Err() == nil {
				// a window of its own (the server truncates windows to
				// the hour), within the data however long the run: the
				// end moves back an hour a request over 90 days, then
				// the window grows a day and the end starts again
				i := n.Add(1)
				e := end.Add(-time.Duration(i%(90*24)) * time.Hour)
				days := 30 + int(i/(90*24))
				q := url.Values{"from": {e.AddDate(0, 0, -days).Format(time.RFC3339)}, "to": {e.Format(time.RFC3339)}}
				u := *base + paths[int(i)%len(paths)] + "?" + q.Encode()
				t0 := time.Now()
				code, err := get(ctx, client, u)
				if ctx.Err() != nil {
					return
				}
				mu.Lock()
				// 204 is an empty tile: an answer
				samples = append(samples, sample{t0, time.Since(t0), err == nil && (code == http.StatusOK || code == http.StatusNoContent)})
				mu.Unlock()
			}
		})
	}
	time.Sleep(*quiet)
	quietEnd := time.Now()
	type window struct{ from, to time.Time }
	var posts []window
	var took []time.Duration
	created := 0
	for i, body := range bodies {
		t0 := time.Now()
		code, msg, err := post(client, *base+"/api/ingest", *token, body)
		t1 := time.Now()
		posts = append(posts, window{t0, t1})
		took = append(took, t1.Sub(t0))
		if err != nil {
			return fmt.Errorf("post %s: %w", fs.Arg(i), err)
		}
		if code == http.StatusCreated {
			created++
		} else {
			fmt.Fprintf(os.Stderr, "post %s: %d %s\n", fs.Arg(i), code, msg)
		}
		fmt.Printf("posted %s (%d records): %d in %v\n", fs.Arg(i), records[i], code, t1.Sub(t0).Round(time.Millisecond))
		time.Sleep(*gap)
	}
	stop()
	wg.Wait()

	var q, d []time.Duration
	var qBad, dBad int
	for _, s := range samples {
		switch {
		case s.start.Before(quietEnd):
			q = append(q, s.took)
			if !s.ok {
				qBad++
			}
		case slices.ContainsFunc(posts, func(w window) bool { return !s.start.Before(w.from) && s.start.Before(w.to) }):
			d = append(d, s.took)
			if !s.ok {
				dBad++
			}
		}
	}
	fmt.Println()
	fmt.Printf("| uncached density tiles (%d clients, 3×3 at z%d around %.4f,%.4f) | requests | p50 | p99 | failed or ≥ 400 |\n", *clients, *z, *lon, *lat)
	fmt.Println("|---|---|---|---|---|")
	fmt.Printf("| no ingest (baseline, %v) | %d | %s | %s | %d |\n", *quiet, len(q), ms(pct(q, 50)), ms(pct(q, 99)), qBad)
	fmt.Printf("| while a daily batch is posted | %d | %s | %s | %d |\n", len(d), ms(pct(d, 50)), ms(pct(d, 99)), dBad)
	var parts []string
	for _, t := range took {
		parts = append(parts, fmt.Sprintf("%.1f", msf(t)))
	}
	total := 0
	for _, r := range records {
		total += r
	}
	fmt.Printf("\nRESULT posts=%d created=%d records=%d post_ms_median=%.1f post_ms_each=%s quiet_n=%d quiet_p50_ms=%.1f quiet_p99_ms=%.1f during_n=%d during_p50_ms=%.1f during_p99_ms=%.1f during_failed=%d\n",
		len(bodies), created, total, msf(pct(took, 50)), strings.Join(parts, ","), len(q), msf(pct(q, 50)), msf(pct(q, 99)),
		len(d), msf(pct(d, 50)), msf(pct(d, 99)), dBad)
	if created != len(bodies) {
		return fmt.Errorf("post: %d of %d batches answered 201", created, len(bodies))
	}
	return nil
}

func get(ctx context.Context, c *http.Client, u string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

func post(c *http.Client, u, token string, body []byte) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "text/csv")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	msg, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, strings.TrimSpace(string(msg)), err
}

// pct returns the p-th percentile of ds (0 when empty); it sorts ds.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := (len(ds)*p + 99) / 100
	return ds[min(max(i-1, 0), len(ds)-1)]
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", msf(d)) }
