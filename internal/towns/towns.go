// Package towns keeps the town table: the towns a deployment serves, as
// data (names, perimeter, time zone, default view, disclosure parameters,
// kiosk settings). `flowtiles towns add|list|remove` and the server's
// start-up use it.
package towns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"

	"github.com/flowtiles/flowtiles/internal/db"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/wkbgeom"
	"github.com/flowtiles/flowtiles/tiles"
)

// Querier is what Load reads with: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// ErrNoTowns is Load's error for a database without towns.
var ErrNoTowns = errors.New("the database has no towns: add one with `flowtiles towns add CODE --istat ISTAT`")

// Load reads every town, by id.
func Load(ctx context.Context, q Querier) ([]tiles.Town, error) {
	rows, err := q.Query(ctx, `SELECT id, code, coalesce(istat_code, ''), name, names, coalesce(population, 0),
		ST_AsBinary(perimeter), buffer_m, time_zone, center_lon, center_lat, coalesce(zoom, 0),
		coalesce(k, 0), coalesce(noise_d, 0), coalesce(noise_growth, 0), kiosk
		FROM town ORDER BY id`)
	if err != nil {
		return nil, db.Wrap(ctx, "reading the towns", db.SchemaError(err))
	}
	defer rows.Close()
	var out []tiles.Town
	for rows.Next() {
		var (
			t          tiles.Town
			names      []byte
			perimeter  []byte
			buffer     float32
			zoom       float32
			growth     float32
			lon, lat   *float64
			kiosk      []byte
			population int64
		)
		if err := rows.Scan(&t.ID, &t.Code, &t.ISTAT, &t.Name, &names, &population, &perimeter, &buffer,
			&t.TimeZone, &lon, &lat, &zoom, &t.K, &t.NoiseD, &growth, &kiosk); err != nil {
			return nil, db.Wrap(ctx, "reading the towns", err)
		}
		t.Population, t.Buffer, t.Zoom, t.NoiseGrowth = population, float64(buffer), float64(zoom), float64(growth)
		if lon != nil && lat != nil {
			t.Center = orb.Point{*lon, *lat}
		}
		if err := json.Unmarshal(names, &t.Names); err != nil {
			return nil, fmt.Errorf("town %s: names: %w", t.Code, err)
		}
		if err := json.Unmarshal(kiosk, &t.Kiosk); err != nil {
			return nil, fmt.Errorf("town %s: kiosk: %w", t.Code, err)
		}
		if perimeter != nil {
			if t.Perimeter, err = wkbgeom.MultiPolygon(perimeter); err != nil {
				return nil, fmt.Errorf("town %s: perimeter: %w", t.Code, err)
			}
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, db.Wrap(ctx, "reading the towns", err)
	}
	if len(out) == 0 {
		return nil, ErrNoTowns
	}
	return out, nil
}

// Select returns the towns of all whose codes are listed, in the order of
// codes (every town when codes is empty), or an error naming the codes that
// are no town's.
func Select(all []tiles.Town, codes []string) ([]tiles.Town, error) {
	if len(codes) == 0 {
		return all, nil
	}
	var out []tiles.Town
	var unknown []string
	for _, c := range codes {
		i := Index(all, c)
		if i < 0 {
			unknown = append(unknown, c)
			continue
		}
		out = append(out, all[i])
	}
	if len(unknown) > 0 {
		known := make([]string, len(all))
		for i, t := range all {
			known[i] = t.Code
		}
		return nil, fmt.Errorf("unknown town %s (the towns are %s)", strings.Join(unknown, ", "), strings.Join(known, ", "))
	}
	return out, nil
}

// Index returns the index of the town with code in ts, or -1.
func Index(ts []tiles.Town, code string) int {
	for i, t := range ts {
		if t.Code == code {
			return i
		}
	}
	return -1
}

// Add creates the town t, or updates the town with its code. With an ISTAT
// code, the name (when t has none), population and perimeter come from the
// municipality in the database's reference areas (`flowtiles areas
// import`), or else from the reference data built into flowtiles. It
// returns the town as stored.
func Add(ctx context.Context, pool *pgxpool.Pool, t tiles.Town) (tiles.Town, error) {
	if t.ISTAT != "" {
		if err := fromMunicipality(ctx, pool, &t); err != nil {
			return t, err
		}
	}
	if t.TimeZone == "" {
		t.TimeZone = "Europe/Rome"
	}
	if err := t.Validate(); err != nil {
		return t, fmt.Errorf("town %s: %w", t.Code, err)
	}
	names, err := json.Marshal(nonNil(t.Names))
	if err != nil {
		return t, err
	}
	kiosk, err := json.Marshal(t.Kiosk)
	if err != nil {
		return t, err
	}
	var perimeter []byte
	if len(t.Perimeter) > 0 {
		if perimeter, err = wkb.Marshal(t.Perimeter); err != nil {
			return t, err
		}
	}
	var lon, lat *float64
	if t.Center != (orb.Point{}) {
		lon, lat = &t.Center[0], &t.Center[1]
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// one writer at a time picks the next id
		if _, err := tx.Exec(ctx, "LOCK TABLE town IN SHARE ROW EXCLUSIVE MODE"); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO town AS t (id, code, istat_code, name, names, population, perimeter,
				buffer_m, time_zone, center_lon, center_lat, zoom, k, noise_d, noise_growth, kiosk)
			VALUES ((SELECT coalesce(max(id) + 1, 0) FROM town), $1, nullif($2, ''), $3, $4, nullif($5, 0),
				ST_Multi(ST_SetSRID(ST_GeomFromWKB($6), 4326)), $7, $8, $9, $10, nullif($11, 0),
				nullif($12, 0), nullif($13, 0), nullif($14, 0), $15)
			ON CONFLICT (code) DO UPDATE SET istat_code = excluded.istat_code, name = excluded.name,
				names = excluded.names, population = excluded.population, perimeter = excluded.perimeter,
				buffer_m = excluded.buffer_m, time_zone = excluded.time_zone, center_lon = excluded.center_lon,
				center_lat = excluded.center_lat, zoom = excluded.zoom, k = excluded.k, noise_d = excluded.noise_d,
				noise_growth = excluded.noise_growth, kiosk = excluded.kiosk
			RETURNING id`,
			t.Code, t.ISTAT, t.Name, names, t.Population, perimeter, t.Buffer, t.TimeZone, lon, lat, t.Zoom,
			t.K, t.NoiseD, t.NoiseGrowth, kiosk).Scan(&t.ID)
	})
	if err != nil {
		if db.UniqueViolation(err) {
			return t, fmt.Errorf("town %s: ISTAT code %s is already another town's", t.Code, t.ISTAT)
		}
		return t, db.Wrap(ctx, "adding town "+t.Code, db.SchemaError(err))
	}
	return t, nil
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// fromMunicipality fills t's name (when empty), population and perimeter
// from its ISTAT municipality.
func fromMunicipality(ctx context.Context, pool *pgxpool.Pool, t *tiles.Town) error {
	var (
		name       string
		population *int64
		geom       []byte
	)
	err := pool.QueryRow(ctx, `SELECT name, population, ST_AsBinary(geom) FROM municipality WHERE istat_code = $1`,
		t.ISTAT).Scan(&name, &population, &geom)
	switch {
	case err == nil:
		if t.Perimeter, err = wkbgeom.MultiPolygon(geom); err != nil {
			return fmt.Errorf("municipality %s: %w", t.ISTAT, err)
		}
		if population != nil {
			t.Population = *population
		}
	case errors.Is(err, pgx.ErrNoRows):
		shape, ok, err := EmbeddedMunicipality(t.ISTAT)
		if err != nil {
			return err
		}
		m, known := refdata.Italy().Municipality(t.ISTAT)
		if !ok || !known {
			return fmt.Errorf("town %s: ISTAT code %s: no such municipality in the database's reference areas nor in flowtiles' own (import its boundary with `flowtiles areas import`)", t.Code, t.ISTAT)
		}
		name, t.Population, t.Perimeter = m.Name, m.Population, shape
	default:
		return db.Wrap(ctx, "reading municipality "+t.ISTAT, db.SchemaError(err))
	}
	if t.Name == "" {
		t.Name = name
	}
	return nil
}

// EmbeddedMunicipality returns the boundary of the municipality istat from
// the reference data built into flowtiles, when it holds it.
func EmbeddedMunicipality(istat string) (orb.MultiPolygon, bool, error) {
	places, err := refdata.Places()
	if err != nil {
		return nil, false, err
	}
	for _, p := range places {
		if p.Level == tiles.LevelMunicipality && p.Code == istat {
			return p.Shape, true, nil
		}
	}
	return nil, false, nil
}

// Remove deletes the town with code. The last town cannot be removed: a
// server needs one; nor can a town that has records (presence.town): the
// error says how many and how to delete them, and nothing is removed.
func Remove(ctx context.Context, pool *pgxpool.Pool, code string) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "LOCK TABLE town IN SHARE ROW EXCLUSIVE MODE"); err != nil {
			return db.Wrap(ctx, "removing town "+code, db.SchemaError(err))
		}
		var (
			id        *int16
			n, others int
		)
		if err := tx.QueryRow(ctx, `SELECT max(id) FILTER (WHERE code = $1), count(*) FILTER (WHERE code = $1),
			count(*) FILTER (WHERE code <> $1) FROM town`, code).Scan(&id, &n, &others); err != nil {
			return db.Wrap(ctx, "removing town "+code, err)
		}
		switch {
		case n == 0:
			return fmt.Errorf("no town %q", code)
		case others == 0:
			return fmt.Errorf("town %s is the last town: a server needs one (add another first)", code)
		}
		var records int64
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM presence WHERE town = $1", *id).Scan(&records); err != nil {
			return db.Wrap(ctx, "counting town "+code+"'s records", db.SchemaError(err))
		}
		if records > 0 {
			return recordsError(code, *id, records)
		}
		_, err := tx.Exec(ctx, "DELETE FROM town WHERE code = $1", code)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23503" {
			// records loaded since the count (a load does not wait for
			// this lock; presence.town is checked as a foreign key,
			// migration 00007)
			return recordsError(code, *id, -1)
		}
		return db.Wrap(ctx, "removing town "+code, err)
	})
}

// recordsError is Remove's error for a town that has records (n < 0: some,
// loaded while removing it).
func recordsError(code string, id int16, n int64) error {
	some := "records"
	if n >= 0 {
		some = fmt.Sprintf("%d records", n)
	}
	return fmt.Errorf("town %s has %s: a town with records is not removed, nothing was removed "+
		"(to remove it, delete its records first, e.g. in psql: DELETE FROM presence WHERE town = %d; then remove it again)",
		code, some, id)
}
