package main

import (
	"fmt"
	"net"
	"os"
	"time"

	"github.com/flowtiles/flowtiles/internal/app"
)

// ServeCmd is the `flowtiles serve` subcommand.
type ServeCmd struct {
	Listen         string        `help:"Address to listen on." default:"127.0.0.1:8080"`
	DatabaseURL    string        `name:"database-url" env:"DATABASE_URL,FLOWTILES_DATABASE_URL" help:"PostGIS connection URL; none: the embedded Deruta demo data in memory."`
	NoMigrate      bool          `help:"Do not apply the schema migrations at start."`
	MemoryMB       int64         `name:"memory-mb" help:"Memory budget (MiB) for presence rows mirrored from PostGIS; older months are answered by PostGIS. 0: everything in memory." default:"0"`
	K              int64         `name:"k" help:"Privacy threshold: aggregates of fewer distinct people are suppressed." default:"15"`
	TimeZone       string        `name:"tz" help:"The town's time zone (hours, days and dates of filters)." default:"Europe/Rome"`
	IngestToken    []string      `help:"Bearer token(s) accepted by POST /api/ingest (comma-separated); none: the endpoint is off."`
	CacheMB        int64         `name:"cache-mb" help:"Tile cache size (MiB); negative: no cache." default:"256"`
	CORS           []string      `name:"cors" help:"Origins allowed by CORS (comma-separated; * for any)." default:"*"`
	BasemapURL     string        `help:"Optional external basemap style URL (any MapLibre style) drawn under the data on the map pages."`
	Basemap        string        `help:"Optional local PMTiles or MBTiles archive of vector tiles, served as the basemap layer (/tiles/basemap/{z}/{x}/{y}.mvt) with a matching style, under the data on the map pages. None (and no --basemap-url): the reference context (municipal and regional boundaries with names)." type:"existingfile"`
	IngestMaxBytes int64         `help:"Body limit of POST /api/ingest (413 beyond)." default:"16777216"`
	LiveInterval   time.Duration `help:"Period of live events on /api/live." default:"5s"`
	DemoRecords    int           `help:"Size of the embedded demo data (records; 0: the default)." default:"0"`
	DemoSeed       uint64        `help:"Seed of the embedded demo data." default:"1"`
	DemoStart      string        `help:"First day (YYYY-MM-DD) of the embedded demo's eight months; none: the eight months ending today, today's records replayed live as their time comes."`
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
	a, err := app.New(env.Ctx, app.Config{
		DatabaseURL:    c.DatabaseURL,
		NoMigrate:      c.NoMigrate,
		MemoryBytes:    c.MemoryMB << 20,
		K:              c.K,
		TimeZone:       c.TimeZone,
		IngestToken:    c.IngestToken,
		CacheBytes:     c.CacheMB << 20,
		CORSOrigins:    c.CORS,
		BasemapURL:     c.BasemapURL,
		Basemap:        c.Basemap,
		IngestMaxBytes: c.IngestMaxBytes,
		LiveInterval:   c.LiveInterval,
		DemoRecords:    c.DemoRecords,
		DemoSeed:       c.DemoSeed,
		DemoStart:      demoStart,
	}, env.Log)
	if err != nil {
		return err
	}
	defer a.Close()
	return a.Run(env.Ctx, c.Listen, func(addr net.Addr) {
		u := app.BaseURL(addr)
		what := "the embedded Deruta demo data (no DATABASE_URL)"
		if a.Mode != "embedded" {
			what = "PostGIS"
		}
		fmt.Fprintf(os.Stdout, "flowtiles is serving %s.\n  Map:   %s\n  Kiosk: %skiosk\n  Tiles: %stiles\nPress Ctrl+C to stop.\n", what, u, u, u)
	})
}
