// Package export writes the tiles of one layer, over a zoom range and a
// box, for a filter, to an MBTiles or PMTiles archive: for a kiosk without
// network, a consultant's QGIS project, a static host. It asks the server
// itself (its http.Handler, in process) for every tile and for the
// layer's TileJSON, so that the archive holds exactly the bytes the server
// serves, through the same engine, cache and privacy rules: exported
// figures are published figures.
package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/protomaps/go-pmtiles/pmtiles"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/flowtiles/flowtiles/tiles"
)

// Config says what to export.
type Config struct {
	// Handler is the flowtiles server (server.Server.Handler()).
	Handler http.Handler
	Layer   string
	MinZoom int
	MaxZoom int
	// BBox is west, south, east, north in degrees; the zero box means the
	// layer's bounds (its TileJSON's).
	BBox [4]float64
	// Query holds the filter parameters (from, to, hours, …, bins), as on
	// tile URLs.
	Query url.Values
	// Progress, when not nil, is told the tiles done and the total.
	Progress func(done, total int)
}

// Result tells what an export wrote.
type Result struct {
	Tiles       int // tiles with features (empty tiles are not stored)
	Requested   int // tiles of the zoom range and box
	Bytes       int64
	TileJSON    map[string]any
	DataVersion uint64
}

// Format is an archive format.
type Format string

// Formats.
const (
	MBTiles Format = "mbtiles"
	PMTiles Format = "pmtiles"
)

// FormatOf returns the format of a file name by its extension.
func FormatOf(path string) (Format, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".mbtiles":
		return MBTiles, nil
	case ".pmtiles":
		return PMTiles, nil
	}
	return "", fmt.Errorf("%s: unknown archive format (want .pmtiles or .mbtiles)", path)
}

// Write exports to path, in the format its extension names. The file is
// written whole or not at all (a temporary file renamed at the end).
func Write(ctx context.Context, cfg Config, path string) (*Result, error) {
	f, err := FormatOf(path)
	if err != nil {
		return nil, err
	}
	if _, ok := tiles.Layer(cfg.Layer); !ok {
		return nil, &tiles.LayerError{Name: cfg.Layer}
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".flowtiles-export-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	mb := filepath.Join(dir, "export.mbtiles")
	res, err := writeMBTiles(ctx, cfg, mb)
	if err != nil {
		return nil, err
	}
	out := mb
	if f == PMTiles {
		out = filepath.Join(dir, "export.pmtiles")
		tmp, err := os.CreateTemp(dir, "convert-")
		if err != nil {
			return nil, err
		}
		defer tmp.Close()
		if err := pmtiles.Convert(log.New(io.Discard, "", 0), mb, out, true, tmp); err != nil {
			return nil, fmt.Errorf("writing PMTiles: %w", err)
		}
	}
	st, err := os.Stat(out)
	if err != nil {
		return nil, err
	}
	res.Bytes = st.Size()
	if err := os.Rename(out, path); err != nil {
		return nil, err
	}
	return res, nil
}

// get asks the handler for a path and returns the status, the headers and
// the body.
func get(ctx context.Context, h http.Handler, target string, header ...string) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://flowtiles.invalid"+target, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := &recorder{header: http.Header{}}
	h.ServeHTTP(w, req)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.status, w.header, w.body, nil
}

// recorder is the response of an in-process request.
type recorder struct {
	header http.Header
	status int
	body   []byte
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}
func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body = append(r.body, p...)
	return len(p), nil
}

// apiError is the JSON error of the server.
func apiError(status int, body []byte) error {
	var e struct{ Error string }
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return errors.New(e.Error)
	}
	return fmt.Errorf("HTTP %d", status)
}

// tileJSON fetches the layer's TileJSON for the filter.
func tileJSON(ctx context.Context, cfg Config) (map[string]any, error) {
	status, _, body, err := get(ctx, cfg.Handler, "/tiles/"+cfg.Layer+".json?"+cfg.Query.Encode())
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, apiError(status, body)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("TileJSON: %w", err)
	}
	return doc, nil
}

