package server

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/flowtiles/flowtiles/tiles"
)

// groupEnv is one server group of a fleet of two towns: it serves Deruta;
// Torgiano is served by another group behind the same reverse proxy.
func groupEnv(t *testing.T, mod func(*Config)) *tileEnv {
	return newTileEnv(t, func(c *Config) {
		c.Sites = []Site{{Town: tiles.Town{Code: "deruta", Name: "Deruta"}, Engine: c.Engine, Bounds: c.Bounds, Resolver: c.Resolver}}
		c.Fleet = []tiles.Town{{Code: "deruta", Name: "Deruta"}, testTowns[0]}
		c.Static = fstest.MapFS{
			"index.html": {Data: []byte("<title>planner</title>")},
			"kiosk.html": {Data: []byte("<title>kiosk</title>")},
			"towns.html": {Data: []byte("<title>towns</title>")},
		}
		if mod != nil {
			mod(c)
		}
	})
}

// A server group that serves one town of a fleet of two lists both towns
// in /api/towns, each with its pages and whether it serves it; its root is
// the town picker (the proxy sends / to the default group, whose picker
// leads to every town).
func TestFleetTownPicker(t *testing.T) {
	env := groupEnv(t, nil)
	for _, path := range []string{"/api/towns", "/t/deruta/api/towns"} {
		res, body := env.get(t, path)
		var list struct{ Towns []TownDoc }
		if err := json.Unmarshal(body, &list); err != nil || res.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, res.StatusCode, body)
		}
		want := []TownDoc{
			{Code: "deruta", Name: "Deruta", URL: "/t/deruta/", KioskURL: "/t/deruta/kiosk", Served: true},
			{Code: "torgiano", Name: "Torgiano", URL: "/t/torgiano/", KioskURL: "/t/torgiano/kiosk", Served: false},
		}
		if len(list.Towns) != len(want) {
			t.Fatalf("%s: %s; want deruta and torgiano", path, body)
		}
		for i, w := range want {
			g := list.Towns[i]
			if g.Code != w.Code || g.Name != w.Name || g.URL != w.URL || g.KioskURL != w.KioskURL || g.Served != w.Served {
				t.Fatalf("%s: town %d is %+v, want %+v", path, i, g, w)
			}
		}
		// the other group's town is described in full (the picker names it
		// in the page's language)
		if tg := list.Towns[1]; tg.Names["en"] != "Torgiano" || tg.Kiosk.Zoom != 16 {
			t.Fatalf("%s: Torgiano's document %+v", path, tg)
		}
		// the JSON name of the flag is "served"
		if !strings.Contains(string(body), `"served":false`) || !strings.Contains(string(body), `"served":true`) {
			t.Fatalf("%s: %s", path, body)
		}
	}
	for path, want := range map[string]string{"/": "towns", "/t/deruta/": "planner", "/kiosk": "kiosk"} {
		if res, body := env.get(t, path); res.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Fatalf("GET %s: %d %s; want the %s page", path, res.StatusCode, body, want)
		}
	}
	// /api/town is the served town's
	if res, body := env.get(t, "/api/town"); res.StatusCode != 200 || !strings.Contains(string(body), `"code":"deruta"`) || !strings.Contains(string(body), `"served":true`) {
		t.Fatalf("/api/town: %d %s", res.StatusCode, body)
	}

	// behind a trusted proxy with a prefix, the URLs are the proxy's
	proxied := groupEnv(t, func(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
	_, body := proxied.get(t, "/api/towns", "X-Forwarded-Host", "maps.example.org", "X-Forwarded-Prefix", "/flows")
	var list struct{ Towns []TownDoc }
	if err := json.Unmarshal(body, &list); err != nil || len(list.Towns) != 2 ||
		list.Towns[0].URL != "/flows/t/deruta/" || list.Towns[1].URL != "/flows/t/torgiano/" || list.Towns[1].KioskURL != "/flows/t/torgiano/kiosk" {
		t.Fatalf("proxied /api/towns: %s", body)
	}
}

// A request for a town of the fleet that another group serves (it came to
// this group directly, or the proxy's map is wrong) is a 404 that says so,
// in JSON, naming no other server; a town of no group stays unknown, and
// town= naming the other group's town is a 400 that says so.
func TestFleetTownServedElsewhere(t *testing.T) {
	env := groupEnv(t, nil)
	for _, path := range []string{"/t/torgiano/", "/t/torgiano/kiosk", "/t/torgiano/api/town", "/t/torgiano/tiles/density.json", "/t/torgiano"} {
		res, body := env.get(t, path)
		m := jsonError(t, res, body, http.StatusNotFound, "")
		if m["error"] != `town "torgiano" is served by another server group` {
			t.Fatalf("GET %s: %s", path, body)
		}
	}
	res, body := env.get(t, "/t/perugia/")
	if m := jsonError(t, res, body, http.StatusNotFound, ""); m["error"] != `unknown town "perugia" (the towns are deruta, torgiano)` {
		t.Fatalf("GET /t/perugia/: %s", body)
	}
	res, body = env.get(t, "/api/town?town=torgiano")
	if m := jsonError(t, res, body, http.StatusBadRequest, "town"); m["error"] != `town "torgiano" is served by another server group` {
		t.Fatalf("town=torgiano: %s", body)
	}
}

// A server of the only town of its fleet keeps its planner at the root; so
// does one whose fleet is not given (its towns served are the fleet).
func TestFleetOfOneTown(t *testing.T) {
	only := groupEnv(t, func(c *Config) { c.Fleet = c.Fleet[:1] })
	unset := groupEnv(t, func(c *Config) { c.Fleet = nil })
	for name, env := range map[string]*tileEnv{"a fleet of one": only, "no fleet": unset} {
		if res, body := env.get(t, "/"); res.StatusCode != 200 || !strings.Contains(string(body), "planner") {
			t.Fatalf("%s: GET /: %d %s", name, res.StatusCode, body)
		}
		_, body := env.get(t, "/api/towns")
		var list struct{ Towns []TownDoc }
		if err := json.Unmarshal(body, &list); err != nil || len(list.Towns) != 1 || list.Towns[0].Code != "deruta" || !list.Towns[0].Served {
			t.Fatalf("%s: /api/towns %s", name, body)
		}
	}
}
