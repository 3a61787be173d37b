package redteam

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flowtiles/flowtiles/internal/app"
)

// Town attacks: a server of two towns (the embedded demo's Deruta and
// Torgiano) publishes every figure about one town's records only, so that
// two small groups on either side of a border are never added up, and a
// town's ingest token cannot write into the other town.
func TestTownAttacks(t *testing.T) {
	a, err := app.New(context.Background(), app.Config{
		TimeZone: "Europe/Rome", DemoRecords: 20000, DemoSeed: demoSeed, DemoStart: demoStart,
		IngestToken: []string{"every-town-secret", "torgiano:torgiano-secret"}, IngestMaxBytes: 1 << 20, LiveInterval: time.Hour,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()

	// 14 people (k-1) in Deruta and 14 in Torgiano, 700 m apart on either side of
	// the border north of Deruta, far from both historic centres: 28
	// together, never published together
	day := demoStart.AddDate(0, 0, 100)
	inDeruta, inTorgiano := [2]float64{12.410, 43.010}, [2]float64{12.415, 43.015}
	post := func(secret, prefix string, at [2]float64, n int) (int, string) {
		var b strings.Builder
		b.WriteString("observed_at,lon,lat,weight,visitor_id\n")
		for i := range n {
			fmt.Fprintf(&b, "%s,%v,%v,1,%s-%d\n", day.Add(time.Duration(10*60+i)*time.Second).Format(time.RFC3339), at[0], at[1], prefix, i)
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/ingest", strings.NewReader(b.String()))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "text/csv")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	if code, body := post("every-town-secret", "border-d", inDeruta, 14); code != http.StatusCreated {
		t.Fatalf("planting in Deruta: %d %s", code, body)
	}
	if code, body := post("every-town-secret", "border-t", inTorgiano, 14); code != http.StatusCreated {
		t.Fatalf("planting in Torgiano: %d %s", code, body)
	}
	// Torgiano's token cannot add people to Deruta (and so cannot reach k
	// there with people of its own)
	if code, body := post("torgiano-secret", "intruder", inDeruta, 1); code != http.StatusForbidden || !strings.Contains(body, `"town":"deruta"`) {
		t.Fatalf("Torgiano's token writing into Deruta: %d %s", code, body)
	}

	bbox := "bbox=12.405,43.005,12.42,43.02&from=" + day.Format(time.DateOnly) + "&to=" + day.Format(time.DateOnly)
	for _, path := range []string{
		"/api/stats?" + bbox,
		"/t/deruta/api/stats?" + bbox,
		"/t/torgiano/api/stats?" + bbox,
		"/api/stats?town=torgiano&" + bbox,
		"/api/stats?by=hour&" + bbox,
		"/t/torgiano/api/stats?by=hour&" + bbox,
	} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
		}
		var s struct {
			Period struct {
				Total struct {
					Visitors *struct{ Value float64 } `json:"visitors"`
				} `json:"total"`
				Rows []struct {
					Visitors *struct{ Value float64 } `json:"visitors"`
				} `json:"rows"`
			} `json:"period"`
		}
		if err := json.Unmarshal(body, &s); err != nil {
			t.Fatal(err)
		}
		if v := s.Period.Total.Visitors; v != nil {
			t.Errorf("GET %s publishes %v visitors: a town's 14 people, or both towns' added up", path, v.Value)
		}
		for _, r := range s.Period.Rows {
			if r.Visitors != nil {
				t.Errorf("GET %s publishes a row of %v visitors", path, r.Visitors.Value)
			}
		}
	}
}
