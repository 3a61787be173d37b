package pgstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/flowtiles/flowtiles/internal/db"
	"github.com/flowtiles/flowtiles/internal/wkbgeom"
	"github.com/flowtiles/flowtiles/tiles"
)

// Places reads the reference areas imported with `flowtiles areas import`:
// municipalities, provinces, regions, countries (every town's) and the
// store's town's zones (Key: the zone's id in its town).
func (s *Store) Places(ctx context.Context) ([]tiles.Place, error) {
	return s.places(ctx, false)
}

// Zones reads the store's town's zones, by id (Key: the zone's id, its
// bit in the zone masks of the town's records; Code and Name: its name);
// none is an empty slice.
func (s *Store) Zones(ctx context.Context) ([]tiles.Place, error) {
	zs, err := s.places(ctx, true)
	if zs == nil && err == nil {
		zs = []tiles.Place{}
	}
	return zs, err
}

func (s *Store) places(ctx context.Context, zonesOnly bool) ([]tiles.Place, error) {
	queries := []struct {
		level tiles.Level
		sql   string
	}{
		{tiles.LevelRegion, `SELECT code, name, coalesce(population, 0), ST_AsBinary(geom), ST_AsBinary(point), '', '{}'::jsonb FROM region ORDER BY code`},
		{tiles.LevelProvince, `SELECT code, abbrev, coalesce(population, 0), ST_AsBinary(geom), ST_AsBinary(point), '', '{}'::jsonb FROM province ORDER BY code`},
		{tiles.LevelMunicipality, `SELECT istat_code, name, coalesce(population, 0), ST_AsBinary(geom), ST_AsBinary(point), '', '{}'::jsonb FROM municipality ORDER BY istat_code`},
		{tiles.LevelCountry, `SELECT iso_a2, name, coalesce(population, 0), ST_AsBinary(geom), ST_AsBinary(point), '', '{}'::jsonb FROM country ORDER BY iso_a2`},
		// a zone: its code (name) in URLs, shown by its label in each language
		{tiles.LevelZone, `SELECT id::text, name, 0::bigint, ST_AsBinary(geom), ST_AsBinary(ST_PointOnSurface(geom)), coalesce(label, name), labels FROM zone WHERE town = $1 ORDER BY id`},
	}
	var out []tiles.Place
	for _, q := range queries {
		var args []any
		if q.level == tiles.LevelZone {
			args = append(args, s.town)
		} else if zonesOnly {
			continue
		}
		rows, err := s.pool.Query(ctx, q.sql, args...)
		if err != nil {
			return nil, db.Wrap(ctx, "reading "+q.level.String()+" areas", err)
		}
		for rows.Next() {
			var (
				code, name, label string
				pop               int64
				shape, pt         []byte
				labels            map[string]string
			)
			if err := rows.Scan(&code, &name, &pop, &shape, &pt, &label, &labels); err != nil {
				rows.Close()
				return nil, db.Wrap(ctx, "reading "+q.level.String()+" areas", err)
			}
			p := tiles.Place{Level: q.level, Code: code, Name: name, Population: pop}
			if p.Shape, err = wkbgeom.MultiPolygon(shape); err != nil {
				rows.Close()
				return nil, fmt.Errorf("%s %s: %w", q.level, code, err)
			}
			if p.Point, err = wkbgeom.Point(pt); err != nil {
				rows.Close()
				return nil, fmt.Errorf("%s %s: %w", q.level, code, err)
			}
			switch q.level {
			case tiles.LevelCountry:
				c, err := tiles.ParseCountry(code)
				if err != nil {
					rows.Close()
					return nil, fmt.Errorf("country %s: %w", code, err)
				}
				p.Key = int64(tiles.CountryIndex(c))
			case tiles.LevelZone:
				p.Key, _ = strconv.ParseInt(code, 10, 64)
				p.Code, p.Name = name, label
				if len(labels) > 0 {
					p.Names = labels
				}
			default:
				p.Key, _ = strconv.ParseInt(code, 10, 64)
			}
			out = append(out, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, db.Wrap(ctx, "reading "+q.level.String()+" areas", err)
		}
	}
	return out, nil
}
