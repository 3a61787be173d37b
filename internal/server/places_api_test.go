package server

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/flowtiles/flowtiles/internal/demo"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/tiles"
)

func placesServer(t *testing.T) *httptest.Server {
	places, err := refdata.Places()
	if err != nil {
		t.Fatal(err)
	}
	refdata.NameProvinces(places)
	api := &PlacesAPI{Catalog: refdata.Italy(), Places: tiles.NewGazetteer(places), Zones: demo.Zones()}
	e := echo.New()
	e.HTTPErrorHandler = (&Server{log: discardLog()}).handleError
	api.Register(e)
	ts := httptest.NewServer(e)
	t.Cleanup(ts.Close)
	return ts
}

func getPlaces(t *testing.T, ts *httptest.Server, q string) (int, []Place) {
	t.Helper()
	res, body := fetch(t, ts.URL+"/api/places?"+q)
	var doc struct{ Places []Place }
	json.Unmarshal(body, &doc)
	return res.StatusCode, doc.Places
}

// Origins are found by name ("Perugia": the city first, then the province),
// without accents, and codes are named (the province by name, not "PG").
func TestPlacesSearch(t *testing.T) {
	ts := placesServer(t)
	st, ps := getPlaces(t, ts, "q="+url.QueryEscape("perugia"))
	if st != 200 || len(ps) < 2 {
		t.Fatalf("%d %v", st, ps)
	}
	got := map[string]bool{}
	for _, p := range ps {
		got[p.Level+":"+p.Code+":"+p.Name] = true
	}
	if !got["municipality:054039:Perugia"] || !got["province:054:Perugia"] {
		t.Errorf("perugia: %v", ps)
	}
	if _, ps := getPlaces(t, ts, "q=forli"); len(ps) == 0 || ps[0].Name != "Forlì-Cesena" && ps[0].Name != "Forlì" {
		t.Errorf("forli: %v", ps)
	}
	if _, ps := getPlaces(t, ts, "q=umbria"); len(ps) == 0 || ps[0].Level != "region" || ps[0].Code != "10" {
		t.Errorf("umbria: %v", ps)
	}
	if _, ps := getPlaces(t, ts, "q=deruta"); len(ps) == 0 || ps[0].Code != "054017" || ps[0].Within != "Perugia, Umbria" {
		t.Errorf("deruta: %v", ps)
	}
	_, ps = getPlaces(t, ts, "code=054039,PG,054,10,999999")
	want := []string{"054039 Perugia", "054 Perugia", "054 Perugia", "10 Umbria"}
	if len(ps) != len(want) {
		t.Fatalf("codes: %v", ps)
	}
	for i, p := range ps {
		if p.Code+" "+p.Name != want[i] {
			t.Errorf("code %d: %v, want %s", i, p, want[i])
		}
	}
	for _, bad := range []string{"", "limit=0&q=x", "q=" + url.QueryEscape(string(make([]byte, 200)))} {
		if st, _ := getPlaces(t, ts, bad); st != 400 {
			t.Errorf("%q: %d", bad, st)
		}
	}
}

// Zones come in the page's language where the zones file has it.
func TestZonesByLanguage(t *testing.T) {
	ts := placesServer(t)
	for lang, want := range map[string]string{"it": "Parcheggio sotto Porta Sant'Angelo", "en": "Car park below Porta Sant'Angelo", "de": "Parcheggio sotto Porta Sant'Angelo"} {
		_, body := fetch(t, ts.URL+"/api/zones?lang="+lang)
		var doc struct{ Zones []struct{ Code, Name string } }
		json.Unmarshal(body, &doc)
		found := false
		for _, z := range doc.Zones {
			found = found || z.Code == "parcheggio-nord" && z.Name == want
		}
		if !found {
			t.Errorf("%s: %v", lang, doc.Zones)
		}
	}
}
