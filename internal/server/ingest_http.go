package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/tiles"
)

// RecordDecoder reads a whole body of one format ("csv" or "ndjson") into
// records, validated as the CLI validates files: presence.Decode. Invalid
// rows are listed in the result (a bounded number, all counted); err is
// for anything else.
type RecordDecoder func(format string, body io.Reader) (presence.Decoded, error)

// Sink stores batches of validated records, all or nothing:
// ingest.PGSink (PostGIS) and ingest.MemorySink (the embedded store)
// implement it. Store owns recs for the call: it sets each record's Town
// (where the record lies), so a slice is not to be stored by two calls
// at once. It stores a batch of a town's token (id.Town) only when
// every record lies in that town, and returns a *presence.TownError
// otherwise (whether or not the same bytes were stored before). It returns
// duplicate=true, and writes nothing, when a
// batch with the same checksum was stored before (under any key, or as a
// file), or when id.Key was used in id.Scope for the same checksum; a key
// used in its scope for another checksum is a *presence.KeyConflictError,
// a record it cannot hold a *presence.RecordError.
type Sink interface {
	Store(ctx context.Context, id presence.BatchID, recs []presence.Record) (duplicate bool, err error)
}

// IngestAPI serves POST /api/ingest (docs/API.md): records from counters
// and feeds, authenticated by bearer token, validated whole, stored as one
// batch, counted once however often they are posted. A town's token
// (Tokens) writes only records inside its town: a batch with others is
// refused whole, 403, naming them.
type IngestAPI struct {
	Tokens Tokens // none: the endpoint is off
	Sink   Sink
	Decode RecordDecoder
	// MaxBytes bounds a body, and a gzip body once decompressed (default
	// 16 MiB).
	MaxBytes int64
	// Version returns the data version after a batch is stored (for the
	// response); Poke tells the live hub at once. Both optional.
	Version func() uint64
	Poke    func()
	// Timeout bounds the storing of a batch, once its body is read and
	// validated (DefaultIngestTimeout when 0): past it the sink gives up,
	// its transaction rolls back whole, and the answer is 503.
	Timeout time.Duration
}

// DefaultIngestTimeout bounds the storing of one posted batch.
const DefaultIngestTimeout = 30 * time.Second

// DefaultIngestMaxBytes is the default body limit of POST /api/ingest.
const DefaultIngestMaxBytes = 16 << 20

// maxListedErrors bounds the row errors a 400 lists.
const maxListedErrors = presence.MaxListedErrors

// maxKeyLength bounds an Idempotency-Key.
const maxKeyLength = 200

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

