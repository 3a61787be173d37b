// Command coldview measures what a planner waits for after changing a
// filter, on a running server: the time until the last tile of the first
// view of a filter new to the server's caches.
//
// A view is the four layers (density, origins, flows, zones) over a
// -cols × -rows tile viewport at zoom -z around -lon/-lat (the town
// centre), fetched -conc requests at a time as a browser does (six
// connections to a host). Each view has a filter the server has not seen:
// the filters cycle through -filters (age bands, gender, nationality,
// weekend mornings…), each over a -months window ending at -to, and the
// window moves back by one day with every view (of every planner), so no
// view shares its filter with another. -planners runs that many planners
// at once, each with its own connections.
//
// It reports the median and worst time to the last tile of a view, per
// filter and overall, and counts the responses by status (5xx among
// them). With -pid (the server's process, on this machine) it also reports
// the CPU time the server spent per view: on a machine busy with other
// work, wall times stretch but CPU time does not.
//
//	go run ./bench/coldview -url http://127.0.0.1:8080 -to 2025-09-01 -views 12 -planners 1
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flowtiles/flowtiles/tiles"
)

// defaultFilters are the filters of the planner: attribute and
// time-of-week filters over a three-month window.
const defaultFilters = "age=35-44;gender=f;days=sat,sun&hours=8-12;nationality=DE;age=18-24,25-34&gender=m;"

type view struct {
	planner, n int
	filter     string // the attribute part
	query      url.Values
}

