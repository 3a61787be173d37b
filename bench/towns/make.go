package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowtiles/flowtiles/internal/db"
	"github.com/flowtiles/flowtiles/internal/demo"
	"github.com/flowtiles/flowtiles/internal/ingest"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/towns"
	"github.com/flowtiles/flowtiles/tiles"
)

// makeOptions say what towns make builds.
type makeOptions struct {
	Towns   int    // towns, at most 92 (Umbria's municipalities)
	Records int    // records wanted per town (kept: those inside it)
	Seed    uint64 // the demo generator's seed
	Start   time.Time
	Months  int
	// Out is the directory of the files: each town's CSV while it is
	// loaded (removed after unless Keep) and the daily batches.
	Out  string
	Keep bool
	// Daily are the codes of the towns whose daily batches are written,
	// for Days days after the period.
	Daily []string
	Days  int
}

// madeTown is a town as built: as stored (its ID), and its records.
type madeTown struct {
	Town     tiles.Town
	Kept     int // records written and loaded
	Dropped  int // generated outside the town
	Loaded   int64
	CSV      string   // its file (removed unless Keep)
	Batches  []string // its daily batch files
	Duration time.Duration
}

func runMake(args []string) error {
	fs := flag.NewFlagSet("towns make", flag.ExitOnError)
	url := fs.String("db", os.Getenv("DATABASE_URL"), "the PostGIS database (migrated if it is not)")
	o := makeOptions{}
	fs.IntVar(&o.Towns, "towns", 50, "towns (real Umbrian municipalities, at most 92)")
	fs.IntVar(&o.Records, "records", 1_000_000, "records per town (about: those generated outside the town are dropped)")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the demo generator")
	start := fs.String("start", "2025-01-01", "first day of the data")
	fs.IntVar(&o.Months, "months", 8, "months of data")
	fs.StringVar(&o.Out, "out", "", "directory for the files (required)")
	fs.BoolVar(&o.Keep, "keep", false, "keep each town's CSV file after loading it")
	daily := fs.String("daily", "deruta,torgiano", "codes of the towns whose daily batches to write (comma list)")
	fs.IntVar(&o.Days, "days", 3, "daily batches per town of -daily: the days after the data's period")
	fs.Parse(args)
	if *url == "" || o.Out == "" {
		return fmt.Errorf("make: -db (or DATABASE_URL) and -out are required")
	}
	var err error
	if o.Start, err = time.Parse(time.DateOnly, *start); err != nil {
		return fmt.Errorf("make: -start: %w", err)
	}
	if *daily != "" {
		o.Daily = strings.Split(*daily, ",")
	}
	ctx := context.Background()
	pool, err := db.Open(ctx, *url, 30*time.Second)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := db.Migrate(ctx, pool); err != nil {
		return err
	}
	fmt.Printf("PARAMS %d %d %d\n", o.Towns, o.Records, o.Seed)
	t0 := time.Now()
	made, err := build(ctx, pool, o, os.Stderr)
	if err != nil {
		return err
	}
	var records int
	var load time.Duration
	for _, m := range made {
		records += m.Kept
		load += m.Duration
		fmt.Printf("TOWN %s %s %.5f %.5f %d\n", m.Town.Code, m.Town.ISTAT, m.Town.Center[0], m.Town.Center[1], m.Kept)
	}
	wall := time.Since(t0)
	fmt.Printf("RESULT towns=%d records=%d load_s=%.1f wall_s=%.1f\n", len(made), records, load.Seconds(), wall.Seconds())
	return nil
}

