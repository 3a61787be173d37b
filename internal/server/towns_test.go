package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
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

// twoSiteEnv serves two towns, each with its own engine: Deruta over a
// store of records, Torgiano over an empty one.
func twoSiteEnv(t *testing.T) *tileEnv {
	return newTileEnv(t, func(c *Config) {
		other := tiles.NewEngine(memstore.New(refdata.Italy()), c.Engine.Places(), tiles.Config{Privacy: tiles.UnperturbedForTests(1), Loc: sourcetest.Rome})
		c.Sites = []Site{
			{Town: tiles.Town{Code: "deruta", Name: "Deruta"}, Engine: c.Engine, Bounds: c.Bounds, Resolver: c.Resolver},
			{Town: testTowns[0], Engine: other, Resolver: c.Resolver},
		}
		c.Static = fstest.MapFS{
			"index.html": {Data: []byte("<title>planner</title>")},
			"towns.html": {Data: []byte("<title>towns</title>")},
		}
	})
}

// The root of a server of several towns is the town picker; a town's
// planner is under its prefix, and /?town=x leads there.
func TestTownPicker(t *testing.T) {
	env := twoSiteEnv(t)
	for path, want := range map[string]string{"/": "towns", "/t/deruta/": "planner", "/t/torgiano/": "planner"} {
		if res, body := env.get(t, path); res.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Fatalf("GET %s: %d %s; want the %s page", path, res.StatusCode, body, want)
		}
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(env.ts.URL + "/?town=torgiano&lang=en")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/t/torgiano/?lang=en" {
		t.Fatalf("%d %s", res.StatusCode, res.Header.Get("Location"))
	}
	// a server of one town keeps its planner at the root
	if res, body := newTownEnv(t).get(t, "/"); !strings.Contains(string(body), "planner") {
		t.Fatalf("one town: %d %s", res.StatusCode, body)
	}
}

// Each town's requests are answered from its own records: the same tile of
// the global grid is Deruta's people under /t/deruta/ (and at the root,
// the first town's) and nobody under /t/torgiano/ or with town=torgiano,
// whichever was asked (and cached) first.
func TestSitesAnswerForTheirTown(t *testing.T) {
	env := twoSiteEnv(t)
	tid := tiles.TileAt(14, tiles.Project(sourcetest.Centre[0], sourcetest.Centre[1]))
	tile := "/tiles/density/" + tid.String() + ".mvt"
	for _, order := range [][]string{{"/t/deruta", "/t/torgiano"}, {"/t/torgiano", "/t/deruta"}} {
		for _, p := range order {
			q := "?age=25-34&order=" + order[0][3:]
			res, body := env.get(t, p+tile+q)
			want := http.StatusOK
			if p == "/t/torgiano" {
				want = http.StatusNoContent
			}
			if res.StatusCode != want {
				t.Fatalf("GET %s%s%s (after %v): %d %d bytes; want %d", p, tile, q, order, res.StatusCode, len(body), want)
			}
		}
	}
	for path, want := range map[string]int{
		tile:                      http.StatusOK,
		tile + "?town=deruta":     http.StatusOK,
		tile + "?town=torgiano":   http.StatusNoContent,
		tile + "?town=perugia":    http.StatusBadRequest,
		"/api/town?town=torgiano": http.StatusOK,
	} {
		if res, body := env.get(t, path); res.StatusCode != want {
			t.Fatalf("GET %s: %d %s; want %d", path, res.StatusCode, body, want)
		}
	}
	// a document asked for with town= leads to the town's prefix
	_, body := env.get(t, "/tiles/density.json?town=torgiano")
	var doc tileJSONDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Tiles) != 1 || !strings.HasPrefix(doc.Tiles[0], env.ts.URL+"/t/torgiano/tiles/density/") {
		t.Fatalf("tiles %v", doc.Tiles)
	}
	_, body = env.get(t, "/api/towns")
	var list struct{ Towns []TownDoc }
	if err := json.Unmarshal(body, &list); err != nil || len(list.Towns) != 2 || list.Towns[0].Code != "deruta" || list.Towns[1].URL != "/t/torgiano/" {
		t.Fatalf("%s", body)
	}
}
