package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/flowtiles/flowtiles/internal/areas"
	"github.com/flowtiles/flowtiles/internal/db"
)

// AreasCmd is the `flowtiles areas` subcommand.
type AreasCmd struct {
	Import AreasImportCmd `cmd:"" help:"Import reference areas from GeoJSON: ISTAT municipalities (provinces are derived from them), regions, Natural Earth countries, or a town's zones (at most 16 per town; replaces that town's)."`
	List   AreasListCmd   `cmd:"" help:"Count the reference areas in the database, per level."`
}

// AreasImportCmd is `flowtiles areas import [--kind K] FILE...`.
type AreasImportCmd struct {
	Files    []string `arg:"" type:"existingfile" help:"GeoJSON FeatureCollections of Polygons/MultiPolygons."`
	Kind     string   `help:"What the files hold (auto: recognised from the properties)." enum:"auto,municipalities,regions,countries,zones" default:"auto"`
	Town     string   `help:"The town whose zones a zone file replaces (its code; default: the only town of a database of one). A zone outside the town's perimeter is refused."`
	Database `embed:""`
}

// Run imports each file in its own transaction. A file that fails does not
// stop the others; the command fails if any did.
func (c *AreasImportCmd) Run(env *Env) error {
	kind, err := areas.ParseKind(c.Kind)
	if err != nil {
		return err
	}
	pool, err := c.Open(env.Ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	im := &areas.Importer{Pool: pool, Town: c.Town}
	failed := 0
	for _, file := range c.Files {
		res, err := im.ImportFile(env.Ctx, file, kind)
		for _, w := range res.Warnings {
			env.Log.Warn(w)
		}
		if err != nil {
			failed++
			fmt.Fprintln(os.Stderr, db.SchemaError(err))
			if env.Ctx.Err() != nil {
				break
			}
			continue
		}
		msg := fmt.Sprintf("%s: %d %s", file, res.Areas, res.Kind)
		switch res.Kind {
		case areas.Municipalities:
			msg += fmt.Sprintf(", %d provinces rebuilt", res.Provinces)
		case areas.Zones:
			msg += fmt.Sprintf(" of town %s, %d of its presence records moved to other zones", res.Town, res.Recoded)
		}
		if len(res.Warnings) > 0 {
			msg += fmt.Sprintf(", %d features skipped", len(res.Warnings))
		}
		fmt.Printf("%s in %s\n", msg, res.Duration.Round(time.Millisecond))
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d files not imported", failed, len(c.Files))
	}
	return nil
}

// AreasListCmd is `flowtiles areas list`.
type AreasListCmd struct {
	Database `embed:""`
}

// Run prints the number of areas per level, and each town's zones by name.
func (c *AreasListCmd) Run(env *Env) error {
	pool, err := c.Open(env.Ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	for _, t := range []struct{ label, table string }{
		{"regions", "region"}, {"provinces", "province"}, {"municipalities", "municipality"},
		{"countries", "country"}, {"zones", "zone"},
	} {
		var n int64
		if err := pool.QueryRow(env.Ctx, "SELECT count(*) FROM "+t.table).Scan(&n); err != nil {
			return fmt.Errorf("counting %s: %w", t.label, db.SchemaError(err))
		}
		fmt.Printf("%-15s %6d\n", t.label, n)
	}
	rows, err := pool.Query(env.Ctx, "SELECT t.code, z.id, z.name FROM zone z JOIN town t ON t.id = z.town ORDER BY t.id, z.id")
	if err != nil {
		return fmt.Errorf("listing zones: %w", err)
	}
	defer rows.Close()
	var (
		towns []string
		names = map[string][]string{}
	)
	for rows.Next() {
		var (
			town, name string
			id         int16
		)
		if err := rows.Scan(&town, &id, &name); err != nil {
			return fmt.Errorf("listing zones: %w", err)
		}
		if names[town] == nil {
			towns = append(towns, town)
		}
		names[town] = append(names[town], fmt.Sprintf("%d=%s", id, name))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("listing zones: %w", err)
	}
	for _, town := range towns {
		fmt.Printf("zones of %s: %s\n", town, strings.Join(names[town], " "))
	}
	return nil
}
