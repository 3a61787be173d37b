// Command livefanout measures the live feed of a running flowtiles server:
// it connects many Server-Sent Events clients to /api/live, posts batches to
// /api/ingest, and reports how long each batch takes to reach every client
// as a "tiles" event (p50, p99, max), and, given the server's process id,
// the server's resident memory per connected client.
//
//	go run ./bench/livefanout -url http://127.0.0.1:8080 -token T -clients 1000 -pid $(pgrep -n flowtiles)
//
// scripts/bench starts a server and runs it.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080", "server base URL")
	token := flag.String("token", "", "ingest bearer token")
	clients := flag.Int("clients", 1000, "concurrent SSE clients")
	batches := flag.Int("batches", 40, "batches to post")
	every := flag.Duration("every", 500*time.Millisecond, "pause between batches")
	records := flag.Int("records", 50, "records per batch")
	pid := flag.Int("pid", 0, "server process id, for its resident memory (Linux /proc)")
	memURL := flag.String("mem", "", "URL path of a memory figure to read from the server (none by default)")
	lon := flag.Float64("lon", 12.4177, "longitude of the posted records")
	lat := flag.Float64("lat", 42.9826, "latitude of the posted records")
	flag.Parse()
	if err := run(*url, *token, *clients, *batches, *records, *every, *pid, *memURL, *lon, *lat); err != nil {
		fmt.Fprintln(os.Stderr, "livefanout:", err)
		os.Exit(1)
	}
}

// arrivals records when each client saw each data version.
type arrivals struct {
	mu   sync.Mutex
	seen map[uint64][]time.Time // data version -> arrival times
}

func (a *arrivals) add(v uint64, t time.Time) {
	a.mu.Lock()
	a.seen[v] = append(a.seen[v], t)
	a.mu.Unlock()
}