// build adds o's towns to the database of pool, then generates each
// town's records into a CSV file and loads it with ingest.Loader (the
// next town's file is generated while one loads), then writes the daily
// batches. It logs a line per town to log.
func build(ctx context.Context, pool *pgxpool.Pool, o makeOptions, log io.Writer) ([]madeTown, error) {
	if o.Months == 0 {
		o.Months = 8
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2025, time.January, 1, 0, 0, 0, 0, time.UTC)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	picked, err := pickTowns(o.Towns)
	if err != nil {
		return nil, err
	}
	for _, b := range picked {
		if _, err := towns.Add(ctx, pool, b.Town); err != nil {
			return nil, err
		}
	}
	stored, err := towns.Load(ctx, pool)
	if err != nil {
		return nil, err
	}
	if i := towns.Index(stored, "town"); i >= 0 && len(stored[i].Perimeter) == 0 {
		// the migration's placeholder would own every record outside
		// the towns' perimeters
		if err := towns.Remove(ctx, pool, "town"); err != nil {
			return nil, err
		}
		if stored, err = towns.Load(ctx, pool); err != nil {
			return nil, err
		}
	}
	ix := tiles.NewTownIndex(stored)
	made := make([]madeTown, len(picked))
	want := make([]int, len(picked))
	for i, b := range picked {
		want[i] = towns.Index(stored, b.Town.Code)
		made[i].Town = stored[want[i]]
	}

	// generate the files one town ahead of the loader
	type file struct {
		i   int
		err error
	}
	files := make(chan file, 1)
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(files)
		for i, b := range picked {
			m := &made[i]
			m.CSV = filepath.Join(o.Out, m.Town.Code+".csv")
			cfg := b.config(o.Seed, o.Records, o.Start, o.Months)
			var err error
			m.Kept, m.Dropped, err = writeCSV(m.CSV, func(fn func(*presence.Record, string) error) (int, int, error) {
				return b.generate(cfg, ix, want[i], fn)
			})
			select {
			case files <- file{i, err}:
			case <-gctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	loader := &ingest.Loader{Pool: pool}
	for f := range files {
		if f.err != nil {
			return nil, f.err
		}
		m := &made[f.i]
		res, err := loader.LoadFile(ctx, m.CSV, ingest.Options{})
		if err != nil {
			return nil, fmt.Errorf("loading town %s: %w", m.Town.Code, err)
		}
		m.Loaded, m.Duration = res.Loaded, res.Duration
		if !o.Keep {
			os.Remove(m.CSV)
		}
		fmt.Fprintf(log, "town %d/%d %s (%s, ISTAT %s): %d records loaded in %.1f s (%d generated outside the town, dropped)\n",
			f.i+1, len(made), m.Town.Code, m.Town.Name, m.Town.ISTAT, m.Loaded, m.Duration.Seconds(), m.Dropped)
	}

	for _, code := range o.Daily {
		i := -1
		for j := range made {
			if made[j].Town.Code == code {
				i = j
			}
		}
		if i < 0 {
			continue // a town of -daily beyond -towns
		}
		b, m := picked[i], &made[i]
		for d := range o.Days {
			day := o.Start.AddDate(0, o.Months, d)
			path := filepath.Join(o.Out, fmt.Sprintf("%s-%s.csv", m.Town.Code, day.Format(time.DateOnly)))
			n, _, err := writeCSV(path, func(fn func(*presence.Record, string) error) (int, int, error) {
				n, err := b.daily(o.Seed, o.Records, o.Start, o.Months, day, ix, want[i], fn)
				return n, 0, err
			})
			if err != nil {
				return nil, fmt.Errorf("daily batch of %s: %w", m.Town.Code, err)
			}
			m.Batches = append(m.Batches, path)
			fmt.Fprintf(log, "daily batch %s: %d records\n", path, n)
		}
	}
	return made, nil
}

// writeCSV writes the records gen streams to a CSV file at path, in the
// data contract's format, and returns gen's counts.
func writeCSV(path string, gen func(fn func(*presence.Record, string) error) (int, int, error)) (int, int, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	w := bufio.NewWriterSize(f, 256<<10)
	w.WriteString(demo.CSVHeader + "\n")
	var line []byte
	kept, dropped, err := gen(func(r *presence.Record, id string) error {
		line = demo.AppendCSV(line[:0], r, id)
		_, err := w.Write(line)
		return err
	})
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return 0, 0, fmt.Errorf("writing %s: %w", path, err)
	}
	return kept, dropped, nil
}
