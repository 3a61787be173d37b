// Command flowtiles serves people-flow tiles, maps and figures for town
// centres. Run `flowtiles --help` for the subcommands; every flag can also be
// set with a FLOWTILES_* environment variable (shown in each --help).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // the town's time zone on machines without zoneinfo

	"github.com/alecthomas/kong"
)

// CLI is the command line of flowtiles: one field per subcommand.
type CLI struct {
	LogLevel  slog.Level `help:"Log level (debug, info, warn, error)." default:"info"`
	LogFormat string     `help:"Log format: text or json." enum:"text,json" default:"text"`

	Serve   ServeCmd   `cmd:"" help:"Serve tiles, styles, stats and the map pages."`
	Migrate MigrateCmd `cmd:"" help:"Apply the database schema (migrations/) to DATABASE_URL."`
	Ingest  IngestCmd  `cmd:"" help:"Load presence records (CSV, GeoJSON or NDJSON) into PostGIS."`
	Areas   AreasCmd   `cmd:"" help:"Manage reference areas: municipalities, countries, zones."`
	Demo    DemoCmd    `cmd:"" help:"Generate the deterministic demo data set of Deruta or Torgiano."`
	Towns   TownsCmd   `cmd:"" help:"Manage the towns served: add, list, remove."`
	Export  ExportCmd  `cmd:"" help:"Write a layer's tiles (zooms, box, filter) to a PMTiles or MBTiles archive, as the server serves them."`
}

// Env is what every subcommand receives: a logger and a context that ends
// on SIGINT or SIGTERM.
type Env struct {
	Ctx context.Context
	Log *slog.Logger
}

func main() {
	var cli CLI
	kctx := kong.Parse(&cli,
		kong.Name("flowtiles"),
		kong.Description("People-flow tiles, maps and figures for town centres."),
		kong.DefaultEnvars("FLOWTILES"),
		kong.UsageOnError(),
	)
	var h slog.Handler
	opts := &slog.HandlerOptions{Level: cli.LogLevel}
	if cli.LogFormat == "json" {
		h = slog.NewJSONHandler(os.Stderr, opts)
	} else {
		h = slog.NewTextHandler(os.Stderr, opts)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &Env{Ctx: ctx, Log: slog.New(h)}
	if err := kctx.Run(env); err != nil {
		fmt.Fprintln(os.Stderr, "flowtiles:", err)
		stop()
		os.Exit(1)
	}
}
