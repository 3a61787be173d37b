package server

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"

	"github.com/flowtiles/flowtiles/tiles"
)

// A response compressed for each request (documents, stats) is gzipped at
// klauspost/compress's quick level (gzipQuickLevel); a tile, compressed
// once and kept in the cache, at the standard library's best level. Both
// are read by the standard library's reader, as by any client.
func TestGzipLevels(t *testing.T) {
	env := newTileEnv(t, nil)
	check := func(path string, level int, quick bool) {
		t.Helper()
		res, body := env.get(t, path, "Accept-Encoding", "gzip")
		if res.StatusCode != 200 || res.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("%s: %d, encoding %q", path, res.StatusCode, res.Header.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		var zw io.WriteCloser
		if quick {
			zw, _ = kgzip.NewWriterLevel(&want, level)
		} else {
			zw, _ = gzip.NewWriterLevel(&want, level)
		}
		zw.Write(plain)
		zw.Close()
		if !bytes.Equal(body, want.Bytes()) {
			t.Fatalf("%s: %d bytes gzipped from %d, want %d (level %d)", path, len(body), len(plain), want.Len(), level)
		}
	}
	check("/tiles/density.json", gzipQuickLevel, true)
	check("/tiles", gzipQuickLevel, true)
	check(tileURL(tiles.LayerDensity, centreTile, ""), gzip.BestCompression, false)
}
