// Package basemap serves a local tile archive, PMTiles or MBTiles, as
// flowtiles' basemap layer, so that an intranet or offline kiosk needs
// nobody else's servers, and makes the MapLibre style that matches it. It
// reads archives with github.com/protomaps/go-pmtiles (an MBTiles file is
// converted to a PMTiles file in a temporary directory when opened) and
// knows nothing of HTTP: the server asks it for tiles by z/x/y.
package basemap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/protomaps/go-pmtiles/pmtiles"
)

// name is the archive's key behind the pmtiles server.
const name = "basemap"

// Archive is an open tile archive. It is safe for concurrent use.
type Archive struct {
	path   string // as given
	srv    *pmtiles.Server
	header pmtiles.HeaderV3
	meta   Metadata
	tmp    string // directory of a converted MBTiles file, removed by Close
}

// Metadata describes an archive's tiles (TileJSON fields).
type Metadata struct {
	Name         string
	Description  string
	Attribution  string
	MinZoom      int
	MaxZoom      int
	Bounds       [4]float64 // west, south, east, north
	Center       [3]float64 // lon, lat, zoom
	VectorLayers []VectorLayer
}

// VectorLayer is one layer inside the archive's tiles.
type VectorLayer struct {
	ID          string            `json:"id"`
	Description string            `json:"description,omitempty"`
	Fields      map[string]string `json:"fields"`
	MinZoom     int               `json:"minzoom"`
	MaxZoom     int               `json:"maxzoom"`
}

// OpenError says why an archive cannot be served.
type OpenError struct {
	Path   string
	Reason string
	Err    error
}

func (e *OpenError) Error() string {
	s := "basemap " + e.Path + ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *OpenError) Unwrap() error { return e.Err }

