package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/flowtiles/flowtiles/internal/live"
	"github.com/flowtiles/flowtiles/internal/presence"
)

// RecordDecoder reads a whole body of one format ("csv" or "ndjson") into
// records, validated as the CLI validates files. Invalid rows are returned
// in rowErrs ("line N: column: reason"); err is for anything else.
type RecordDecoder func(format string, body io.Reader) (recs []presence.Record, rowErrs []string, err error)

// IngestAPI serves POST /api/ingest (docs/API.md): records from counters
// and feeds, authenticated by bearer token, validated whole, stored as one
// batch, counted once however often they are posted.
type IngestAPI struct {
	Tokens live.Tokens // none: the endpoint is off
	Sink   live.Sink
	Decode RecordDecoder
	// MaxBytes bounds a body (default 16 MiB).
	MaxBytes int64
	// Version returns the data version after a batch is stored (for the
	// response); Poke tells the live hub at once. Both optional.
	Version func() uint64
	Poke    func()
}

// DefaultIngestMaxBytes is the default body limit of POST /api/ingest.
const DefaultIngestMaxBytes = 16 << 20

// maxListedErrors bounds the row errors a 400 lists.
const maxListedErrors = 100

// Register adds the route.
func (a *IngestAPI) Register(e *echo.Echo) {
	e.POST("/api/ingest", a.handle)
}

// ingestFormats maps accepted media types to decoder formats.
var ingestFormats = map[string]string{
	"text/csv":             "csv",
	"application/x-ndjson": "ndjson",
	"application/ndjson":   "ndjson",
	"application/jsonl":    "ndjson",
}

func (a *IngestAPI) handle(c echo.Context) error {
	r := c.Request()
	if !a.Tokens.Enabled() {
		return c.JSON(http.StatusNotFound, map[string]string{"error": "ingest is off: no --ingest-token configured"})
	}
	if !a.Tokens.Allow(r.Header.Get(echo.HeaderAuthorization)) {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="flowtiles ingest"`)
		return c.JSON(http.StatusUnauthorized, map[string]string{"error": "missing or invalid bearer token"})
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	format, ok := ingestFormats[mt]
	if !ok {
		return c.JSON(http.StatusUnsupportedMediaType, map[string]string{"param": "Content-Type",
			"error": fmt.Sprintf("unsupported content type %q (want text/csv or application/x-ndjson)", mt)})
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 200 {
		return c.JSON(http.StatusBadRequest, map[string]string{"param": "Idempotency-Key", "error": "the idempotency key is over 200 characters"})
	}
	limit := a.MaxBytes
	if limit <= 0 {
		limit = DefaultIngestMaxBytes
	}
	tooLarge := map[string]string{"error": fmt.Sprintf("body over %d bytes", limit)}
	if r.ContentLength > limit {
		return c.JSON(http.StatusRequestEntityTooLarge, tooLarge)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, limit))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return c.JSON(http.StatusRequestEntityTooLarge, tooLarge)
	case err != nil:
		return fmt.Errorf("reading the ingest body: %w", err)
	}
	if key == "" {
		sum := sha256.Sum256(body)
		key = "sha256:" + hex.EncodeToString(sum[:])
	}
	recs, rowErrs, err := a.Decode(format, bytes.NewReader(body))
	if err != nil {
		return c.JSON(http.StatusBadRequest, map[string]any{"error": err.Error(), "errors": []string{err.Error()}, "error_count": 1})
	}
	if len(rowErrs) > 0 {
		return c.JSON(http.StatusBadRequest, map[string]any{
			"error":       fmt.Sprintf("%d invalid records: nothing stored", len(rowErrs)),
			"errors":      rowErrs[:min(len(rowErrs), maxListedErrors)],
			"error_count": len(rowErrs),
		})
	}
	if len(recs) == 0 {
		return c.JSON(http.StatusBadRequest, map[string]any{"error": "no records", "errors": []string{}, "error_count": 0})
	}
	dup, err := a.Sink.Store(r.Context(), key, recs)
	var re *live.RecordError
	if errors.As(err, &re) {
		return c.JSON(http.StatusBadRequest, map[string]any{"error": "1 invalid record: nothing stored", "errors": []string{re.Error()}, "error_count": 1})
	}
	if err != nil {
		return fmt.Errorf("storing an ingest batch: %w", err)
	}
	resp := map[string]any{"batch": key, "records": len(recs), "duplicate": dup}
	if dup {
		return c.JSON(http.StatusOK, resp)
	}
	if a.Poke != nil {
		a.Poke()
	}
	if a.Version != nil {
		resp["data_version"] = a.Version()
	}
	return c.JSON(http.StatusCreated, resp)
}
