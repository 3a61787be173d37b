package app

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"testing"

	"github.com/flowtiles/flowtiles/internal/areas"
)

// Zones are per town in PostGIS too (issue 17): Deruta and Torgiano each
// have their own zones, of the same names and ids (centro-storico is zone 0
// of both). A server of both towns lists each town's zones only under its
// prefix, and a zone filter counts that town's people in its own zone.
func TestPostGISZonesPerTown(t *testing.T) {
	ctx := context.Background()
	url, pool := twoTownDatabase(t)
	zoneNames := map[string][]string{}
	for _, code := range []string{"deruta", "torgiano"} {
		file := "../../testdata/" + code + "/zones.geojson"
		if _, err := (&areas.Importer{Pool: pool, Town: code}).ImportFile(ctx, file, areas.Zones); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		f, err := areas.Parse(file, data, areas.Zones)
		if err != nil {
			t.Fatal(err)
		}
		for _, z := range f.Zones {
			zoneNames[code] = append(zoneNames[code], z.Name)
		}
	}
	// people in each town's historic centre, loaded as `flowtiles ingest`
	// does
	people := map[string]int{"deruta": 30, "torgiano": 45}
	recs := loadPeople(t, pool, people)
	a, srv := start(t, Config{DatabaseURL: url}) // both towns
	for _, code := range []string{"deruta", "torgiano"} {
		status, body := get(t, srv.URL+"/t/"+code+"/api/zones")
		if status != http.StatusOK {
			t.Fatalf("%s's zones: %d %s", code, status, body)
		}
		var got struct {
			Zones []struct{ Code string } `json:"zones"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		var codes []string
		for _, z := range got.Zones {
			codes = append(codes, z.Code)
		}
		if !slices.Equal(codes, zoneNames[code]) {
			t.Errorf("/t/%s/api/zones: %v, want its own zones %v", code, codes, zoneNames[code])
		}
		// shown by their labels, in the page's language
		for lang, want := range map[string]string{"": "Centro storico", "en": "Historic centre"} {
			_, body := get(t, srv.URL+"/t/"+code+"/api/zones?lang="+lang)
			var named struct {
				Zones []struct{ Code, Name string } `json:"zones"`
			}
			if err := json.Unmarshal(body, &named); err != nil || len(named.Zones) == 0 || named.Zones[0].Code != "centro-storico" || named.Zones[0].Name != want {
				t.Errorf("/t/%s/api/zones?lang=%s: %s, want centro-storico named %q", code, lang, body, want)
			}
		}
		// the zone of the same name in each town counts that town's people
		path := "/t/" + code + "/api/stats?zone=centro-storico"
		if got, want := visitors(t, srv.URL+path), published(a, recs[code]); got != want {
			t.Errorf("%s: visitors %v, want %v (%s's %d people only)", path, got, want, code, people[code])
		}
	}
}
