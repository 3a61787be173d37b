// Package areas imports reference areas into PostGIS: ISTAT municipalities
// (from which provinces are derived), regions, Natural Earth countries and
// the zones of a town, from GeoJSON files (`flowtiles areas import`).
//
// Each file is imported in one transaction that upserts its areas
// (re-importing a file changes nothing), repairs geometry (ST_MakeValid,
// ST_Multi), sets representative points (ST_PointOnSurface) and ends with
// NOTIFY flowtiles_areas so that running servers reload them.
package areas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"

	"github.com/flowtiles/flowtiles/internal/towns"
	"github.com/flowtiles/flowtiles/internal/wkbgeom"
	"github.com/flowtiles/flowtiles/tiles"
)

// Channel is the NOTIFY channel announcing changed reference areas; the
// payload is the kind imported.
const Channel = "flowtiles_areas"

// Importer writes reference areas to a PostGIS database migrated with
// migrations/.
type Importer struct {
	Pool *pgxpool.Pool
	// Town is the code of the town whose zones a zone file replaces; ""
	// is the only town of a database of one (a *TownError otherwise).
	Town string
}

// Result describes one import.
type Result struct {
	File      string
	Kind      Kind
	Areas     int      // areas written (inserted or updated)
	Provinces int      // provinces rebuilt (municipality files)
	Recoded   int64    // presence records whose zone mask changed (zone files)
	Town      string   // the town whose zones were replaced (zone files)
	Warnings  []string // features skipped
	Duration  time.Duration
}

// ImportFile reads and imports one file; kind "" recognises it.
func (im *Importer) ImportFile(ctx context.Context, path string, kind Kind) (Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Result{File: path}, err
	}
	f, err := Parse(path, data, kind)
	if err != nil {
		return Result{File: path}, err
	}
	return im.Import(ctx, f)
}

// Import writes a parsed file in one transaction: all of it or nothing.
func (im *Importer) Import(ctx context.Context, f *File) (Result, error) {
	start := time.Now()
	res := Result{File: f.Name, Kind: f.Kind, Warnings: f.Warnings}
	if im.Town != "" && f.Kind != Zones {
		// reference areas are every town's: a town named for them is a
		// mistake (the wrong file, or --kind), not to be ignored
		return res, fmt.Errorf("%s: the file holds %s, reference areas of every town: a town (%q) names whose zones a zone file replaces", f.Name, f.Kind, im.Town)
	}
	err := pgx.BeginFunc(ctx, im.Pool, func(tx pgx.Tx) error {
		var err error
		switch f.Kind {
		case Municipalities:
			res.Areas, res.Provinces, err = importMunicipalities(ctx, tx, f.Municipalities)
		case Regions:
			res.Areas, err = importRegions(ctx, tx, f.Regions)
		case Countries:
			res.Areas, err = importCountries(ctx, tx, f.Countries)
		case Zones:
			var town tiles.Town
			town, res.Areas, res.Recoded, err = importZones(ctx, tx, im.Town, f.Zones)
			res.Town = town.Code
		default:
			err = fmt.Errorf("unknown kind %q", f.Kind)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "SELECT pg_notify($1, $2)", Channel, string(f.Kind))
		return err
	})
	res.Duration = time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		var fe *FeatureError
		if errors.As(err, &fe) {
			fe.File = f.Name
			return res, fe
		}
		return res, fmt.Errorf("%s: importing %s: %w", f.Name, f.Kind, err)
	}
	return res, nil
}

func toWKB(mp orb.MultiPolygon) ([]byte, error) { return wkb.Marshal(mp) }

// fixGeom turns a WKB column into a valid 4326 MultiPolygon.
const fixGeom = `ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_SetSRID(ST_GeomFromWKB(%s), 4326)), 3))`

func stage(ctx context.Context, tx pgx.Tx, table, columns string, names []string, rows [][]any) error {
	if _, err := tx.Exec(ctx, "CREATE TEMP TABLE "+table+" ("+columns+") ON COMMIT DROP"); err != nil {
		return fmt.Errorf("staging: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{table}, names, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("staging: %w", err)
	}
	return nil
}

// checkEmpty fails, naming the feature, if repairing a geometry left no
// polygon of it (a ring of collinear points).
func checkEmpty(ctx context.Context, tx pgx.Tx, table string) error {
	var n int32
	err := tx.QueryRow(ctx, `SELECT n FROM `+table+` WHERE g IS NULL OR ST_IsEmpty(g) ORDER BY n LIMIT 1`).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("repairing geometry: %w", err)
	}
	return &FeatureError{Feature: int(n), Property: "geometry", Reason: "no area left after repairing it (ST_MakeValid)"}
}

