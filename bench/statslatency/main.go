// Command statslatency measures GET /api/stats on a running server: a
// window (30 days unless -days) for one area, by the given groupings. Each request shifts
// the window by one hour so that none is answered from the server's cache
// (the figures are cached per data version); a last series repeats one
// request to show the cached latency.
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
	base := flag.String("url", "http://127.0.0.1:8080", "server base URL")
	area := flag.String("area", "zone=centro", "the area parameter")
	to := flag.String("to", time.Now().Format(time.DateOnly), "end of the window (a date; the window is the -days before)")
	days := flag.Int("days", 30, "length of the window in days")
	by := flag.String("by", "hour,origin", "groupings, comma-separated")
	n := flag.Int("n", 20, "requests per grouping")
	flag.Parse()
	end, err := time.Parse(time.DateOnly, *to)
	if err != nil {
		fmt.Fprintln(os.Stderr, "statslatency: -to:", err)
		os.Exit(1)
	}
	for _, b := range strings.Split(*by, ",") {
		var cold []time.Duration
		var status string
		for i := range *n {
			u := query(*base, *area, b, end.Add(time.Duration(-i)*time.Hour), *days)
			d, st, err := get(u)
			if err != nil {
				fmt.Fprintln(os.Stderr, "statslatency:", err)
				os.Exit(1)
			}
			cold, status = append(cold, d), st
		}
		var warm []time.Duration
		u := query(*base, *area, b, end, *days)
		for range *n {
			d, _, _ := get(u)
			warm = append(warm, d)
		}
		fmt.Printf("by=%-8s %s: uncached p50 %v p99 %v max %v; cached p50 %v\n", b, status,
			pct(cold, 0.5), pct(cold, 0.99), pct(cold, 1), pct(warm, 0.5))
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
