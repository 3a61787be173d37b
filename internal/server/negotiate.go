package server

// Content negotiation: brotli where the client asks for it, gzip
// otherwise, identity for clients that accept neither; ETags of each
// representation; and a Content-Length on every answer that has a body
// (GDAL's /vsicurl reads a response without one as empty).

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	kgzip "github.com/klauspost/compress/gzip"
	"github.com/labstack/echo/v4"
)

// Content codings of responses.
const (
	encIdentity = ""
	encGzip     = "gzip"
	encBrotli   = "br"
)

// minCompress is the smallest body worth compressing: below it every
// client gets the same bytes (and the response does not vary).
const minCompress = 1024

// A response compressed for each request (stats, documents) is compressed
// for speed: gzip by klauspost/compress's fastest level (its encoders are
// several times faster than the standard library's at a like size); a
// tile, compressed once and served from the cache many times, at the
// standard gzip's best level. For a 615 kB report by origin, on one core
// of a loaded machine:
//
//	klauspost gzip 1: 1.7 ms, 89.4 kB (its 4: 4.7 ms, 84.3 kB)
//	standard gzip 4:  6.4 ms, 80.2 kB (its 1: 5.9 ms, 91.8 kB)
//	brotli 4:         5.7 ms, 87.2 kB (a quiet machine; 6: 10.4 ms, 81.6 kB)
//
// the gzip of a report is the last thing it waits for, after every figure
// is made and encoded.
const (
	brotliQuality  = 4
	gzipQuickLevel = kgzip.BestSpeed
)

// Pools of compressors, each a resetWriter.
var (
	gzipWriters = sync.Pool{New: func() any {
		w, _ := gzip.NewWriterLevel(nil, gzip.BestCompression)
		return w
	}}
	gzipQuickWriters = sync.Pool{New: func() any {
		w, _ := kgzip.NewWriterLevel(nil, gzipQuickLevel)
		return w
	}}
	brotliWriters = sync.Pool{New: func() any {
		return brotli.NewWriterLevel(nil, brotliQuality)
	}}
)

// resetWriter is a compressor that can be pointed at a new output.
type resetWriter interface {
	io.WriteCloser
	Reset(io.Writer)
}

// compressWith compresses b with a compressor of pool.
func compressWith(pool *sync.Pool, b []byte) []byte {
	var buf bytes.Buffer
	zw := pool.Get().(resetWriter)
	zw.Reset(&buf)
	zw.Write(b) // writes to a bytes.Buffer do not fail
	zw.Close()
	pool.Put(zw)
	return buf.Bytes()
}

// gzipBytes compresses a body that is kept (tiles) at the best level.
func gzipBytes(b []byte) []byte { return compressWith(&gzipWriters, b) }

// gzipQuick compresses a body for one response, for speed.
func gzipQuick(b []byte) []byte { return compressWith(&gzipQuickWriters, b) }

// brotliBytes compresses a body for one response.
func brotliBytes(b []byte) []byte { return compressWith(&brotliWriters, b) }

var gzipReaders sync.Pool // *gzip.Reader

// gunzipBytes decompresses a cached tile for a client without gzip.
func gunzipBytes(gz []byte, size int) ([]byte, error) {
	var (
		zr  *gzip.Reader
		err error
	)
	if r, ok := gzipReaders.Get().(*gzip.Reader); ok {
		zr, err = r, r.Reset(bytes.NewReader(gz))
	} else {
		zr, err = gzip.NewReader(bytes.NewReader(gz))
	}
	if err != nil {
		return nil, err
	}
	defer gzipReaders.Put(zr)
	out := make([]byte, size)
	if _, err := io.ReadFull(zr, out); err != nil {
		return nil, err
	}
	return out, nil
}

// pickEncoding reads Accept-Encoding: brotli when the client accepts it (a
// non-zero quality, by name or by *), else gzip, else identity. Qualities
// other than zero do not rank the codings: brotli is smaller whenever it
// is acceptable.
func pickEncoding(header string) string {
	if header == "" {
		return encIdentity
	}
	star, gz, br := -1, -1, -1
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		ok := 1
		if k, v, found := strings.Cut(strings.TrimSpace(params), "="); found && strings.TrimSpace(k) == "q" {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && f <= 0 {
				ok = 0
			}
		}
		switch strings.ToLower(strings.TrimSpace(coding)) {
		case "br":
			br = ok
		case "gzip", "x-gzip":
			gz = ok
		case "*":
			star = ok
		}
	}
	switch {
	case br == 1 || br == -1 && star == 1:
		return encBrotli
	case gz == 1 || gz == -1 && star == 1:
		return encGzip
	}
	return encIdentity
}

// etagSuffix is what an ETag carries for a representation.
func etagSuffix(enc string) string {
	switch enc {
	case encGzip:
		return "-gz"
	case encBrotli:
		return "-br"
	}
	return ""
}

