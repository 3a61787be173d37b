package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/flowtiles/flowtiles/internal/app"
)

// ServeCmd is the `flowtiles serve` subcommand.
type ServeCmd struct {
	Listen         string        `help:"Address to listen on." default:"127.0.0.1:8080"`
	DatabaseURL    string        `name:"database-url" env:"DATABASE_URL,FLOWTILES_DATABASE_URL" help:"PostGIS connection URL; none: the embedded demo data (Deruta and Torgiano) in memory."`
	NoMigrate      bool          `help:"Do not apply the schema migrations at start."`
	MemoryMB       int64         `name:"memory-mb" help:"Memory budget (MiB) for presence rows mirrored from PostGIS; older months are answered by PostGIS. 0: everything in memory." default:"0"`
	K              int64         `name:"k" help:"Privacy threshold: figures about fewer distinct people are withheld (at least 5)." default:"15"`
	NoiseD         int64         `name:"noise-d" help:"Perturbation of published counts: the noise of small counts is at most ±D (at least 2)." default:"5"`
	NoiseGrowth    float64       `name:"noise-growth" help:"Perturbation of published counts: the noise bound of a count n grows to GROWTH·√n (0-2)." default:"0.5"`
	TimeZone       string        `name:"tz" help:"The town's time zone (hours, days and dates of filters)." default:"Europe/Rome"`
	IngestToken    []string      `help:"Bearer token(s) accepted by POST /api/ingest (comma-separated); none: the endpoint is off. TOWN:SECRET is a token of one town (a town code before the first ':'; its batches may hold only that town's records, its Idempotency-Keys are the town's); SECRET without ':', or *:SECRET, a token of every town. Clients send the SECRET."`
	CacheMB        int64         `name:"cache-mb" help:"Tile cache size (MiB); 0: no tile cache (the per-filter aggregates, whose budget every town shares, are kept); negative: no cache, of tiles nor of the per-filter aggregates." default:"256"`
	CORS           []string      `name:"cors" help:"Origins allowed by CORS (comma-separated; * for any)." default:"*"`
	BasemapURL     string        `help:"Optional external basemap style URL (any MapLibre style) drawn under the data on the map pages."`
	Basemap        string        `help:"Optional local PMTiles or MBTiles archive of vector tiles, served as the basemap layer (/tiles/basemap/{z}/{x}/{y}.mvt) with a matching style, under the data on the map pages. None (and no --basemap-url): the reference context (municipal and regional boundaries with names)." type:"existingfile"`
	IngestMaxBytes int64         `help:"Body limit of POST /api/ingest (413 beyond)." default:"16777216"`
	LiveInterval   time.Duration `help:"Period of live events on /api/live." default:"5s"`
	DemoRecords    int           `help:"Size of the embedded demo data (records; 0: the default)." default:"0"`
	DemoSeed       uint64        `help:"Seed of the embedded demo data." default:"1"`
	DemoStart      string        `help:"First day (YYYY-MM-DD) of the embedded demo's eight months; none: the eight months ending today, today's records replayed live as their time comes."`

	IngestCORS        []string `name:"ingest-cors" help:"Origins allowed to POST /api/ingest from a browser (comma-separated); none: no CORS on it, whatever --cors says."`
	TrustedProxies    []string `help:"Addresses or CIDR ranges of reverse proxies whose X-Forwarded-For/-Host/-Proto/-Prefix headers are believed (comma-separated); none: those headers are ignored."`
	MetricsListen     string   `help:"Address to serve /metrics on (e.g. 127.0.0.1:9090); 'main' serves it on --listen, public; none: no metrics."`
	MaxConns          int      `help:"Open connections at most (0: 4096, fewer when the file descriptor limit is lower); more wait in the kernel's queue." default:"0"`
	MaxConnsPerClient int      `help:"Open connections per client address at most (trusted proxies exempt); more are answered 503. Negative: no cap." default:"64"`

	HeavySlots       int           `help:"Heavy requests (uncached tiles, stats) run at once at most; more wait in a queue served in turn across client addresses. 0: one fewer than the processors (GOMAXPROCS at start; the server runs one more for light requests), at least 1." default:"0"`
	QueueWait        time.Duration `help:"How long a heavy request waits for a slot before it is answered 503 with Retry-After." default:"5s"`
	TileTimeout      time.Duration `help:"How long the rendering of one uncached tile may take once it has a slot, before it is answered 503 with Retry-After." default:"10s"`
	StatementTimeout time.Duration `help:"statement_timeout of the PostgreSQL pool's connections (negative: the server's setting)." default:"30s"`
	Towns            []string      `help:"Codes of the towns to serve (comma-separated; see flowtiles towns list), the first the default of paths without a /t/{town}/ prefix; none: every town of the database (without a database the demo's, deruta and torgiano)."`
}