func writeMBTiles(ctx context.Context, cfg Config, path string) (*Result, error) {
	doc, err := tileJSON(ctx, cfg)
	if err != nil {
		return nil, err
	}
	spec, _ := tiles.Layer(cfg.Layer)
	if cfg.MinZoom < spec.MinZoom || cfg.MaxZoom > spec.MaxZoom || cfg.MinZoom > cfg.MaxZoom {
		return nil, fmt.Errorf("zooms %d-%d: the %s layer has zooms %d-%d", cfg.MinZoom, cfg.MaxZoom, cfg.Layer, spec.MinZoom, spec.MaxZoom)
	}
	bbox := cfg.BBox
	if bbox == ([4]float64{}) {
		b, _ := doc["bounds"].([]any)
		for i := 0; i < 4 && len(b) == 4; i++ {
			bbox[i], _ = b[i].(float64)
		}
	}
	if bbox[0] >= bbox[2] || bbox[1] >= bbox[3] {
		return nil, fmt.Errorf("bbox %v: want west < east and south < north", bbox)
	}
	var ids []tiles.TileID
	for z := cfg.MinZoom; z <= cfg.MaxZoom; z++ {
		a, b := tiles.TileAt(uint8(z), tiles.Project(bbox[0], bbox[3])), tiles.TileAt(uint8(z), tiles.Project(bbox[2], bbox[1]))
		for x := a.X; x <= b.X; x++ {
			for y := a.Y; y <= b.Y; y++ {
				ids = append(ids, tiles.TileID{Z: uint8(z), X: x, Y: y})
			}
		}
	}
	conn, err := sqlite.OpenConn(path, sqlite.OpenReadWrite, sqlite.OpenCreate)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := sqlitex.ExecuteScript(conn, `
CREATE TABLE metadata (name text, value text);
CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, tile_data blob);
CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);
CREATE UNIQUE INDEX name ON metadata (name);`, nil); err != nil {
		return nil, err
	}
	res := &Result{Requested: len(ids), TileJSON: doc}
	if v, ok := doc["data_version"].(float64); ok {
		res.DataVersion = uint64(v)
	}
	end := sqlitex.Transaction(conn)
	query := cfg.Query.Encode()
	for i, t := range ids {
		if err := ctx.Err(); err != nil {
			end(&err)
			return nil, err
		}
		target := fmt.Sprintf("/tiles/%s/%d/%d/%d.mvt?%s", cfg.Layer, t.Z, t.X, t.Y, query)
		status, h, body, err := get(ctx, cfg.Handler, target, "Accept-Encoding", "gzip")
		if err == nil && status != http.StatusOK && status != http.StatusNoContent {
			err = fmt.Errorf("tile %v: %w", t, apiError(status, body))
		}
		if err == nil && status == http.StatusOK && h.Get("Content-Encoding") != "gzip" {
			err = fmt.Errorf("tile %v: not gzipped", t)
		}
		if err == nil && status == http.StatusOK {
			row := (1 << t.Z) - 1 - int(t.Y) // MBTiles rows count from the south (TMS)
			err = sqlitex.Execute(conn, "INSERT INTO tiles VALUES (?, ?, ?, ?)", &sqlitex.ExecOptions{Args: []any{int(t.Z), int(t.X), row, body}})
			res.Tiles++
		}
		if err != nil {
			end(&err)
			return nil, err
		}
		if cfg.Progress != nil {
			cfg.Progress(i+1, len(ids))
		}
	}
	for _, m := range metadata(doc, cfg, bbox) {
		if err := sqlitex.Execute(conn, "INSERT INTO metadata (name, value) VALUES (?, ?)", &sqlitex.ExecOptions{Args: []any{m[0], m[1]}}); err != nil {
			end(&err)
			return nil, err
		}
	}
	var nerr error
	end(&nerr)
	return res, nerr
}

// metadata is the MBTiles metadata of an export: the TileJSON's (name,
// description, attribution, center, vector_layers as "json") with the
// exported zooms and box, the filter and the data version.
func metadata(doc map[string]any, cfg Config, bbox [4]float64) [][2]string {
	str := func(k string) string { s, _ := doc[k].(string); return s }
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	out := [][2]string{
		{"name", str("name")}, {"description", str("description")}, {"attribution", str("attribution")},
		{"version", str("version")}, {"type", "overlay"}, {"format", "pbf"},
		{"minzoom", strconv.Itoa(cfg.MinZoom)}, {"maxzoom", strconv.Itoa(cfg.MaxZoom)},
		{"bounds", num(bbox[0]) + "," + num(bbox[1]) + "," + num(bbox[2]) + "," + num(bbox[3])},
		{"json", str("json")},
		{"flowtiles:filter", cfg.Query.Encode()},
	}
	if v, ok := doc["data_version"].(float64); ok {
		out = append(out, [2]string{"flowtiles:data_version", num(v)})
	}
	if c, ok := doc["center"].([]any); ok && len(c) == 3 {
		x, _ := c[0].(float64)
		y, _ := c[1].(float64)
		z := float64(max(cfg.MinZoom, min(cfg.MaxZoom, int(c[2].(float64)))))
		out = append(out, [2]string{"center", num(x) + "," + num(y) + "," + num(z)})
	}
	return out
}
