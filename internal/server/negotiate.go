package server

// Content negotiation of tiles: gzip or plain bytes, and ETags.

import (
	"bytes"
	"compress/gzip"
	"io"
	"strconv"
	"strings"
	"sync"
)

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestCompression)
	return w
}}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(&buf)
	zw.Write(b) // writes to a bytes.Buffer do not fail
	zw.Close()
	gzipWriters.Put(zw)
	return buf.Bytes()
}

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

// acceptsGzip reads Accept-Encoding: gzip (or *) with a non-zero quality.
func acceptsGzip(header string) bool {
	star, gz := false, -1
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if k, v, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.TrimSpace(k) == "q" {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				q = f
			}
		}
		switch strings.ToLower(strings.TrimSpace(coding)) {
		case "gzip", "x-gzip":
			if q > 0 {
				gz = 1
			} else {
				gz = 0
			}
		case "*":
			star = q > 0
		}
	}
	return gz == 1 || gz == -1 && star
}

// etagMatch reports whether If-None-Match names the tile, in either of its
// representations (the bytes are the same once decoded).
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
		if p == etag || p == etag+"-gz" {
			return true
		}
	}
	return false
}