// parsePrefixes reads addresses and CIDR ranges.
func parsePrefixes(flag string, list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, l := range list {
		for _, v := range strings.Split(l, ",") {
			if v = strings.TrimSpace(v); v == "" {
				continue
			}
			if p, err := netip.ParsePrefix(v); err == nil {
				out = append(out, p.Masked())
				continue
			}
			a, err := netip.ParseAddr(v)
			if err != nil {
				return nil, fmt.Errorf("%s %q: want an IP address or a CIDR range such as 10.0.0.0/8", flag, v)
			}
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out, nil
}

// Run runs the subcommand.
func (c *ServeCmd) Run(env *Env) error {
	var demoStart time.Time
	if c.DemoStart != "" {
		t, err := time.Parse(time.DateOnly, c.DemoStart)
		if err != nil {
			return fmt.Errorf("--demo-start %q: want a date YYYY-MM-DD", c.DemoStart)
		}
		demoStart = t
	}
	proxies, err := parsePrefixes("--trusted-proxies", c.TrustedProxies)
	if err != nil {
		return err
	}
	if c.HeavySlots < 0 {
		return fmt.Errorf("--heavy-slots %d: want 1 or more (0: the default)", c.HeavySlots)
	}
	heavySlots := c.HeavySlots
	if procs := keepLightProcessor(); heavySlots == 0 {
		heavySlots = max(1, procs-1) // admit.DefaultSlots before the light processor
	}
	if c.TileTimeout <= 0 {
		return fmt.Errorf("--tile-timeout %v: want a positive duration such as 10s", c.TileTimeout)
	}
	if c.QueueWait <= 0 {
		return fmt.Errorf("--queue-wait %v: want a positive duration such as 5s", c.QueueWait)
	}
	if m := c.MetricsListen; m != "" && m != app.MetricsOnMain {
		if _, _, err := net.SplitHostPort(m); err != nil {
			return fmt.Errorf("--metrics-listen %q: want an address such as 127.0.0.1:9090, or main", m)
		}
	}
	a, err := app.New(env.Ctx, app.Config{
		DatabaseURL:    c.DatabaseURL,
		NoMigrate:      c.NoMigrate,
		MemoryBytes:    c.MemoryMB << 20,
		K:              c.K,
		NoiseD:         c.NoiseD,
		NoiseGrowth:    c.NoiseGrowth,
		TimeZone:       c.TimeZone,
		IngestToken:    c.IngestToken,
		CacheBytes:     c.CacheMB << 20,
		NoTileCache:    c.CacheMB == 0,
		CORSOrigins:    c.CORS,
		BasemapURL:     c.BasemapURL,
		Basemap:        c.Basemap,
		IngestMaxBytes: c.IngestMaxBytes,
		LiveInterval:   c.LiveInterval,
		DemoRecords:    c.DemoRecords,
		DemoSeed:       c.DemoSeed,
		DemoStart:      demoStart,

		IngestCORSOrigins: c.IngestCORS,
		TrustedProxies:    proxies,
		MetricsListen:     c.MetricsListen,
		MaxConns:          c.MaxConns,
		MaxConnsPerClient: c.MaxConnsPerClient,
		HeavySlots:        heavySlots,
		QueueWait:         c.QueueWait,
		StatementTimeout:  c.StatementTimeout,
		TileTimeout:       c.TileTimeout,
		Towns:             c.Towns,
	}, env.Log)
	if err != nil {
		return err
	}
	defer a.Close()
	tightenGC() // once loaded: the load itself is quicker at Go's default
	return a.Run(env.Ctx, c.Listen, func(addr net.Addr) {
		u := app.BaseURL(addr)
		what := "the embedded demo data (no DATABASE_URL)"
		if a.Mode != "embedded" {
			what = "PostGIS"
		}
		var b strings.Builder
		ts := a.Towns()
		names := make([]string, len(ts))
		for i, t := range ts {
			names[i] = t.Name
		}
		fmt.Fprintf(&b, "flowtiles is serving %s for %s.\n", what, strings.Join(names, ", "))
		if len(ts) > 1 {
			fmt.Fprintf(&b, "  Towns: %s\n", u)
		}
		for _, t := range ts {
			tu := fmt.Sprintf("%st/%s/", u, t.Code)
			if len(ts) > 1 {
				fmt.Fprintf(&b, "  %s:\n", t.Name)
			}
			fmt.Fprintf(&b, "  Map:   %s\n  Kiosk: %skiosk\n", tu, tu)
		}
		fmt.Fprintf(&b, "  Tiles: %stiles\nPress Ctrl+C to stop.\n", u)
		fmt.Fprint(os.Stdout, b.String())
	})
}
