package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzTilePath throws arbitrary tile paths and queries at the server: it
// never answers 5xx (a panic would be a recovered 500) and every error is
// a JSON body.
//
//	go test -run '^$' -fuzz FuzzTilePath ./internal/server
func FuzzTilePath(f *testing.F) {
	for _, seed := range [][2]string{
		{"density/14/8757/6021.mvt", ""},
		{"density/14/8757/6021.pbf", "bins=square&hours=8-12,18&days=mon,sun"},
		{"origins/9/273/188.mvt", "from=2025-03-01&to=2025-03-31&nationality=IT,DE"},
		{"flows/8/136/94.mvt", "origin=054&zone=centro"},
		{"zones/16/35030/24086.mvt", "age=25-34&gender=f&spend=high"},
		{"density.json", "hours=23-1"},
		{"zones/metadata.json", ""},
		{"density/22/4194303/4194303.mvt", "to=2025-03-01T08:00:00%2B01:00"},
		{"density/0/0/0.mvt", "hours=24"},
		{"nope/1/1/1.mvt", ""},
		{"density/-1/0/0.mvt", "from=%zz"},
		{"density/1/1/1.mvt.mvt", "zone=&origin="},
		{"density/01/001/1.mvt", "bins="},
	} {
		f.Add(seed[0], seed[1])
	}
	env := newTileEnv(f, nil)
	h := env.srv.Handler()
	f.Fuzz(func(t *testing.T, path, query string) {
		req, err := http.NewRequest(http.MethodGet, "http://flowtiles.test/tiles/"+path, nil)
		if err != nil {
			return
		}
		req.URL.RawQuery = query
		if strings.Contains(path, "?") || strings.Contains(path, "#") {
			return // not a path
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("/tiles/%s?%s: %d %s", path, query, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["error"] == "" {
				t.Fatalf("/tiles/%s?%s: %d with body %q", path, query, rec.Code, rec.Body)
			}
		}
	})
}
