package main

import (
	"fmt"
	"time"

	"github.com/flowtiles/flowtiles/internal/db"
)

// MigrateCmd is the `flowtiles migrate` subcommand.
type MigrateCmd struct {
	Database `embed:""`
}

// Run applies every pending migration and reports the schema version.
func (c *MigrateCmd) Run(env *Env) error {
	pool, err := c.Open(env.Ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	res, err := db.Migrate(env.Ctx, pool)
	if err != nil {
		return err
	}
	for _, r := range res {
		env.Log.Info("migration applied", "version", r.Version, "name", r.Name, "took", r.Duration.Round(time.Millisecond))
	}
	v, err := db.Version(env.Ctx, pool)
	if err != nil {
		return fmt.Errorf("reading the schema version: %w", err)
	}
	if len(res) == 0 {
		env.Log.Info("schema up to date", "version", v)
	} else {
		env.Log.Info("schema migrated", "version", v, "applied", len(res))
	}
	return nil
}
