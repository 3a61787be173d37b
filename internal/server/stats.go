package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flowtiles/flowtiles/internal/admit"
	"github.com/flowtiles/flowtiles/internal/stats"
	"github.com/flowtiles/flowtiles/tiles"
)

// StatsAPI serves GET /api/stats (docs/API.md). Bad parameters come back
// as *tiles.FilterError, which the central error handler turns into a 400
// naming the parameter.
//
// A report is heavy work: it waits for a slot of Heavy (the server's pool,
// Config.Heavy), keyed by the client address, and is computed within
// Timeout; past it the answer is 503. A JSON report asked for before over
// the same data is not: its bytes, encoded and gzipped once, are kept
// (statsCacheBytes of them) and answered as a cached tile is, with its
// ETag and without a slot. It used to wait for a slot behind uncached
// tiles, and to be encoded and compressed again for each request (a
// 620 kB report by origin: 6.5-10 ms).
//
// Stats, Loc and Resolver are the town's: a request to a Server of several
// towns gets its site's (SiteOf), these when the site has no Stats.
type StatsAPI struct {
	Stats    *stats.Service
	Loc      *time.Location
	Resolver tiles.Resolver
	Heavy    *admit.Pool   // nil: reports wait for nothing
	Timeout  time.Duration // DefaultStatsTimeout when 0

	reports *tileCache // JSON reports by site and stats.Service.Key
}

// statsCacheBytes bounds the JSON reports a StatsAPI keeps (gzipped: a
// report by origin takes about 90 kB).
const statsCacheBytes = 16 << 20

// DefaultStatsTimeout bounds the computing of one stats report.
const DefaultStatsTimeout = 30 * time.Second

// Register adds the route.
func (a *StatsAPI) Register(e *echo.Echo) {
	a.reports = newTileCache(statsCacheBytes, nil)
	e.GET("/api/stats", a.handle)
}

func (a *StatsAPI) handle(c echo.Context) error {
	q := c.QueryParams()
	format, err := statsFormat(q.Get("format"), c.Request().Header.Get(echo.HeaderAccept))
	if err != nil {
		return err
	}
	meta := false
	switch m := q.Get("meta"); m {
	case "", "0":
	case "1":
		if format != "csv" {
			return &tiles.FilterError{Param: "meta", Value: m, Reason: "meta=1 goes with format=csv (the other formats carry their definitions)"}
		}
		meta = true
	default:
		return &tiles.FilterError{Param: "meta", Value: m, Reason: "want 1 or 0"}
	}
	if format == "geojson" && !stats.Geographic(q.Get("by")) {
		return &tiles.FilterError{Param: "format", Value: "geojson", Reason: "GeoJSON needs rows that are places: by=zone, origin, province, region or nationality"}
	}
	svc, loc, res, site := a.Stats, a.Loc, a.Resolver, ""
	if st := SiteOf(c); st != nil && st.Stats != nil {
		svc, loc, res, site = st.Stats, st.Loc, st.Resolver, st.Town.Code
	}
	req, err := stats.ParseRequest(q, loc, res)
	if err != nil {
		return err
	}
	// the kept JSON of the report, if any (Echo's indented JSON, asked
	// with pretty, is made for each request, as before)
	_, pretty := q["pretty"]
	key, keep := "", false
	var kept *cachedTile
	if format == "json" && !pretty && !c.Echo().Debug && a.reports != nil {
		if key, keep = svc.Key(req); keep {
			key = site + "|" + key
			kept, _ = a.reports.get(key)
			if kept != nil && cheaply(c.Request(), kept) {
				c.Set(keyCache, "hit")
				return writeCached(c, kept, "no-cache", echo.MIMEApplicationJSON)
			}
			c.Set(keyCache, "miss")
		}
	}
	ctx := c.Request().Context()
	if a.Heavy != nil {
		release, err := a.Heavy.Acquire(ctx, c.RealIP())
		if err != nil {
			return err
		}
		defer release() // the slot covers the writing of the table too
	}
	if kept != nil { // in a coding not yet made (plain, or brotli's first)
		return writeCached(c, kept, "no-cache", echo.MIMEApplicationJSON)
	}
	timeout := a.Timeout
	if timeout <= 0 {
		timeout = DefaultStatsTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rep, err := svc.Report(ctx, req)
	if err != nil {
		return err
	}
	if keep {
		t, err := encodeReport(rep)
		if err != nil {
			return err
		}
		a.reports.put(key, t)
		return writeCached(c, t, "no-cache", echo.MIMEApplicationJSON)
	}
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, "no-cache") // figures change with the data: revalidate
	if format == "json" {
		return c.JSON(http.StatusOK, rep)
	}
	name := "flowtiles-stats-" + string(rep.Area.Kind)
	if rep.Area.Code != "" {
		name += "-" + rep.Area.Code
	}
	if rep.By != "" {
		name += "-by-" + rep.By
	}
	var (
		ct    string
		write func(io.Writer) error
	)
	switch {
	case format == "csv" && meta:
		name += "-about"
		ct, write = "text/csv; charset=utf-8", rep.WriteCSVMeta
	case format == "csv":
		ct, write = "text/csv; charset=utf-8", rep.WriteCSV
	case format == "geojson":
		ct, write = "application/geo+json", func(w io.Writer) error { return rep.WriteGeoJSON(w, svc.Places()) }
	default:
		ct, write = ContentTypeXLSX, func(w io.Writer) error { return writeXLSX(rep, w) }
	}
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		return err
	}
	ext := map[string]string{"csv": ".csv", "geojson": ".geojson", "xlsx": ".xlsx"}[format]
	h.Set(echo.HeaderContentDisposition, mime.FormatMediaType("attachment", map[string]string{"filename": name + ext}))
	return c.Blob(http.StatusOK, ct, buf.Bytes())
}

