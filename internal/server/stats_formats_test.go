package server

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// The stats CSV is plain RFC 4180: its first line is the header (GDAL and
// spreadsheet imports read "#" comment lines as data); what it is about is
// in format=csv&meta=1.
func TestStatsCSVIsPlain(t *testing.T) {
	env := newStatsEnv(t, statsFixture())
	rec := env.get(t, "/api/stats?zone=centro&by=nationality&format=csv")
	body := rec.Body.String()
	if !strings.HasPrefix(body, "key,label,presences,") || strings.Contains(body, "#") || strings.Count(body, "\r\n") != strings.Count(body, "\n") {
		t.Fatalf("not plain RFC 4180 CSV:\n%q", body)
	}
	lines, err := csv.NewReader(strings.NewReader(body)).ReadAll() // no Comment
	if err != nil || len(lines) != 5 || lines[1][0] != "total" {
		t.Fatalf("CSV: %v %q", err, lines)
	}
	rec = env.get(t, "/api/stats?zone=centro&by=nationality&format=csv&meta=1")
	meta, err := csv.NewReader(strings.NewReader(rec.Body.String())).ReadAll()
	if err != nil || rec.Code != 200 || meta[0][0] != "name" || meta[0][1] != "value" {
		t.Fatalf("meta: %d %v %q", rec.Code, err, rec.Body)
	}
	about := map[string]string{}
	for _, m := range meta[1:] {
		about[m[0]] = m[1]
	}
	if about["area"] != "zone centro" || about["by"] != "nationality" || about["k"] != "15" || about["definition.visit"] == "" || about["unit.presences"] == "" {
		t.Errorf("meta: %v", about)
	}
	if cd := rec.Header().Get("Content-Disposition"); !strings.Contains(cd, "-about.csv") {
		t.Errorf("meta Content-Disposition %s", cd)
	}
	for _, target := range []string{"/api/stats?zone=centro&meta=1", "/api/stats?zone=centro&format=csv&meta=yes"} {
		if rec := env.get(t, target); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"param":"meta"`) {
			t.Errorf("%s: %d %s", target, rec.Code, rec.Body)
		}
	}
	// GDAL reads it as a table whose first row is the total
	_, err = exec.LookPath("ogrinfo")
	need(t, "ogrinfo (Debian gdal-bin)", err)
	f := filepath.Join(t.TempDir(), "stats.csv")
	os.WriteFile(f, []byte(body), 0o644)
	out, err := exec.Command("ogrinfo", "-ro", "-al", f).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "key (String) = total") || !strings.Contains(string(out), "Feature Count: 4") {
		t.Errorf("ogrinfo %s: %v\n%s", f, err, out)
	}
}

// format=geojson gives the rows of a breakdown by places (zones, origins)
// with their boundaries, for joins; other breakdowns are a 400.
func TestStatsGeoJSON(t *testing.T) {
	env := newStatsEnv(t, statsFixture())
	rec := env.get(t, "/api/stats?bbox=12.40,42.97,12.43,42.99&by=zone&format=geojson")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/geo+json" {
		t.Fatalf("%d %s %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	var fc struct {
		Type     string `json:"type"`
		Features []struct {
			ID         string         `json:"id"`
			Geometry   map[string]any `json:"geometry"`
			Properties map[string]any `json:"properties"`
		} `json:"features"`
		Total map[string]any `json:"total"`
		K     int            `json:"k"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &fc); err != nil {
		t.Fatal(err)
	}
	if fc.Type != "FeatureCollection" || fc.K != 15 || fc.Total["visitors"] != 25.0 {
		t.Fatalf("collection: %s", rec.Body)
	}
	zones := 0
	for _, f := range fc.Features {
		if f.ID != "unknown" {
			zones++
			if f.Geometry["type"] != "Polygon" && f.Geometry["type"] != "MultiPolygon" {
				t.Errorf("zone %s without its boundary: %v", f.ID, f.Geometry)
			}
		}
		if f.Properties["key"] != f.ID || f.Properties["level"] != "zone" {
			t.Errorf("feature %s: %v", f.ID, f.Properties)
		}
		if _, ok := f.Properties["visitors"].(float64); !ok && f.Properties["suppressed"] != "row" {
			t.Errorf("feature %s: visitors %v", f.ID, f.Properties["visitors"])
		}
	}
	if zones == 0 {
		t.Fatalf("no zone rows: %s", rec.Body)
	}
	// GDAL reads it with numbers as numbers
	_, err := exec.LookPath("ogrinfo")
	need(t, "ogrinfo (Debian gdal-bin)", err)
	file := filepath.Join(t.TempDir(), "zones.geojson")
	os.WriteFile(file, rec.Body.Bytes(), 0o644)
	out, err := exec.Command("ogrinfo", "-ro", "-al", "-so", file).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "visitors: Real") && !strings.Contains(string(out), "visitors: Integer") {
		t.Errorf("ogrinfo %s: %v\n%s", file, err, out)
	}
	for _, target := range []string{"/api/stats?zone=centro&by=hour&format=geojson", "/api/stats?zone=centro&format=geojson"} {
		if rec := env.get(t, target); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"param":"format"`) {
			t.Errorf("%s: %d %s", target, rec.Code, rec.Body)
		}
	}
	// by origin: the same rows as JSON
	rec = env.get(t, "/api/stats?zone=centro&by=nationality&format=geojson")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"id":"IT"`) {
		t.Errorf("by nationality: %d %s", rec.Code, rec.Body)
	}
}

// format=xlsx is an Excel workbook with the table (numbers as numbers)
// and what it is about.
func TestStatsXLSX(t *testing.T) {
	env := newStatsEnv(t, statsFixture())
	for _, c := range []struct{ target, accept string }{
		{"/api/stats?zone=centro&by=nationality&format=xlsx", ""},
		{"/api/stats?zone=centro&by=nationality", ContentTypeXLSX},
	} {
		rec := env.get(t, c.target, "Accept", c.accept)
		if rec.Code != 200 || rec.Header().Get("Content-Type") != ContentTypeXLSX || !strings.HasSuffix(rec.Header().Get("Content-Disposition"), ".xlsx") {
			t.Fatalf("%s: %d %v", c.target, rec.Code, rec.Header())
		}
		f, err := excelize.OpenReader(bytes.NewReader(rec.Body.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		rows, err := f.GetRows("stats")
		if err != nil || len(rows) != 5 || rows[0][0] != "key" || rows[1][0] != "total" || rows[3][0] != "IT" || rows[3][2] != "40" {
			t.Fatalf("stats sheet: %v %q", err, rows)
		}
		typ, err := f.GetCellType("stats", "C4")
		if err != nil || typ == excelize.CellTypeSharedString || typ == excelize.CellTypeInlineString {
			t.Errorf("IT presences stored as %v (%v), want a number", typ, err)
		}
		about, _ := f.GetRows("about")
		if len(about) < 5 || about[0][0] != "name" {
			t.Errorf("about sheet: %q", about)
		}
		f.Close()
	}
}
