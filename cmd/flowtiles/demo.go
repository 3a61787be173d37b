package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/flowtiles/flowtiles/internal/demo"
	"github.com/flowtiles/flowtiles/internal/presence"
)

// DemoCmd is the `flowtiles demo` subcommand: it writes the deterministic
// demo data set of a demo town (Deruta or Torgiano) in the data contract's
// format, or replays it into a running server as live arrivals.
type DemoCmd struct {
	Town    string `env:"FLOWTILES_DEMO_TOWN" help:"The demo town: deruta (ISTAT 054017) or torgiano (054053)." enum:"deruta,torgiano" default:"deruta"`
	Records int    `env:"FLOWTILES_DEMO_RECORDS" help:"Approximate number of records (0: the town's default set, for Deruta about 300,000 visits and 2 M records from January to August 2025, for Torgiano two fifths of that)." default:"0"`
	Seed    uint64 `env:"FLOWTILES_DEMO_SEED" help:"Seed: the same seed gives the same data, byte for byte (serve's embedded demo uses 1)." default:"1"`
	Months  int    `env:"FLOWTILES_DEMO_MONTHS" help:"Length of the period in months." default:"8"`
	Start   string `env:"FLOWTILES_DEMO_START" help:"First day of the period (YYYY-MM-DD, Europe/Rome)." default:"2025-01-01"`
	Out     string `env:"FLOWTILES_DEMO_OUT" help:"Output file, - for standard output." default:"-" short:"o"`
	Format  string `env:"FLOWTILES_DEMO_FORMAT" help:"Output format." enum:"csv,ndjson" default:"csv"`

	Live  string        `env:"FLOWTILES_DEMO_LIVE" help:"Instead of writing a file, replay arrivals into the server at this base URL (POST /api/ingest), e.g. http://127.0.0.1:8080."`
	Token string        `env:"FLOWTILES_DEMO_TOKEN" help:"Bearer token for the server's POST /api/ingest (with --live): the SECRET of one of its --ingest-token."`
	Every time.Duration `env:"FLOWTILES_DEMO_EVERY" help:"Pause between two posts (with --live)." default:"2s"`
	Weeks int           `env:"FLOWTILES_DEMO_WEEKS" help:"Weeks of data, at the end of the period, kept for the replay (with --live)." default:"3"`
}

// Run runs the subcommand.
func (c *DemoCmd) Run(env *Env) error {
	start, err := time.Parse(time.DateOnly, c.Start)
	if err != nil {
		return fmt.Errorf("demo: --start: %w", err)
	}
	cfg := demo.Config{Town: c.Town, Seed: c.Seed, Records: c.Records, Start: start, Months: c.Months}
	if c.Live != "" {
		return c.replay(env, cfg)
	}
	var w io.Writer = os.Stdout
	var f *os.File
	if c.Out != "-" {
		if f, err = os.Create(c.Out); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		w = f
	}
	t0 := time.Now()
	n, err := demo.Write(w, cfg, c.Format)
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("demo: writing %s: %w", c.Out, err)
	}
	env.Log.Info("demo data written", "town", c.Town, "records", n, "seed", c.Seed, "format", c.Format, "out", c.Out,
		"took", time.Since(t0).Round(time.Millisecond))
	return nil
}

// replay posts the last weeks of the data set to a running server as if
// the visits were happening now (demo.Replay shifts them by whole weeks).
func (c *DemoCmd) replay(env *Env, cfg demo.Config) error {
	if c.Token == "" {
		return errors.New("demo: --live needs --token (one of the server's --ingest-token)")
	}
	var recs []presence.Record
	var last time.Time
	keep := time.Duration(max(c.Weeks, 1)) * 7 * 24 * time.Hour
	err := demo.Generate(cfg, func(r presence.Record) error {
		// records come in time order: drop what falls out of the window
		last = r.ObservedAt
		if len(recs) > 0 && last.Sub(recs[0].ObservedAt) > keep+24*time.Hour {
			cut := 0
			for cut < len(recs) && last.Sub(recs[cut].ObservedAt) > keep {
				cut++
			}
			recs = append(recs[:0], recs[cut:]...)
		}
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return err
	}
	env.Log.Info("replaying the demo's last weeks as live arrivals", "records", len(recs), "url", c.Live, "every", c.Every)
	r := &demo.Replay{URL: c.Live, Token: c.Token, Every: c.Every, Log: env.Log}
	err = r.Run(env.Ctx, recs)
	if errors.Is(err, env.Ctx.Err()) && env.Ctx.Err() != nil {
		return nil // interrupted: a normal end
	}
	return err
}
