package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"

	"github.com/flowtiles/flowtiles/internal/ingest"
	"github.com/flowtiles/flowtiles/internal/presence"
)

// IngestCmd is the `flowtiles ingest` subcommand.
type IngestCmd struct {
	Files       []string `arg:"" help:"Files of presence records: CSV with a header, GeoJSON FeatureCollection of Points, or NDJSON (one object per line); gzip-compressed files (.gz) too."`
	Database    `embed:""`
	Format      string `help:"Input format (auto: from the file extension, else the content)." enum:"auto,csv,geojson,ndjson" default:"auto"`
	SkipInvalid bool   `help:"Load the valid rows of a file with invalid ones, writing those to FILE.rejects.csv; without it such a file is rejected whole."`
	MaxErrors   int    `help:"Invalid rows listed per file (all are counted)." default:"50"`
	Progress    string `help:"Progress display: auto (a bar on a terminal, log lines otherwise), bar, log or none." enum:"auto,bar,log,none" default:"auto"`

	stdout, stderr io.Writer // os.Stdout and os.Stderr when nil (tests set them)
}

// Run loads each file as one batch. A file that fails does not stop the
// others; the command fails if any did.
func (c *IngestCmd) Run(env *Env) error {
	stdout, stderr := c.stdout, c.stderr
	if stdout == nil {
		stdout = os.Stdout
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	format, err := presence.ParseFormat(c.Format)
	if err != nil {
		return err
	}
	pool, err := c.Open(env.Ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	loader := &ingest.Loader{Pool: pool}
	mode := c.Progress
	if mode == "auto" {
		mode = "log"
		if isatty.IsTerminal(os.Stderr.Fd()) || isatty.IsCygwinTerminal(os.Stderr.Fd()) {
			mode = "bar"
		}
	}
	failed := 0
	for _, file := range c.Files {
		prog := newProgress(mode, file, env.Log)
		res, err := loader.LoadFile(env.Ctx, file, ingest.Options{
			Format: format, SkipInvalid: c.SkipInvalid, MaxErrors: c.MaxErrors, Progress: prog.update,
		})
		prog.close()
		if err != nil {
			failed++
			report(stderr, res, err)
			if env.Ctx.Err() != nil {
				break
			}
			continue
		}
		switch {
		case res.Duplicate:
			fmt.Fprintf(stdout, "%s: already loaded (sha256 %.12s…): nothing written\n", file, res.Checksum)
		default:
			rate := float64(res.Loaded) / max(res.Duration.Seconds(), 1e-3)
			fmt.Fprintf(stdout, "%s: loaded %d rows (%d people, %s to %s) as batch %d in %s, %.0f rows/s\n", file, res.Loaded, res.Weight,
				res.From.UTC().Format(time.RFC3339), res.To.UTC().Format(time.RFC3339), res.Batch, res.Duration.Round(time.Millisecond), rate)
			if res.Rejected > 0 {
				fmt.Fprintf(stdout, "%s: skipped %d invalid rows, written to %s\n", file, res.Rejected, res.Rejects)
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d files not loaded", failed, len(c.Files))
	}
	return nil
}

// report prints why a file was not loaded: every listed row error, then
// a summary.
func report(w io.Writer, res *ingest.Result, err error) {
	var inv *ingest.InvalidError
	if errors.As(err, &inv) {
		for _, e := range inv.Errors {
			fmt.Fprintln(w, e)
		}
		if more := inv.Count - int64(len(inv.Errors)); more > 0 {
			fmt.Fprintf(w, "%s: … and %d more invalid rows\n", inv.File, more)
		}
	}
	fmt.Fprintln(w, err)
	if res != nil && res.Batch != 0 {
		fmt.Fprintf(w, "%s: recorded as rejected batch %d\n", res.File, res.Batch)
	}
}

// progress shows a load's progress: a bar with rows/s on a terminal, a log
// line every few seconds otherwise.
type progress struct {
	mode  string
	file  string
	log   *slog.Logger
	bar   *progressbar.ProgressBar
	phase string
	start time.Time
	last  time.Time
}

func newProgress(mode, file string, log *slog.Logger) *progress {
	return &progress{mode: mode, file: file, log: log, start: time.Now()}
}

const logEvery = 5 * time.Second

func (p *progress) update(u ingest.Progress) {
	if p.mode == "none" {
		return
	}
	now := time.Now()
	if u.Phase != p.phase {
		p.close()
		if p.phase != "" {
			p.start = now // the previous phase ended with its last report
		}
		p.phase, p.last = u.Phase, now
		if p.mode == "bar" {
			verb := map[string]string{"validate": "validating", "load": "loading"}[u.Phase]
			p.bar = progressbar.NewOptions64(u.Total,
				progressbar.OptionSetWriter(os.Stderr),
				progressbar.OptionSetDescription(verb+" "+p.file),
				progressbar.OptionShowBytes(true),
				progressbar.OptionSetWidth(30),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionShowDescriptionAtLineEnd(),
				progressbar.OptionClearOnFinish(),
			)
		}
	}
	rate := float64(u.Rows) / max(now.Sub(p.start).Seconds(), 1e-3)
	switch p.mode {
	case "bar":
		verb := map[string]string{"validate": "validating", "load": "loading"}[u.Phase]
		p.bar.Describe(fmt.Sprintf("%s %s: %d rows, %.0f rows/s", verb, p.file, u.Rows, rate))
		_ = p.bar.Set64(u.Bytes)
	case "log":
		if u.Done || now.Sub(p.last) >= logEvery {
			p.last = now
			pct := 100.0
			if u.Total > 0 {
				pct = 100 * float64(u.Bytes) / float64(u.Total)
			}
			p.log.Info("ingest", "file", p.file, "phase", u.Phase, "rows", u.Rows, "rows_per_s", int64(rate),
				"percent", fmt.Sprintf("%.0f", pct), "done", u.Done)
		}
	}
}

func (p *progress) close() {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}