func importMunicipalities(ctx context.Context, tx pgx.Tx, ms []Municipality) (int, int, error) {
	rows := make([][]any, len(ms))
	for i, m := range ms {
		b, err := toWKB(m.Shape)
		if err != nil {
			return 0, 0, fmt.Errorf("municipality %s: %w", m.Code, err)
		}
		rows[i] = []any{int32(m.Feature), m.Code, m.Name, m.ProvinceCode, m.Province, m.RegionCode, m.Population, b}
	}
	if err := stage(ctx, tx, "areas_municipality",
		"n integer, istat_code text, name text, province_code text, abbrev text, region_code text, population bigint, wkb bytea, g geometry",
		[]string{"n", "istat_code", "name", "province_code", "abbrev", "region_code", "population", "wkb"}, rows); err != nil {
		return 0, 0, err
	}
	if _, err := tx.Exec(ctx, `UPDATE areas_municipality SET g = `+fmt.Sprintf(fixGeom, "wkb")); err != nil {
		return 0, 0, fmt.Errorf("repairing geometry: %w", err)
	}
	if err := checkEmpty(ctx, tx, "areas_municipality"); err != nil {
		return 0, 0, err
	}
	// A file without population keeps what an earlier import knew.
	tag, err := tx.Exec(ctx, `
INSERT INTO municipality (istat_code, name, province_code, region_code, population, geom, point)
SELECT istat_code, name, province_code, region_code, population, g, ST_PointOnSurface(g) FROM areas_municipality
ON CONFLICT (istat_code) DO UPDATE SET
    name = EXCLUDED.name, province_code = EXCLUDED.province_code, region_code = EXCLUDED.region_code,
    population = coalesce(EXCLUDED.population, municipality.population),
    geom = EXCLUDED.geom, point = EXCLUDED.point`)
	if err != nil {
		return 0, 0, fmt.Errorf("writing municipalities: %w", err)
	}
	n := int(tag.RowsAffected())
	// Provinces of the file, rebuilt from all their municipalities in the
	// database (earlier imports included). An abbreviation that moved to
	// another code is released first (abbrev is unique).
	if _, err := tx.Exec(ctx, `
DELETE FROM province p USING (SELECT DISTINCT province_code, abbrev FROM areas_municipality) s
WHERE p.abbrev = s.abbrev AND p.code <> s.province_code`); err != nil {
		return 0, 0, fmt.Errorf("writing provinces: %w", err)
	}
	tag, err = tx.Exec(ctx, `
INSERT INTO province (code, abbrev, region_code, population, geom, point)
SELECT code, abbrev, region_code, population, g, ST_PointOnSurface(g) FROM (
    SELECT m.province_code AS code, s.abbrev, min(m.region_code) AS region_code, sum(m.population) AS population,
           ST_Multi(ST_CollectionExtract(ST_Union(m.geom), 3)) AS g
    FROM municipality m JOIN (SELECT DISTINCT province_code, abbrev FROM areas_municipality) s USING (province_code)
    GROUP BY m.province_code, s.abbrev) u
ON CONFLICT (code) DO UPDATE SET
    abbrev = EXCLUDED.abbrev, region_code = EXCLUDED.region_code, population = EXCLUDED.population,
    geom = EXCLUDED.geom, point = EXCLUDED.point`)
	if err != nil {
		return 0, 0, fmt.Errorf("writing provinces: %w", err)
	}
	if err := regionPopulation(ctx, tx); err != nil {
		return 0, 0, err
	}
	return n, int(tag.RowsAffected()), nil
}

// regionPopulation sets each region's population to the sum of its
// municipalities'.
func regionPopulation(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `
UPDATE region r SET population = s.population
FROM (SELECT region_code, sum(population) AS population FROM municipality GROUP BY region_code) s
WHERE r.code = s.region_code AND r.population IS DISTINCT FROM s.population`)
	if err != nil {
		return fmt.Errorf("region population: %w", err)
	}
	return nil
}

