package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/tiles"
)

var testTowns = []tiles.Town{{
	Code: "torgiano", ISTAT: "054053", Name: "Torgiano", Names: map[string]string{"en": "Torgiano"},
	TimeZone: "Europe/Rome", Center: orb.Point{12.4345, 43.0257}, Zoom: 15,
	Kiosk: tiles.Kiosk{Title: map[string]string{"it": "Torgiano, il borgo del vino"}, Lang: "it", Zoom: 16},
}}

func newTownEnv(t *testing.T) *tileEnv {
	return newTileEnv(t, func(c *Config) {
		c.Towns = testTowns
		c.Static = fstest.MapFS{
			"index.html": {Data: []byte("<title>planner</title>")},
			"kiosk.html": {Data: []byte("<title>kiosk</title>")},
		}
	})
}

// A town's pages and documents live under /t/{town}/: the planner, the
// kiosk, and every path of the server for that town, whose documents lead
// back under the same prefix (a reverse proxy routes a town by it).
func TestTownPrefix(t *testing.T) {
	env := newTownEnv(t)
	for name, tc := range map[string]struct {
		path, want string
		status     int
	}{
		"planner":        {"/t/torgiano/", "planner", 200},
		"kiosk":          {"/t/torgiano/kiosk", "kiosk", 200},
		"tilejson":       {"/t/torgiano/tiles/density.json", `"tiles":["http://`, 200},
		"style":          {"/t/torgiano/styles/planner.json", `/t/torgiano/tiles/density.json`, 200},
		"town":           {"/t/torgiano/api/town", `"code":"torgiano"`, 200},
		"unknown town":   {"/t/perugia/", `unknown town \"perugia\" (the towns are torgiano)`, 404},
		"unknown page":   {"/t/torgiano/nothing", `"error"`, 404},
		"two towns":      {"/t/torgiano/api/stats?bbox=12,42,13,44&town=perugia", `"param":"town"`, 400},
		"the root stays": {"/", "planner", 200},
	} {
		t.Run(name, func(t *testing.T) {
			res, body := env.get(t, tc.path)
			if res.StatusCode != tc.status || !strings.Contains(string(body), tc.want) {
				t.Fatalf("GET %s: %d %s; want %d with %s", tc.path, res.StatusCode, body, tc.status, tc.want)
			}
		})
	}
	t.Run("tile URLs keep the prefix", func(t *testing.T) {
		_, body := env.get(t, "/t/torgiano/tiles/density.json?age=25-34")
		var doc tileJSONDoc
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Tiles) != 1 || !strings.HasPrefix(doc.Tiles[0], env.ts.URL+"/t/torgiano/tiles/density/{z}/{x}/{y}.mvt?age=25-34") {
			t.Fatalf("tiles %v", doc.Tiles)
		}
		res, tile := env.get(t, strings.NewReplacer("{z}", "16", "{x}", "35028", "{y}", "24085").Replace(strings.TrimPrefix(doc.Tiles[0], env.ts.URL)))
		if res.StatusCode != 200 && res.StatusCode != 204 {
			t.Fatalf("a tile under the prefix: %d %s", res.StatusCode, tile)
		}
	})
	t.Run("the prefix without its slash redirects", func(t *testing.T) {
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := c.Get(env.ts.URL + "/t/torgiano?lang=en")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/t/torgiano/?lang=en" {
			t.Fatalf("%d %s", res.StatusCode, res.Header.Get("Location"))
		}
	})
}

// /api/towns lists the towns served with their pages; /api/town describes
// the request's town: what the kiosk puts in its headline and view comes
// from the town's data, not from the page's code.
func TestTownDocuments(t *testing.T) {
	env := newTownEnv(t)
	_, body := env.get(t, "/api/towns")
	var list struct{ Towns []TownDoc }
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Towns) != 1 || list.Towns[0].URL != "/t/torgiano/" || list.Towns[0].KioskURL != "/t/torgiano/kiosk" {
		t.Fatalf("%s", body)
	}
	for _, path := range []string{"/api/town", "/t/torgiano/api/town", "/api/town?town=torgiano"} {
		res, body := env.get(t, path)
		var doc TownDoc
		if err := json.Unmarshal(body, &doc); err != nil || res.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, res.StatusCode, body)
		}
		if doc.Name != "Torgiano" || doc.Kiosk.Title["it"] != "Torgiano, il borgo del vino" || doc.Kiosk.Zoom != 16 ||
			len(doc.Center) != 2 || doc.Center[0] != 12.4345 || doc.Zoom != 15 || doc.TimeZone != "Europe/Rome" {
			t.Fatalf("%s: %s", path, body)
		}
	}
	res, body := env.get(t, "/api/town?town=deruta")
	jsonError(t, res, body, http.StatusBadRequest, "town")
}
