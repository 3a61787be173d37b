package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Probe checks a database for readiness on a connection of its own,
// outside the pool: a pool whose connections are all busy with long
// queries is not an outage, and a check must not queue behind them. Checks
// run one at a time; the connection is opened on the first check and
// again after a failure.
type Probe struct {
	cfg  *pgx.ConnConfig
	sem  chan struct{}
	conn *pgx.Conn // guarded by sem
}

// Health is what a check found.
type Health struct {
	// ReadOnly: the database takes no writes (a standby, or
	// default_transaction_read_only).
	ReadOnly bool
}

// NewProbe returns a probe of the pool's database. Close releases it.
func NewProbe(pool *pgxpool.Pool) *Probe {
	cfg := pool.Config().ConnConfig.Copy()
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = "flowtiles readiness"
	return &Probe{cfg: cfg, sem: make(chan struct{}, 1)}
}

// Check connects if needed and asks whether the database takes writes,
// within ctx.
func (p *Probe) Check(ctx context.Context) (Health, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return Health{}, ctx.Err()
	}
	defer func() { <-p.sem }()
	if p.conn == nil || p.conn.IsClosed() {
		c, err := pgx.ConnectConfig(ctx, p.cfg)
		if err != nil {
			return Health{}, fmt.Errorf("connecting: %w", err)
		}
		p.conn = c
	}
	var ro string
	if err := p.conn.QueryRow(ctx, "SELECT current_setting('transaction_read_only')").Scan(&ro); err != nil {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		p.conn.Close(cctx) // a clean close if the server still listens
		cancel()
		p.conn = nil
		return Health{}, err
	}
	return Health{ReadOnly: ro == "on"}, nil
}

// Close closes the probe's connection.
func (p *Probe) Close() {
	p.sem <- struct{}{}
	defer func() { <-p.sem }()
	if p.conn != nil {
		p.conn.Close(context.Background())
		p.conn = nil
	}
}