// Open opens a PMTiles (version 3) or MBTiles archive of vector tiles. The
// kind is read from the file's first bytes, not its name.
func Open(ctx context.Context, path string, logger *slog.Logger) (*Archive, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	head := make([]byte, pmtiles.HeaderV3LenBytes)
	f, err := os.Open(path)
	if err != nil {
		return nil, &OpenError{Path: path, Reason: "cannot open", Err: err}
	}
	n, _ := io.ReadFull(f, head)
	f.Close()
	head = head[:n]
	a := &Archive{path: path}
	file := path
	switch {
	case bytes.HasPrefix(head, []byte("PMTiles")):
	case bytes.HasPrefix(head, []byte("SQLite format 3\x00")):
		if a.tmp, err = os.MkdirTemp("", "flowtiles-basemap-"); err != nil {
			return nil, &OpenError{Path: path, Reason: "converting MBTiles", Err: err}
		}
		file = filepath.Join(a.tmp, name+".pmtiles")
		if err := convert(path, file, logger); err != nil {
			a.Close()
			return nil, &OpenError{Path: path, Reason: "not a readable MBTiles file", Err: err}
		}
	default:
		return nil, &OpenError{Path: path, Reason: "neither a PMTiles nor an MBTiles (SQLite) file"}
	}
	if err := a.open(ctx, file, logger); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func convert(in, out string, logger *slog.Logger) error {
	tmp, err := os.CreateTemp(filepath.Dir(out), "convert-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	return pmtiles.Convert(log.New(slogWriter{logger}, "", 0), in, out, true, tmp)
}

func (a *Archive) open(ctx context.Context, file string, logger *slog.Logger) error {
	raw := make([]byte, pmtiles.HeaderV3LenBytes)
	f, err := os.Open(file)
	if err != nil {
		return &OpenError{Path: a.path, Reason: "cannot open", Err: err}
	}
	_, err = io.ReadFull(f, raw)
	f.Close()
	if err != nil {
		return &OpenError{Path: a.path, Reason: "truncated PMTiles header", Err: err}
	}
	if a.header, err = pmtiles.DeserializeHeader(raw); err != nil {
		return &OpenError{Path: a.path, Reason: "bad PMTiles header", Err: err}
	}
	if a.header.SpecVersion != 3 {
		return &OpenError{Path: a.path, Reason: fmt.Sprintf("PMTiles version %d (want 3: convert it with `pmtiles convert`)", a.header.SpecVersion)}
	}
	if a.header.TileType != pmtiles.Mvt {
		return &OpenError{Path: a.path, Reason: "its tiles are not vector tiles (MVT): flowtiles draws vector basemaps"}
	}
	srv, err := pmtiles.NewServerWithBucket(fileBucket{dir: pmtiles.NewFileBucket(filepath.Dir(file)), key: filepath.Base(file)}, "", log.New(slogWriter{logger}, "pmtiles: ", 0), 64, "")
	if err != nil {
		return &OpenError{Path: a.path, Reason: "cannot serve", Err: err}
	}
	srv.Start()
	a.srv = srv
	status, _, body := srv.Get(ctx, "/"+name+"/metadata")
	if status != 200 {
		return &OpenError{Path: a.path, Reason: fmt.Sprintf("unreadable metadata (%d %s)", status, body)}
	}
	var md struct {
		Name         string          `json:"name"`
		Description  string          `json:"description"`
		Attribution  string          `json:"attribution"`
		VectorLayers []VectorLayer   `json:"vector_layers"`
		JSON         json.RawMessage `json:"json"` // MBTiles keep vector_layers in a JSON string
	}
	if err := json.Unmarshal(body, &md); err != nil {
		return &OpenError{Path: a.path, Reason: "metadata is not JSON", Err: err}
	}
	if len(md.VectorLayers) == 0 && len(md.JSON) > 0 {
		var s string
		if json.Unmarshal(md.JSON, &s) == nil {
			var inner struct {
				VectorLayers []VectorLayer `json:"vector_layers"`
			}
			if json.Unmarshal([]byte(s), &inner) == nil {
				md.VectorLayers = inner.VectorLayers
			}
		}
	}
	if len(md.VectorLayers) == 0 {
		return &OpenError{Path: a.path, Reason: "its metadata lists no vector_layers (a style cannot be made for it)"}
	}
	slices.SortFunc(md.VectorLayers, func(x, y VectorLayer) int { return strings.Compare(x.ID, y.ID) })
	h := a.header
	a.meta = Metadata{
		Name: md.Name, Description: md.Description, Attribution: md.Attribution,
		MinZoom: int(h.MinZoom), MaxZoom: int(h.MaxZoom),
		Bounds:       [4]float64{e7(h.MinLonE7), e7(h.MinLatE7), e7(h.MaxLonE7), e7(h.MaxLatE7)},
		Center:       [3]float64{e7(h.CenterLonE7), e7(h.CenterLatE7), float64(h.CenterZoom)},
		VectorLayers: md.VectorLayers,
	}
	return nil
}

func e7(v int32) float64 { return float64(v) / 1e7 }

// Metadata returns what the archive says about its tiles.
func (a *Archive) Metadata() Metadata { return a.meta }

// ErrNoTile is returned for a tile the archive does not hold.
var ErrNoTile = errors.New("no such tile in the basemap")

// Tile returns the bytes of tile z/x/y as stored (gzip says whether they
// are gzip-compressed), or ErrNoTile.
func (a *Archive) Tile(ctx context.Context, z uint8, x, y uint32) (data []byte, gzip bool, err error) {
	if int(z) < a.meta.MinZoom || int(z) > a.meta.MaxZoom {
		return nil, false, ErrNoTile
	}
	status, headers, body := a.srv.Get(ctx, fmt.Sprintf("/%s/%d/%d/%d.mvt", name, z, x, y))
	switch status {
	case 200:
		return body, headers["Content-Encoding"] == "gzip", nil
	case 204, 404:
		return nil, false, ErrNoTile
	case 499:
		return nil, false, ctx.Err()
	}
	return nil, false, fmt.Errorf("basemap tile %d/%d/%d: %d %s", z, x, y, status, body)
}

// Close removes the converted copy of an MBTiles file.
func (a *Archive) Close() error {
	if a.tmp != "" {
		return os.RemoveAll(a.tmp)
	}
	return nil
}

// fileBucket reads one file whatever key pmtiles asks for, so that a file
// name with spaces or dots does not have to match pmtiles' URL patterns.
type fileBucket struct {
	dir *pmtiles.FileBucket
	key string
}

func (b fileBucket) Close() error { return nil }

func (b fileBucket) NewRangeReader(ctx context.Context, _ string, offset, length int64) (io.ReadCloser, error) {
	return b.dir.NewRangeReader(ctx, b.key, offset, length)
}

func (b fileBucket) NewRangeReaderEtag(ctx context.Context, _ string, offset, length int64, etag string) (io.ReadCloser, string, int, error) {
	return b.dir.NewRangeReaderEtag(ctx, b.key, offset, length, etag)
}

// slogWriter turns go-pmtiles' log lines into debug records.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Debug(strings.TrimSpace(string(p)))
	return len(p), nil
}