func importRegions(ctx context.Context, tx pgx.Tx, rs []Region) (int, error) {
	rows := make([][]any, len(rs))
	for i, r := range rs {
		b, err := toWKB(r.Shape)
		if err != nil {
			return 0, fmt.Errorf("region %s: %w", r.Code, err)
		}
		rows[i] = []any{int32(r.Feature), r.Code, r.Name, b}
	}
	if err := stage(ctx, tx, "areas_region", "n integer, code text, name text, wkb bytea, g geometry",
		[]string{"n", "code", "name", "wkb"}, rows); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `UPDATE areas_region SET g = `+fmt.Sprintf(fixGeom, "wkb")); err != nil {
		return 0, fmt.Errorf("repairing geometry: %w", err)
	}
	if err := checkEmpty(ctx, tx, "areas_region"); err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, `
INSERT INTO region (code, name, geom, point)
SELECT code, name, g, ST_PointOnSurface(g) FROM areas_region
ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, geom = EXCLUDED.geom, point = EXCLUDED.point`)
	if err != nil {
		return 0, fmt.Errorf("writing regions: %w", err)
	}
	return int(tag.RowsAffected()), regionPopulation(ctx, tx)
}

func importCountries(ctx context.Context, tx pgx.Tx, cs []Country) (int, error) {
	rows := make([][]any, len(cs))
	for i, c := range cs {
		b, err := toWKB(c.Shape)
		if err != nil {
			return 0, fmt.Errorf("country %s: %w", c.ISOA2, err)
		}
		rows[i] = []any{int32(c.Feature), c.ISOA2, c.ISOA3, c.Name, c.Population, b}
	}
	if err := stage(ctx, tx, "areas_country", "n integer, iso_a2 text, iso_a3 text, name text, population bigint, wkb bytea, g geometry",
		[]string{"n", "iso_a2", "iso_a3", "name", "population", "wkb"}, rows); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `UPDATE areas_country SET g = `+fmt.Sprintf(fixGeom, "wkb")); err != nil {
		return 0, fmt.Errorf("repairing geometry: %w", err)
	}
	if err := checkEmpty(ctx, tx, "areas_country"); err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, `
INSERT INTO country (iso_a2, iso_a3, name, population, geom, point)
SELECT iso_a2, iso_a3, name, population, g, ST_PointOnSurface(g) FROM areas_country
ON CONFLICT (iso_a2) DO UPDATE SET
    iso_a3 = EXCLUDED.iso_a3, name = EXCLUDED.name, population = coalesce(EXCLUDED.population, country.population),
    geom = EXCLUDED.geom, point = EXCLUDED.point`)
	if err != nil {
		return 0, fmt.Errorf("writing countries: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// importZones replaces the zones of town with zs (ids 0..len-1) and
// recomputes the zone mask of the town's presence records, with
// tiles.ZoneMask over the zones as stored, as ingest does; the other towns'
// zones and records are left alone. A zone whose representative point
// (ST_PointOnSurface) lies outside the town's perimeter (and buffer) is
// refused: it would be no zone of the town's records. The zone table is
// locked first: a batch being loaded (which reads the zones FOR SHARE)
// finishes before, and one starting waits for this transaction.
func importZones(ctx context.Context, tx pgx.Tx, code string, zs []Zone) (tiles.Town, int, int64, error) {
	if _, err := tx.Exec(ctx, `LOCK TABLE zone IN EXCLUSIVE MODE`); err != nil {
		return tiles.Town{}, 0, 0, fmt.Errorf("locking zones: %w", err)
	}
	town, err := zoneTown(ctx, tx, code)
	if err != nil {
		return tiles.Town{}, 0, 0, err
	}
	rows := make([][]any, len(zs))
	for i, z := range zs {
		b, err := toWKB(z.Shape)
		if err != nil {
			return town, 0, 0, fmt.Errorf("zone %s: %w", z.Name, err)
		}
		labels, err := json.Marshal(z.Labels)
		if err != nil {
			return town, 0, 0, err
		}
		if z.Labels == nil {
			labels = []byte("{}")
		}
		rows[i] = []any{int32(z.Feature), int16(z.ID), z.Name, z.Label, string(labels), b}
	}
	if err := stage(ctx, tx, "areas_zone", "n integer, id smallint, name text, label text, labels text, wkb bytea, g geometry",
		[]string{"n", "id", "name", "label", "labels", "wkb"}, rows); err != nil {
		return town, 0, 0, err
	}
	if _, err := tx.Exec(ctx, `UPDATE areas_zone SET g = `+fmt.Sprintf(fixGeom, "wkb")); err != nil {
		return town, 0, 0, fmt.Errorf("repairing geometry: %w", err)
	}
	if err := checkEmpty(ctx, tx, "areas_zone"); err != nil {
		return town, 0, 0, err
	}
	if err := checkInTown(ctx, tx, town); err != nil {
		return town, 0, 0, err
	}
	// Replace: names are unique in the town, so clear its zones rather
	// than upsert by id.
	if _, err := tx.Exec(ctx, `DELETE FROM zone WHERE town = $1`, town.ID); err != nil {
		return town, 0, 0, fmt.Errorf("writing zones: %w", err)
	}
	tag, err := tx.Exec(ctx, `INSERT INTO zone (town, id, name, label, labels, geom) SELECT $1, id, name, nullif(label, ''), labels::jsonb, g FROM areas_zone ORDER BY id`, town.ID)
	if err != nil {
		return town, 0, 0, fmt.Errorf("writing zones: %w", err)
	}
	n, err := recomputeZoneMasks(ctx, tx, town.ID)
	return town, int(tag.RowsAffected()), n, err
}

// TownError is an import's error for the town of zones: none named while
// the database has several, or one it does not have.
type TownError struct {
	Code  string   // the town asked for; "" none
	Towns []string // the database's towns
}

func (e *TownError) Error() string {
	have := strings.Join(e.Towns, ", ")
	if e.Code == "" {
		return fmt.Sprintf("zones belong to a town: name it with --town (the database has %s)", have)
	}
	if len(e.Towns) == 0 {
		return fmt.Sprintf("no town %s: the database has no towns (flowtiles towns add)", e.Code)
	}
	return fmt.Sprintf("no town %s: the database has %s", e.Code, have)
}

// zoneTown finds the town of code in tx; "" is the only town of a
// database of one.
func zoneTown(ctx context.Context, tx pgx.Tx, code string) (tiles.Town, error) {
	ts, err := towns.Load(ctx, tx)
	if err != nil && !errors.Is(err, towns.ErrNoTowns) {
		return tiles.Town{}, err
	}
	codes := make([]string, len(ts))
	for i, t := range ts {
		codes[i] = t.Code
	}
	if code == "" && len(ts) == 1 {
		return ts[0], nil
	}
	if i := towns.Index(ts, code); code != "" && i >= 0 {
		return ts[i], nil
	}
	return tiles.Town{}, &TownError{Code: code, Towns: codes}
}

// checkInTown refuses, naming the first, a staged zone whose
// representative point is outside town (its perimeter and buffer; a town
// without a perimeter takes every zone).
func checkInTown(ctx context.Context, tx pgx.Tx, town tiles.Town) error {
	if len(town.Perimeter) == 0 {
		return nil
	}
	ix := tiles.NewTownIndex([]tiles.Town{town})
	rows, err := tx.Query(ctx, `SELECT n, name, ST_X(p), ST_Y(p) FROM (SELECT n, name, ST_PointOnSurface(g) AS p FROM areas_zone) s ORDER BY n`)
	if err != nil {
		return fmt.Errorf("locating zones: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			n    int32
			name string
			x, y float64
		)
		if err := rows.Scan(&n, &name, &x, &y); err != nil {
			return fmt.Errorf("locating zones: %w", err)
		}
		if _, ok := ix.Locate(orb.Point{x, y}); !ok {
			return &FeatureError{Feature: int(n), Property: "geometry",
				Reason: fmt.Sprintf("zone %s lies outside town %s (its point %.5f,%.5f is not in the town's perimeter): import it with the --town it belongs to", name, town.Code, x, y)}
		}
	}
	return rows.Err()
}

// ReadZones reads every town's zones in tx as places, by town: Key is the
// zone's id (its bit in the presence.zones of the town's records), Code
// and Name its name. forShare locks their rows, so that a zone re-import
// waits for the transaction (an ingest) and then recomputes the masks of
// what it wrote too.
func ReadZones(ctx context.Context, tx pgx.Tx, forShare bool) (map[int16][]tiles.Place, error) {
	q := `SELECT town, id, name, ST_AsBinary(geom) FROM zone ORDER BY town, id`
	if forShare {
		q += ` FOR SHARE`
	}
	return readZones(ctx, tx, q)
}

// ReadTownZones reads town's zones in tx, as ReadZones does.
func ReadTownZones(ctx context.Context, tx pgx.Tx, town int16) ([]tiles.Place, error) {
	zs, err := readZones(ctx, tx, `SELECT town, id, name, ST_AsBinary(geom) FROM zone WHERE town = $1 ORDER BY id`, town)
	return zs[town], err
}

func readZones(ctx context.Context, tx pgx.Tx, q string, args ...any) (map[int16][]tiles.Place, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("reading zones: %w", err)
	}
	defer rows.Close()
	zones := map[int16][]tiles.Place{}
	for rows.Next() {
		var (
			town, id int16
			name     string
			wkb      []byte
		)
		if err := rows.Scan(&town, &id, &name, &wkb); err != nil {
			return nil, fmt.Errorf("reading zones: %w", err)
		}
		shape, err := wkbgeom.MultiPolygon(wkb)
		if err != nil {
			return nil, fmt.Errorf("zone %s: %w", name, err)
		}
		zones[town] = append(zones[town], tiles.Place{Level: tiles.LevelZone, Code: name, Name: name, Key: int64(id), Shape: shape})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading zones: %w", err)
	}
	return zones, nil
}

// recomputeZoneMasks sets presence.zones of town's records from its zones.
// Records outside the zones' common bounding box get 0 in SQL; the others
// are computed in Go with tiles.ZoneIndex (exactly tiles.ZoneMask) and
// only those whose mask changes are written back (the rollup's update
// trigger recomputes their hours).
func recomputeZoneMasks(ctx context.Context, tx pgx.Tx, town int16) (int64, error) {
	zones, err := ReadTownZones(ctx, tx, town)
	if err != nil {
		return 0, err
	}
	const extent = `(SELECT ST_SetSRID(ST_Extent(geom)::geometry, 4326) FROM zone WHERE town = $1)`
	tag, err := tx.Exec(ctx, `UPDATE presence SET zones = 0 WHERE town = $1 AND zones <> 0 AND NOT coalesce(geom && `+extent+`, false)`, town)
	if err != nil {
		return 0, fmt.Errorf("recomputing zone masks: %w", err)
	}
	changed := tag.RowsAffected()
	if len(zones) == 0 {
		return changed, nil
	}
	idx := tiles.NewZoneIndex(zones)
	rows, err := tx.Query(ctx, `SELECT tableoid::oid, ctid, ST_X(geom), ST_Y(geom), zones FROM presence WHERE town = $1 AND geom && `+extent, town)
	if err != nil {
		return 0, fmt.Errorf("recomputing zone masks: %w", err)
	}
	var updates [][]any
	for rows.Next() {
		var (
			table  uint32
			tid    pgtype.TID
			x, y   float64
			zonesv int32
		)
		if err := rows.Scan(&table, &tid, &x, &y, &zonesv); err != nil {
			rows.Close()
			return 0, fmt.Errorf("recomputing zone masks: %w", err)
		}
		if m := int32(idx.Mask(orb.Point{x, y})); m != zonesv {
			updates = append(updates, []any{table, tid, m})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("recomputing zone masks: %w", err)
	}
	if len(updates) == 0 {
		return changed, nil
	}
	if err := stage(ctx, tx, "areas_zone_mask", "tbl oid, t tid, zones integer", []string{"tbl", "t", "zones"}, updates); err != nil {
		return 0, err
	}
	tag, err = tx.Exec(ctx, `UPDATE presence p SET zones = m.zones FROM areas_zone_mask m WHERE p.tableoid = m.tbl AND p.ctid = m.t`)
	if err != nil {
		return 0, fmt.Errorf("recomputing zone masks: %w", err)
	}
	return changed + tag.RowsAffected(), nil
}