// handle answers everything it can before reading the body (off, token,
// content type and encoding, key, declared length), so that a stranger's
// request is refused at once; the connection of a request whose body is not
// read is closed after the answer (see front).
func (a *IngestAPI) handle(c echo.Context) error {
	r := c.Request()
	if !a.Tokens.Enabled() {
		return failWith(http.StatusNotFound, "", "ingest is off: no --ingest-token configured")
	}
	grant, ok := a.Tokens.Grant(r.Header.Get(echo.HeaderAuthorization))
	if !ok {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="flowtiles ingest"`)
		return failWith(http.StatusUnauthorized, "", "missing or invalid bearer token")
	}
	// A batch posted under a town's prefix (or with town=) is that town's:
	// every record must lie in it, as with the town's own token. (A proxy
	// routes /t/{town}/ to the town's group; the batch is about that town.)
	if code, named := namedTown(c); named {
		if grant.Town != "" && grant.Town != code {
			return failWith(http.StatusForbidden, "", "a token of town "+grant.Town+" posting to town "+code+": nothing stored")
		}
		grant.Town = code
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	format, ok := ingestFormats[mt]
	if !ok {
		return failWith(http.StatusUnsupportedMediaType, "Content-Type",
			fmt.Sprintf("unsupported content type %s (want text/csv or application/x-ndjson)", tiles.Quote(mt)))
	}
	gz := false
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get(echo.HeaderContentEncoding))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		gz = true
	default:
		return failWith(http.StatusUnsupportedMediaType, "Content-Encoding",
			fmt.Sprintf("unsupported content encoding %s (want gzip, or none)", tiles.Quote(enc)))
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > maxKeyLength {
		return failWith(http.StatusBadRequest, "Idempotency-Key", fmt.Sprintf("the idempotency key is over %d characters", maxKeyLength))
	}
	limit := a.MaxBytes
	if limit <= 0 {
		limit = DefaultIngestMaxBytes
	}
	if r.ContentLength > limit {
		return failWith(http.StatusRequestEntityTooLarge, "", fmt.Sprintf("body over %d bytes", limit))
	}
	body, status, msg := readBody(c, limit, gz)
	if status != 0 {
		return failWith(status, "", msg)
	}
	// The body was read whole: the connection may serve further requests.
	c.Response().Header().Del(echo.HeaderConnection)
	sum := sha256.Sum256(body)
	id := presence.BatchID{Checksum: hex.EncodeToString(sum[:]), Scope: grant.Scope, Key: key, Town: grant.Town}
	batch := key
	if batch == "" {
		batch = "sha256:" + id.Checksum
	}
	dec, err := a.Decode(format, bytes.NewReader(body))
	if err != nil {
		return &apiError{http.StatusBadRequest, errorBody{Error: err.Error(), Errors: []string{err.Error()}, ErrorCount: 1}}
	}
	if dec.ErrorCount > 0 {
		return &apiError{http.StatusBadRequest, errorBody{
			Error:      fmt.Sprintf("%d invalid records: nothing stored", dec.ErrorCount),
			Errors:     dec.Errors[:min(len(dec.Errors), maxListedErrors)],
			ErrorCount: dec.ErrorCount,
		}}
	}
	recs := dec.Records
	if len(recs) == 0 {
		return failWith(http.StatusBadRequest, "", "no records")
	}
	timeout := a.Timeout
	if timeout <= 0 {
		timeout = DefaultIngestTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	dup, err := a.Sink.Store(ctx, id, recs)
	var (
		re *presence.RecordError
		ke *presence.KeyConflictError
		te *presence.TownError
	)
	switch {
	case errors.As(err, &te):
		return townRefusal(te)
	case errors.As(err, &re):
		return &apiError{http.StatusBadRequest, errorBody{Error: "1 invalid record: nothing stored", Errors: []string{re.Error()}, ErrorCount: 1}}
	case errors.As(err, &ke):
		return failWith(http.StatusConflict, "Idempotency-Key", ke.Error())
	case err != nil:
		return fmt.Errorf("storing an ingest batch: %w", err)
	}
	resp := map[string]any{"batch": batch, "records": len(recs), "duplicate": dup}
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

// townRefusal is the 403 of a town's token posting records that lie
// outside its town: the first of them (presence.MaxListedErrors) by record
// number (1-based) with the town each lies in (null: outside every town),
// as text in errors and as objects in rows.
func townRefusal(te *presence.TownError) error {
	b := errorBody{Error: te.Error(), ErrorCount: te.Count, Rows: make([]townRow, len(te.Rows))}
	for i, r := range te.Rows {
		b.Errors = append(b.Errors, r.String())
		b.Rows[i].Record = r.Index + 1
		if r.Town != "" {
			b.Rows[i].Town = &te.Rows[i].Town
		}
	}
	return &apiError{http.StatusForbidden, b}
}

// readBody reads the request body whole, at most limit bytes of it, and
// as much once decompressed when gz. On failure it returns the status and
// message to answer with.
func readBody(c echo.Context, limit int64, gz bool) (body []byte, status int, msg string) {
	raw := http.MaxBytesReader(c.Response(), c.Request().Body, limit)
	var src io.Reader = raw
	var zr *gzip.Reader
	if gz {
		var err error
		if zr, err = gzip.NewReader(raw); err != nil {
			if status, msg := bodyError(err, limit); status != 0 {
				return nil, status, msg
			}
			return nil, http.StatusBadRequest, "the body is not gzip data (Content-Encoding: gzip): " + err.Error()
		}
		// one byte over the limit tells a body at the limit from a larger one
		src = io.LimitReader(zr, limit+1)
	}
	body, err := io.ReadAll(src)
	if err == nil && gz {
		if int64(len(body)) > limit {
			return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes once decompressed", limit)
		}
		// the rest of the request, bounded by limit, so that the
		// connection can be reused
		_, err = io.Copy(io.Discard, raw)
	}
	if err == nil {
		return body, 0, ""
	}
	if status, msg := bodyError(err, limit); status != 0 {
		return nil, status, msg
	}
	if gz {
		return nil, http.StatusBadRequest, "the body is not valid gzip data (Content-Encoding: gzip): " + err.Error()
	}
	return nil, http.StatusBadRequest, "reading the body: " + err.Error()
}

// bodyError classifies a failure to read a request body: over the limit,
// or too slow (the server's body timeout). Zero for anything else.
func bodyError(err error, limit int64) (int, string) {
	var (
		mbe *http.MaxBytesError
		ne  net.Error
	)
	switch {
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", limit)
	case errors.As(err, &ne) && ne.Timeout():
		return http.StatusRequestTimeout, "the body did not arrive in time: send it faster, or in smaller batches"
	}
	return 0, ""
}