// cheaply reports whether the answer to r from kept report t is made
// without compressing or decompressing it: 304, or the gzip kept, or the
// brotli made for an earlier client. (Its plain bytes, which a client
// without gzip gets, are 620 kB decompressed for a report by origin: light
// work only for the slot's sake, they wait for one.)
func cheaply(r *http.Request, t *cachedTile) bool {
	if etagMatch(r.Header.Get(headerIfNoneMatch), t.etag) {
		return true
	}
	switch pickEncoding(r.Header.Get(echo.HeaderAcceptEncoding)) {
	case encGzip:
		return true
	case encBrotli:
		return t.br.Load() != nil
	}
	return false
}

// encodeReport is rep as c.JSON writes it (encoding/json, then a newline),
// gzipped for speed, with the ETag of its bytes.
func encodeReport(rep *stats.Report) (*cachedTile, error) {
	b, err := json.Marshal(rep)
	if err != nil {
		return nil, err
	}
	b = append(b, '\n')
	sum := sha256.Sum256(b)
	return &cachedTile{gz: gzipQuick(b), etag: hex.EncodeToString(sum[:12]), size: len(b)}, nil
}

// statsFormat reads format= (json, csv, geojson or xlsx) and, without it,
// the Accept header: the first of application/json, text/csv,
// application/geo+json and the Excel type that it lists; JSON otherwise.
func statsFormat(format, accept string) (string, error) {
	switch f := strings.ToLower(format); f {
	case "json", "csv", "geojson", "xlsx":
		return f, nil
	case "":
	default:
		return "", &tiles.FilterError{Param: "format", Value: format, Reason: "unknown format (want json, csv, geojson or xlsx)"}
	}
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "application/json":
			return "json", nil // listed first: preferred
		case "text/csv":
			return "csv", nil
		case "application/geo+json":
			return "geojson", nil
		case ContentTypeXLSX:
			return "xlsx", nil
		}
	}
	return "json", nil
}