type result struct {
	filter string
	last   time.Duration // to the last tile
	status map[int]int
	errs   int
}

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "server base URL")
	lon := flag.Float64("lon", 12.4177, "longitude of the viewport's centre (Deruta)")
	lat := flag.Float64("lat", 42.9826, "latitude of the viewport's centre")
	z := flag.Int("z", 14, "zoom of the viewport")
	cols := flag.Int("cols", 6, "tiles across the viewport")
	rows := flag.Int("rows", 4, "tiles down the viewport")
	layers := flag.String("layers", "density,origins,flows,zones", "layers of a view (comma list)")
	conc := flag.Int("conc", 6, "requests in flight per planner (a browser's connections per host)")
	planners := flag.Int("planners", 1, "planners doing cold views at once")
	views := flag.Int("views", 10, "views per planner")
	filters := flag.String("filters", defaultFilters, "attribute filters cycled through (semicolon list; empty: none)")
	to := flag.String("to", "2025-09-01", "end of the first view's window (a date); later views end a day earlier each")
	months := flag.Int("months", 3, "length of the window in months")
	timeout := flag.Duration("timeout", 60*time.Second, "per request")
	pid := flag.Int("pid", 0, "the server's process id, to report its CPU time per view (Linux; 0: not reported)")
	warmup := flag.Bool("warmup", true, "first fetch one view of the whole window with no attribute filter (not counted)")
	flag.Parse()

	end, err := time.Parse(time.DateOnly, *to)
	if err != nil {
		fail("-to: %v", err)
	}
	if *z < 0 || *z > tiles.MaxZoom || *cols <= 0 || *rows <= 0 || *conc <= 0 || *planners <= 0 || *views <= 0 {
		fail("bad -z, -cols, -rows, -conc, -planners or -views")
	}
	centre := tiles.TileAt(uint8(*z), tiles.Project(*lon, *lat))
	var paths []string
	for y := range *rows {
		for x := range *cols {
			t := tiles.TileID{Z: uint8(*z), X: centre.X + uint32(x) - uint32(*cols/2), Y: centre.Y + uint32(y) - uint32(*rows/2)}
			for _, l := range strings.Split(*layers, ",") {
				paths = append(paths, fmt.Sprintf("/tiles/%s/%d/%d/%d.mvt", l, t.Z, t.X, t.Y))
			}
		}
	}
	fs := strings.Split(*filters, ";")
	window := func(shift int) (string, string) {
		e := end.AddDate(0, 0, -shift)
		return e.AddDate(0, -*months, 0).Format(time.DateOnly), e.Format(time.DateOnly)
	}
	mkView := func(p, i int) view {
		shift := i**planners + p + 1
		f := fs[(i**planners+p)%len(fs)]
		q, err := url.ParseQuery(f)
		if err != nil {
			fail("filter %q: %v", f, err)
		}
		from, until := window(shift)
		q.Set("from", from)
		q.Set("to", until)
		return view{planner: p, n: i, filter: f, query: q}
	}

	client := func() *http.Client {
		return &http.Client{Timeout: *timeout, Transport: &http.Transport{
			MaxConnsPerHost: *conc, MaxIdleConnsPerHost: *conc,
		}}
	}
	ctx := context.Background()
	if *warmup {
		from, until := window(0)
		r := fetchView(ctx, client(), *base, paths, url.Values{"from": {from}, "to": {until}}, *conc)
		fmt.Printf("warm-up view (no attribute filter, %s to %s): %v to the last tile, statuses %v\n", from, until, r.last.Round(time.Millisecond), r.status)
	}

	var mu sync.Mutex
	var results []result
	var wg sync.WaitGroup
	cpu0, cpuOK := cpuTime(*pid)
	t0 := time.Now()
	for p := range *planners {
		c := client()
		wg.Go(func() {
			for i := range *views {
				v := mkView(p, i)
				r := fetchView(ctx, c, *base, paths, v.query, *conc)
				r.filter = v.filter
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	wall := time.Since(t0)
	cpu1, _ := cpuTime(*pid)

	fmt.Printf("views of %d tiles (%s × %d×%d at z%d around %.4f,%.4f), %d at a time per planner, %d planner(s) × %d views, %d-month windows ending %s and a day earlier each view; %.1f s in all\n",
		len(paths), *layers, *cols, *rows, *z, *lon, *lat, *conc, *planners, *views, *months, *to, wall.Seconds())
	byFilter := map[string][]time.Duration{}
	var all []time.Duration
	status := map[int]int{}
	errs := 0
	for _, r := range results {
		byFilter[r.filter] = append(byFilter[r.filter], r.last)
		all = append(all, r.last)
		for s, n := range r.status {
			status[s] += n
		}
		errs += r.errs
	}
	fmt.Println()
	fmt.Println("| filter | views | median to the last tile | worst |")
	fmt.Println("|---|---|---|---|")
	names := make([]string, 0, len(byFilter))
	for f := range byFilter {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		name := f
		if name == "" {
			name = "(none)"
		}
		fmt.Printf("| %s | %d | %s | %s |\n", name, len(byFilter[f]), ms(pct(byFilter[f], 50)), ms(pct(byFilter[f], 100)))
	}
	fmt.Printf("| **all** | %d | **%s** | **%s** |\n", len(all), ms(pct(all, 50)), ms(pct(all, 100)))
	fiveXX := 0
	for s, n := range status {
		if s >= 500 {
			fiveXX += n
		}
	}
	codes := make([]int, 0, len(status))
	for s := range status {
		codes = append(codes, s)
	}
	slices.Sort(codes)
	var parts []string
	for _, s := range codes {
		parts = append(parts, fmt.Sprintf("%d: %d", s, status[s]))
	}
	cpu := "–"
	if cpuOK {
		cpu = fmt.Sprintf("%.0f", msf(cpu1-cpu0)/float64(len(all)))
		fmt.Printf("\nserver CPU time: %.1f s in all, %s ms per view\n", (cpu1 - cpu0).Seconds(), cpu)
	}
	fmt.Printf("\nRESULT views=%d median_ms=%.1f worst_ms=%.1f 5xx=%d errors=%d cpu_ms_per_view=%s statuses={%s}\n",
		len(all), msf(pct(all, 50)), msf(pct(all, 100)), fiveXX, errs, cpu, strings.Join(parts, ", "))
}

// fetchView fetches every path with the query, conc at a time, and returns
// the time until the last response was read.
func fetchView(ctx context.Context, c *http.Client, base string, paths []string, q url.Values, conc int) result {
	r := result{status: map[int]int{}}
	var mu sync.Mutex
	next := make(chan string)
	var wg sync.WaitGroup
	t0 := time.Now()
	enc := q.Encode()
	for range conc {
		wg.Go(func() {
			for p := range next {
				code, err := get(ctx, c, base+p+"?"+enc)
				mu.Lock()
				if err != nil {
					r.errs++
				} else {
					r.status[code]++
				}
				mu.Unlock()
			}
		})
	}
	for _, p := range paths {
		next <- p
	}
	close(next)
	wg.Wait()
	r.last = time.Since(t0)
	return r
}

func get(ctx context.Context, c *http.Client, u string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "coldview:", err)
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, err
	}
	if resp.StatusCode >= 500 {
		fmt.Fprintf(os.Stderr, "coldview: %s: %s\n", u, resp.Status)
	}
	return resp.StatusCode, nil
}

// cpuTime returns the user and system CPU time of process pid so far, from
// /proc/pid/stat (in clock ticks, 100 a second on Linux).
func cpuTime(pid int) (time.Duration, bool) {
	if pid <= 0 {
		return 0, false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		fail("-pid: %v", err)
	}
	// the command name (2nd field) may hold spaces: fields count from its ')'
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b)[i+1:])
	if len(f) < 13 {
		fail("-pid: unexpected /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		fail("-pid: unexpected /proc/%d/stat", pid)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, true
}

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", msf(d)) }

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "coldview: "+format+"\n", args...)
	os.Exit(2)
}