// etagMatch reports whether If-None-Match names the resource (its ETag
// without the representation suffix), in any of its representations (the
// bytes are the same once decoded).
func etagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, part := range strings.Split(header, ",") {
		p := strings.TrimPrefix(strings.TrimSpace(part), "W/")
		if p == "*" {
			return true
		}
		p = strings.Trim(p, `"`)
		if p == etag || p == etag+"-gz" || p == etag+"-br" {
			return true
		}
	}
	return false
}

// contentETag is the ETag (without quotes or suffix) of a document's bytes.
func contentETag(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// compressible reports whether a media type is worth compressing.
func compressible(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	switch {
	case strings.HasPrefix(mt, "text/"), strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "/json"),
		strings.HasSuffix(mt, "+xml"), strings.HasSuffix(mt, "/xml"):
		return true
	}
	switch mt {
	case "application/javascript", "application/x-ndjson", "application/x-protobuf", ContentTypeMVT:
		return true
	}
	return false
}

// writeDoc answers a GET (or HEAD) of a document: its ETag (from its
// bytes), 304 for a matching If-None-Match, else the bytes in the coding
// the client prefers, always with Content-Length. vary names the request
// headers (besides Accept-Encoding) that the document depends on.
func writeDoc(c echo.Context, contentType string, b []byte, cacheControl string) error {
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, cacheControl)
	etag := contentETag(b)
	h.Set(headerETag, `"`+etag+`"`)
	h.Set(echo.HeaderContentType, contentType)
	if etagMatch(c.Request().Header.Get(headerIfNoneMatch), etag) {
		if len(b) >= minCompress && compressible(contentType) {
			addVary(h, echo.HeaderAcceptEncoding)
			enc := pickEncoding(c.Request().Header.Get(echo.HeaderAcceptEncoding))
			h.Set(headerETag, `"`+etag+etagSuffix(enc)+`"`)
		}
		return c.NoContent(http.StatusNotModified)
	}
	// the compress middleware encodes it and sets the length
	return c.Blob(http.StatusOK, contentType, b)
}

// compress is the middleware that finishes every buffered response: it
// encodes a compressible body of at least minCompress bytes as the client
// prefers (ETags get the representation's suffix), and sets Content-Length
// on every body. Responses that stream (the live feed), carry their own
// coding (tiles) or are ranges pass through untouched.
func (s *Server) compress(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.Method != http.MethodGet || strings.HasPrefix(req.URL.Path, "/api/live") || req.URL.Path == "/metrics" {
			return next(c)
		}
		res := c.Response()
		orig := res.Writer
		bw := &bufferedWriter{ResponseWriter: orig}
		res.Writer = bw
		defer func() { res.Writer = orig }() // also when the handler panics
		err := next(c)
		res.Writer = orig
		if err != nil && !res.Committed {
			return err // the error handler answers, unbuffered
		}
		return bw.finish(req)
	}
}

// bufferedWriter holds a response until its handler returns.
type bufferedWriter struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (w *bufferedWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *bufferedWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.buf.Write(p)
}

// Flush is a no-op: the response goes out whole when the handler returns.
func (w *bufferedWriter) Flush() {}

func (w *bufferedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *bufferedWriter) finish(req *http.Request) error {
	if w.status == 0 {
		return nil // nothing written
	}
	h := w.Header()
	body := w.buf.Bytes()
	if w.status == http.StatusOK && h.Get(echo.HeaderContentEncoding) == "" && h.Get("Content-Range") == "" &&
		len(body) >= minCompress && compressible(h.Get(echo.HeaderContentType)) {
		addVary(h, echo.HeaderAcceptEncoding)
		enc := pickEncoding(req.Header.Get(echo.HeaderAcceptEncoding))
		switch enc {
		case encBrotli:
			body = brotliBytes(body)
		case encGzip:
			body = gzipQuick(body)
		}
		if enc != encIdentity {
			h.Set(echo.HeaderContentEncoding, enc)
			if et := h.Get(headerETag); strings.HasSuffix(et, `"`) {
				h.Set(headerETag, strings.TrimSuffix(et, `"`)+etagSuffix(enc)+`"`)
			}
		}
	}
	if bodyAllowed(w.status) {
		h.Set(echo.HeaderContentLength, strconv.Itoa(len(body)))
	} else {
		h.Del(echo.HeaderContentLength)
	}
	w.ResponseWriter.WriteHeader(w.status)
	if bodyAllowed(w.status) && len(body) > 0 {
		_, err := w.ResponseWriter.Write(body)
		return err
	}
	return nil
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// addVary adds names to Vary unless they are there already.
func addVary(h http.Header, names ...string) {
	have := strings.ToLower(strings.Join(h.Values(echo.HeaderVary), ","))
	for _, n := range names {
		found := false
		for _, v := range strings.Split(have, ",") {
			if strings.TrimSpace(v) == strings.ToLower(n) {
				found = true
			}
		}
		if !found {
			h.Add(echo.HeaderVary, n)
			have += "," + strings.ToLower(n)
		}
	}
}

const (
	headerETag        = "ETag"
	headerIfNoneMatch = "If-None-Match"
)
