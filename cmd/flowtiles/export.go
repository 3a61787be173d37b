package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"

	"github.com/flowtiles/flowtiles/internal/app"
	"github.com/flowtiles/flowtiles/internal/export"
)

// ExportCmd is the `flowtiles export` subcommand: the tiles of one layer
// to a PMTiles or MBTiles archive, exactly as `serve` with the same data
// and settings serves them.
type ExportCmd struct {
	Out     string `arg:"" name:"file" help:"The archive to write: FILE.pmtiles or FILE.mbtiles (replaced whole when the export succeeds)."`
	Layer   string `help:"The layer: density, origins, flows or zones." required:""`
	MinZoom int    `name:"minzoom" help:"Lowest zoom." default:"12"`
	MaxZoom int    `name:"maxzoom" help:"Highest zoom." default:"16"`
	BBox    string `name:"bbox" help:"west,south,east,north in degrees; none: the layer's bounds."`
	Filter  string `help:"Filters as on tile URLs, e.g. 'from=2025-03-01&to=2025-04-01&gender=f' (also bins=square for density)."`
	Town    string `help:"The town whose tiles to export (its code: deruta or torgiano in the embedded demo); none: the first town."`

	DatabaseURL string  `name:"database-url" env:"DATABASE_URL,FLOWTILES_DATABASE_URL" help:"PostGIS connection URL; none: the embedded demo data in memory."`
	K           int64   `name:"k" help:"Privacy threshold, as on the server." default:"15"`
	NoiseD      int64   `name:"noise-d" help:"Noise bound of small counts, as on the server." default:"5"`
	NoiseGrowth float64 `name:"noise-growth" help:"Growth of the noise bound, as on the server." default:"0.5"`
	TimeZone    string  `name:"tz" help:"The town's time zone." default:"Europe/Rome"`
	DemoRecords int     `help:"Size of the embedded demo data (records; 0: the default)." default:"0"`
	DemoSeed    uint64  `help:"Seed of the embedded demo data." default:"1"`
	DemoStart   string  `help:"First day (YYYY-MM-DD) of the embedded demo's eight months; none: the eight months ending today."`
	Progress    string  `help:"Progress display: auto (a bar on a terminal), bar, none." enum:"auto,bar,none" default:"auto"`
}

// quiet passes on warnings and errors only: the server's access log of
// every exported tile is noise.
func quiet(log *slog.Logger) *slog.Logger {
	return slog.New(minLevel{log.Handler(), slog.LevelWarn})
}

type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

// Run runs the subcommand.
func (c *ExportCmd) Run(env *Env) error {
	if _, err := export.FormatOf(c.Out); err != nil {
		return err
	}
	q, err := url.ParseQuery(c.Filter)
	if err != nil {
		return fmt.Errorf("--filter %q: %v", c.Filter, err)
	}
	var bbox [4]float64
	if c.BBox != "" {
		parts := strings.Split(c.BBox, ",")
		if len(parts) != 4 {
			return fmt.Errorf("--bbox %q: want west,south,east,north", c.BBox)
		}
		for i, p := range parts {
			if bbox[i], err = strconv.ParseFloat(strings.TrimSpace(p), 64); err != nil {
				return fmt.Errorf("--bbox %q: %q is not a number", c.BBox, p)
			}
		}
	}
	var demoStart time.Time
	if c.DemoStart != "" {
		if demoStart, err = time.Parse(time.DateOnly, c.DemoStart); err != nil {
			return fmt.Errorf("--demo-start %q: want a date YYYY-MM-DD", c.DemoStart)
		}
	}
	var towns []string
	if c.Town != "" {
		if v := q.Get("town"); v != "" && v != c.Town {
			return fmt.Errorf("--town %s and --filter town=%s: name one town", c.Town, v)
		}
		// only the town's records are loaded; every tile is asked for it
		towns = []string{c.Town}
		q.Set("town", c.Town)
	}
	a, err := app.New(env.Ctx, app.Config{
		Towns: towns, DatabaseURL: c.DatabaseURL, NoMigrate: true, K: c.K, NoiseD: c.NoiseD, NoiseGrowth: c.NoiseGrowth,
		TimeZone: c.TimeZone, DemoRecords: c.DemoRecords, DemoSeed: c.DemoSeed, DemoStart: demoStart,
		CacheBytes: -1, // every tile is asked once
	}, quiet(env.Log))
	if err != nil {
		return err
	}
	defer a.Close()
	cfg := export.Config{Handler: a.Handler(), Layer: c.Layer, MinZoom: c.MinZoom, MaxZoom: c.MaxZoom, BBox: bbox, Query: q}
	mode := c.Progress
	if mode == "auto" {
		mode = "none"
		if isatty.IsTerminal(os.Stderr.Fd()) || isatty.IsCygwinTerminal(os.Stderr.Fd()) {
			mode = "bar"
		}
	}
	var bar *progressbar.ProgressBar
	if mode == "bar" {
		cfg.Progress = func(done, total int) {
			if bar == nil {
				bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription("tiles"),
					progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
			}
			bar.Set(done)
		}
	}
	res, err := export.Write(env.Ctx, cfg, c.Out)
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "%s: %d tiles with features of %d (%s, zooms %d-%d, data version %d), %d bytes\n",
		c.Out, res.Tiles, res.Requested, c.Layer, c.MinZoom, c.MaxZoom, res.DataVersion, res.Bytes)
	return nil
}
