package main

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowtiles/flowtiles/internal/db"
)

// Database is the connection of the subcommands that need PostGIS
// (embedded in each): DATABASE_URL, or FLOWTILES_DATABASE_URL like every
// other flag.
type Database struct {
	DatabaseURL string        `name:"database-url" env:"DATABASE_URL,FLOWTILES_DATABASE_URL" required:"" help:"PostGIS connection URL."`
	Timeout     time.Duration `help:"How long to wait for the database to answer." default:"10s"`
}

// Open connects to the database.
func (d *Database) Open(ctx context.Context) (*pgxpool.Pool, error) {
	return db.Open(ctx, d.DatabaseURL, d.Timeout)
}
