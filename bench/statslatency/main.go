// Command statslatency measures GET /api/stats on a running server: a
// window (30 days unless -days) for one area, by the given groupings. Each request shifts
// the window by one hour so that none is answered from the server's cache
// (the figures are cached per data version); a last series repeats one
// request to show the cached latency. With several servers (-url a,b)
// the uncached series take turns, -block requests at a time: to compare
// builds on a noisy machine, where servers run one after the other met
// different moments of it.
//
//	go run ./bench/statslatency -url http://127.0.0.1:8080 -area zone=centro -to 2025-06-01 -by hour,origin
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

func main() {
	bases := flag.String("url", "http://127.0.0.1:8080", "server base URL; a comma list compares servers side by side (see -block)")
	area := flag.String("area", "zone=centro", "the area parameter")
	to := flag.String("to", time.Now().Format(time.DateOnly), "end of the window (a date; the window is the -days before)")
	days := flag.Int("days", 30, "length of the window in days")
	by := flag.String("by", "hour,origin", "groupings, comma-separated")
	n := flag.Int("n", 20, "requests per grouping (and server)")
	block := flag.Int("block", 10, "with several servers: requests to one server in a row before the next one's turn")
	flag.Parse()
	end, err := time.Parse(time.DateOnly, *to)
	if err != nil {
		fmt.Fprintln(os.Stderr, "statslatency: -to:", err)
		os.Exit(1)
	}
	servers := strings.Split(*bases, ",")
	step := *n
	if len(servers) > 1 {
		step = max(*block, 1)
	}
	for _, b := range strings.Split(*by, ",") {
		cold := make([][]time.Duration, len(servers))
		status := make([]string, len(servers))
		// each server gets the same windows, step at a time in turns (the
		// first of a turn changing every turn): servers up side by side
		// share the machine's moments, fast or slow
		for from := 0; from < *n; from += step {
			for k := range servers {
				si := (k + from/step) % len(servers)
				for i := from; i < min(from+step, *n); i++ {
					u := query(servers[si], *area, b, end.Add(time.Duration(-i)*time.Hour), *days)
					d, st, err := get(u)
					if err != nil {
						fmt.Fprintln(os.Stderr, "statslatency:", err)
						os.Exit(1)
					}
					cold[si], status[si] = append(cold[si], d), st
				}
			}
		}
		for si, base := range servers {
			var warm []time.Duration
			u := query(base, *area, b, end, *days)
			for range *n {
				d, _, _ := get(u)
				warm = append(warm, d)
			}
			name := ""
			if len(servers) > 1 {
				name = base + " "
			}
			fmt.Printf("%sby=%-8s %s: uncached p50 %v p99 %v max %v; cached p50 %v\n", name, b, status[si],
				pct(cold[si], 0.5), pct(cold[si], 0.99), pct(cold[si], 1), pct(warm, 0.5))
		}
	}
}

func query(base, area, by string, end time.Time, days int) string {
	q := url.Values{}
	k, v, _ := strings.Cut(area, "=")
	q.Set(k, v)
	q.Set("from", end.AddDate(0, 0, -days).Format(time.RFC3339))
	q.Set("to", end.Format(time.RFC3339))
	if by != "" && by != "none" {
		q.Set("by", by)
	}
	return base + "/api/stats?" + q.Encode()
}

func get(u string) (time.Duration, string, error) {
	t0 := time.Now()
	resp, err := http.Get(u)
	if err != nil {
		return 0, "", err
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if resp.StatusCode != http.StatusOK {
		return 0, "", fmt.Errorf("%s: %s", u, resp.Status)
	}
	return d, fmt.Sprintf("%s, %d bytes", resp.Status, n), nil
}

func pct(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))].Round(100 * time.Microsecond)
}