func run(url, token string, n, batches, records int, every time.Duration, pid int, memURL string, lon, lat float64) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rssBefore, memBefore := rss(pid), memory(url, memURL)
	arr := &arrivals{seen: map[uint64][]time.Time{}}
	var ready, failed atomic.Int64
	tr := &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: 0, DisableCompression: true}
	client := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64) // connect 64 at a time
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			err := listen(ctx, client, url, arr, &ready, sem)
			if err != nil && ctx.Err() == nil {
				if failed.Add(1) <= 3 {
					fmt.Fprintln(os.Stderr, "client:", err)
				}
			}
		}()
	}
	start := time.Now()
	for ready.Load()+failed.Load() < int64(n) {
		if time.Since(start) > 2*time.Minute {
			return fmt.Errorf("only %d of %d clients connected", ready.Load(), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Printf("%d clients connected in %v (%d failed)\n", ready.Load(), time.Since(start).Round(time.Millisecond), failed.Load())
	time.Sleep(2 * time.Second) // let the server settle
	rssConnected, memConnected := rss(pid), memory(url, memURL)

	sent := map[uint64]time.Time{}
	var posts []time.Duration
	post := &http.Client{Timeout: 30 * time.Second}
	for b := range batches {
		body := batch(b, records, lon, lat)
		req, _ := http.NewRequest(http.MethodPost, url+"/api/ingest", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/x-ndjson")
		req.Header.Set("Idempotency-Key", fmt.Sprintf("livefanout-%d-%d", time.Now().UnixNano(), b))
		t0 := time.Now()
		resp, err := post.Do(req)
		if err != nil {
			return fmt.Errorf("posting batch %d: %w", b, err)
		}
		posts = append(posts, time.Since(t0))
		var out struct {
			DataVersion uint64 `json:"data_version"`
			Error       string `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("batch %d: %s: %s", b, resp.Status, out.Error)
		}
		sent[out.DataVersion] = t0
		time.Sleep(every)
	}
	time.Sleep(2 * time.Second) // stragglers
	rssEnd := rss(pid)
	cancel()

	arr.mu.Lock()
	defer arr.mu.Unlock()
	var delays []time.Duration
	missing := 0
	for v, t0 := range sent {
		got := arr.seen[v]
		missing += int(ready.Load()) - len(got)
		for _, t := range got {
			delays = append(delays, t.Sub(t0))
		}
	}
	if len(delays) == 0 {
		return errors.New("no deliveries measured (does the server's version advance on ingest?)")
	}
	q := func(p float64) time.Duration { return pct(delays, p) }
	fmt.Printf("deliveries: %d (%d batches × %d clients), missing %d\n", len(delays), len(sent), ready.Load(), missing)
	fmt.Printf("ingest → tiles event: p50 %v, p99 %v, max %v\n", q(0.50).Round(10*time.Microsecond), q(0.99).Round(10*time.Microsecond), q(1).Round(10*time.Microsecond))
	fmt.Printf("POST /api/ingest round trip (%d records): p50 %v, p99 %v\n", records, pct(posts, 0.5).Round(10*time.Microsecond), pct(posts, 0.99).Round(10*time.Microsecond))
	if memBefore != nil && memConnected != nil {
		per := func(k string) float64 { return float64(memConnected[k]-memBefore[k]) / float64(max(ready.Load(), 1)) }
		fmt.Printf("server memory per client (after GC): heap %.1f KiB + goroutine stacks %.1f KiB = %.1f KiB; %.1f goroutines per client\n",
			per("heap_inuse")/1024, per("stack_inuse")/1024, (per("heap_inuse")+per("stack_inuse"))/1024, per("goroutines"))
	}
	if pid > 0 { // coarse: the Go runtime returns memory to the system lazily
		fmt.Printf("server RSS: %.1f MiB before the clients, %.1f MiB with them, %.1f MiB at the end\n",
			float64(rssBefore)/(1<<20), float64(rssConnected)/(1<<20), float64(rssEnd)/(1<<20))
	}
	return nil
}

// listen reads one client's stream, noting when each "tiles" event arrives.
func listen(ctx context.Context, c *http.Client, url string, arr *arrivals, ready *atomic.Int64, sem chan struct{}) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/live", nil)
	resp, err := c.Do(req)
	released := false
	release := func() {
		if !released {
			released = true
			<-sem
		}
	}
	defer release()
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	sc := bufio.NewScanner(resp.Body)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = line[len("event: "):]
		case strings.HasPrefix(line, "data: ") && event == "tiles":
			now := time.Now()
			var d struct {
				DataVersion uint64 `json:"data_version"`
			}
			if json.Unmarshal([]byte(line[len("data: "):]), &d) == nil {
				arr.add(d.DataVersion, now)
			}
		case strings.HasPrefix(line, "data: ") && event == "live" && !released:
			release()
			ready.Add(1)
		}
	}
	return sc.Err()
}

// batch is records NDJSON records of the data contract, observed now.
func batch(b, records int, lon, lat float64) []byte {
	var buf bytes.Buffer
	now := time.Now().UTC().Truncate(time.Second).Format(time.RFC3339)
	for i := range records {
		fmt.Fprintf(&buf, `{"observed_at":%q,"lon":%.6f,"lat":%.6f,"visitor_id":"bench-%d-%d"}`+"\n",
			now, lon+float64(i%20)*1e-5, lat+float64(i/20)*1e-5, b, i)
	}
	return buf.Bytes()
}

// memory reads the server's memory figures, nil when not asked for or
// unavailable.
func memory(base, path string) map[string]int64 {
	if path == "" {
		return nil
	}
	resp, err := http.Get(base + path)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var m map[string]int64
	if json.NewDecoder(resp.Body).Decode(&m) != nil {
		return nil
	}
	return m
}

// pct returns the p-quantile of ds (p = 1: the maximum).
func pct(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// rss returns the resident memory of a process in bytes (0 when unknown).
func rss(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
