package presence

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowtiles/flowtiles/tiles"
)

// readAll reads a whole input, returning its records, their lines and
// every row error as printed.
func readAll(t *testing.T, name string, r io.Reader, format Format) (recs []Record, lines []int, errs []string, fatal error) {
	t.Helper()
	rd, err := NewReader(name, r, format, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	for {
		rec, err := rd.Next()
		var re *RowError
		switch {
		case err == nil:
			recs = append(recs, rec)
			lines = append(lines, rd.Line())
		case errors.Is(err, io.EOF):
			return recs, lines, errs, nil
		case errors.As(err, &re):
			errs = append(errs, re.Error())
		default:
			return recs, lines, errs, err
		}
	}
}

func readFixture(t *testing.T, name string) ([]Record, []int, []string, error) {
	t.Helper()
	path := filepath.Join("..", "..", "testdata", "ingest", name)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return readAll(t, "testdata/ingest/"+name, f, FormatAuto)
}

func TestReadGoodFixtures(t *testing.T) {
	want := []Record{
		{ObservedAt: time.Date(2024, 5, 1, 7, 30, 0, 0, time.UTC), Lon: 12.4172, Lat: 42.9812, Weight: 1, Visitor: VisitorHash("v-001"),
			Age: tiles.Age35to44, Gender: tiles.GenderF, Nationality: tiles.Italy, Origin: "054017", Spend: tiles.SpendMedium},
		{ObservedAt: time.Date(2024, 5, 1, 7, 45, 10, 0, time.UTC), Lon: 12.4175, Lat: 42.982, Weight: 1, Visitor: VisitorHash("v-002"),
			Age: tiles.Age65plus, Gender: tiles.GenderM, Nationality: tiles.Italy, Origin: "054039", Spend: tiles.SpendLow},
		{ObservedAt: time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC), Lon: 12.418, Lat: 42.9835, Weight: 12},
		{ObservedAt: time.Date(2024, 5, 31, 23, 30, 0, 0, time.UTC), Lon: 12.416, Lat: 42.979, Weight: 3, Visitor: VisitorHash("v-003"),
			Age: tiles.Age18to24, Gender: tiles.GenderX, Nationality: tiles.Country{'D', 'E'}, Spend: tiles.SpendHigh},
	}
	for _, tc := range []struct {
		file  string
		n     int
		lines []int
	}{
		{"good.csv", 6, []int{2, 3, 4, 5, 6, 7}},
		{"good.ndjson", 4, []int{1, 2, 4, 5}},
		{"good.geojson", 4, []int{5, 7, 9, 11}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			recs, lines, errs, err := readFixture(t, tc.file)
			if err != nil || len(errs) > 0 {
				t.Fatalf("%s: %v %v", tc.file, err, errs)
			}
			if len(recs) != tc.n || !slices.Equal(lines, tc.lines) {
				t.Fatalf("%s: %d records at lines %v, want %d at %v", tc.file, len(recs), lines, tc.n, tc.lines)
			}
			for i, w := range want {
				g := recs[i]
				if !g.ObservedAt.Equal(w.ObservedAt) {
					t.Errorf("%s record %d: observed_at %v, want %v", tc.file, i, g.ObservedAt, w.ObservedAt)
				}
				g.ObservedAt = w.ObservedAt
				if g != w {
					t.Errorf("%s record %d:\n got %+v\nwant %+v", tc.file, i, g, w)
				}
			}
		})
	}
	// The CSV's last row: fractional seconds dropped, a quoted id with a
	// comma, case-insensitive gender, nationality and spend class.
	recs, _, _, _ := readFixture(t, "good.csv")
	last := recs[5]
	if last.ObservedAt.Nanosecond() != 0 || last.ObservedAt.Second() != 30 || last.Visitor != VisitorHash("v-004, with comma") ||
		last.Gender != tiles.GenderF || last.Nationality != (tiles.Country{'D', 'E'}) || last.Spend != tiles.SpendHigh {
		t.Errorf("last CSV record: %+v", last)
	}
}

func TestRowErrors(t *testing.T) {
	const ts = "is not an RFC 3339 timestamp with offset (like 2024-05-01T09:30:00+02:00)"
	for _, tc := range []struct {
		file string
		good []int
		errs []string
	}{
		{"bad.csv", []int{2, 19}, []string{
			`testdata/ingest/bad.csv:3: observed_at: "2024-05-01 09:30" ` + ts,
			`testdata/ingest/bad.csv:4: observed_at: "2024-05-01T09:30:00" ` + ts,
			`testdata/ingest/bad.csv:5: lon: 190 is out of range (-180 to 180)`,
			`testdata/ingest/bad.csv:6: lat: -91 is out of range (-90 to 90)`,
			`testdata/ingest/bad.csv:7: weight: "0" is not a positive integer`,
			`testdata/ingest/bad.csv:8: weight: "2.5" is not a positive integer`,
			`testdata/ingest/bad.csv:9: weight: "-3" is not a positive integer`,
			`testdata/ingest/bad.csv:10: age_band: unknown age band "30-40" (want one of 0-17, 18-24, 25-34, 35-44, 45-54, 55-64, 65+)`,
			`testdata/ingest/bad.csv:11: gender: unknown gender "q" (want f, m or x)`,
			`testdata/ingest/bad.csv:12: nationality: unknown nationality "ZZ" (want an ISO 3166-1 alpha-2 code such as IT or DE)`,
			`testdata/ingest/bad.csv:13: origin_code: unknown ISTAT municipality code "999999"`,
			`testdata/ingest/bad.csv:14: origin_code: "54017" is not an ISTAT municipality code (6 digits, like 054017)`,
			`testdata/ingest/bad.csv:15: spend_class: unknown spend class "lavish" (want low, medium or high)`,
			`testdata/ingest/bad.csv:16: record: 8 fields, the header has 10`,
			`testdata/ingest/bad.csv:17: observed_at: missing (required)`,
			`testdata/ingest/bad.csv:18: lon: "east" is not a number`,
		}},
		{"bad.ndjson", []int{1}, []string{
			`testdata/ingest/bad.ndjson:2: weight: "0" is not a positive integer`,
			`testdata/ingest/bad.ndjson:3: colour: unknown column (want observed_at, lon, lat, weight, visitor_id, age_band, gender, nationality, origin_code, spend_class)`,
			`testdata/ingest/bad.ndjson:4: record: not a JSON object: unexpected EOF`,
			`testdata/ingest/bad.ndjson:5: lat: a boolean is not a string or a number`,
			`testdata/ingest/bad.ndjson:6: observed_at: "yesterday" ` + ts,
			`testdata/ingest/bad.ndjson:7: origin_code: unknown ISTAT municipality code "999999"`,
		}},
		{"bad.geojson", []int{2}, []string{
			`testdata/ingest/bad.geojson:3: geometry: "LineString" is not a Point`,
			`testdata/ingest/bad.geojson:4: geometry: missing (want a Point)`,
			`testdata/ingest/bad.geojson:5: lat: 95 is out of range (-90 to 90)`,
			`testdata/ingest/bad.geojson:8: age_band: unknown age band "teen" (want one of 0-17, 18-24, 25-34, 35-44, 45-54, 55-64, 65+)`,
			`testdata/ingest/bad.geojson:9: weight: "1.5" is not a positive integer`,
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, lines, errs, err := readFixture(t, tc.file)
			if err != nil {
				t.Fatalf("%s: %v", tc.file, err)
			}
			if !slices.Equal(lines, tc.good) {
				t.Errorf("%s: good rows at %v, want %v", tc.file, lines, tc.good)
			}
			for i := range max(len(errs), len(tc.errs)) {
				var g, w string
				if i < len(errs) {
					g = errs[i]
				}
				if i < len(tc.errs) {
					w = tc.errs[i]
				}
				if g != w {
					t.Errorf("%s error %d:\n got %s\nwant %s", tc.file, i, g, w)
				}
			}
		})
	}
}

func TestValidationLimits(t *testing.T) {
	header := "observed_at,lon,lat,weight\n"
	for _, tc := range []struct{ row, want string }{
		{"1969-12-31T23:59:59Z,12,42,1", `in:2: observed_at: 1969-12-31T23:59:59Z is out of range (1970 to 2099)`},
		{"2024-05-01T09:30:00+02:00,NaN,42,1", `in:2: lon: "NaN" is not a number`},
		{"2024-05-01T09:30:00+02:00,12,Inf,1", `in:2: lat: "Inf" is not a number`},
		{"2024-05-01T09:30:00+02:00,12,42,2147483648", `in:2: weight: 2147483648 is too large (at most 2147483647)`},
		{"2024-05-01T09:30:00+02:00,12,42,x", `in:2: weight: "x" is not a positive integer`},
		{"2024-05-01T09:30:00+02:00,,42,1", `in:2: lon: missing (required)`},
		{`2024-05-01T09:30:00+02:00,12,4"2,1`, `in:2: record: bare " in non-quoted-field`},
	} {
		_, _, errs, err := readAll(t, "in", strings.NewReader(header+tc.row+"\n"), FormatCSV)
		if err != nil || len(errs) != 1 || errs[0] != tc.want {
			t.Errorf("%s: %v %q, want %q", tc.row, err, errs, tc.want)
		}
	}
	recs, _, errs, err := readAll(t, "in", strings.NewReader(header+"2024-05-01T09:30:00+02:00,180,-90,2147483647\n"), FormatCSV)
	if err != nil || len(errs) > 0 || len(recs) != 1 || recs[0].Weight != 2147483647 {
		t.Errorf("limits: %v %v %+v", err, errs, recs)
	}
}

func TestFileFaults(t *testing.T) {
	for _, tc := range []struct {
		format Format
		in     string
		want   string
	}{
		{FormatCSV, "", `in:1: header: empty input: want a header line (observed_at,lon,lat,...)`},
		{FormatCSV, "observed_at,lon,lat,colour\n", `in:1: header: unknown column "colour" (want observed_at, lon, lat, weight, visitor_id, age_band, gender, nationality, origin_code, spend_class)`},
		{FormatCSV, "observed_at,lon\n", `in:1: header: required column "lat" missing`},
		{FormatCSV, "observed_at,lon,lat,LON\n", `in:1: header: column "lon" given twice`},
		{FormatGeoJSON, `[1,2]`, `in:1: record: not a GeoJSON FeatureCollection: unexpected [`},
		{FormatGeoJSON, `{"type":"Feature","geometry":null}`, `in:1: record: type is Feature, want FeatureCollection`},
		{FormatGeoJSON, `{"features":[]}`, `in:1: record: no "type": "FeatureCollection"`},
		{FormatGeoJSON, "{\"type\":\"FeatureCollection\",\n\"features\":[\n{\"type\":\"Feature\"", `in:3: record: bad JSON: unexpected EOF`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, _, _, err := readAll(t, "in", strings.NewReader(tc.in), tc.format)
			var se *SyntaxError
			if !errors.As(err, &se) || err.Error() != tc.want {
				t.Errorf("%q: %v, want %s", tc.in, err, tc.want)
			}
		})
	}
	// A broken GeoJSON ends the input: rows before it were read.
	in := "{\"type\":\"FeatureCollection\",\"features\":[\n" +
		`{"type":"Feature","geometry":{"type":"Point","coordinates":[12,42]},"properties":{"observed_at":"2024-05-01T09:30:00Z"}},` + "\n" +
		`{"type":"Feature",,}]}`
	recs, _, _, err := readAll(t, "in", strings.NewReader(in), FormatGeoJSON)
	if len(recs) != 1 || err == nil || !strings.HasPrefix(err.Error(), "in:3: record: bad JSON") {
		t.Errorf("broken GeoJSON: %d records, %v", len(recs), err)
	}
}

func TestSniffFormat(t *testing.T) {
	for _, name := range []string{"good.csv", "good.ndjson", "good.geojson"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "ingest", name))
		if err != nil {
			t.Fatal(err)
		}
		recs, _, errs, err := readAll(t, "upload", strings.NewReader(string(b)), FormatAuto)
		if err != nil || len(errs) > 0 || len(recs) < 4 {
			t.Errorf("%s sniffed: %d records, %v %v", name, len(recs), err, errs)
		}
	}
}

func TestLongNDJSONLine(t *testing.T) {
	id := strings.Repeat("v", 200_000)
	in := `{"observed_at":"2024-05-01T09:30:00Z","lon":12,"lat":42,"visitor_id":"` + id + `"}` + "\n" +
		`{"observed_at":"2024-05-01T09:30:00Z","lon":12,"lat":42}`
	recs, lines, errs, err := readAll(t, "in", strings.NewReader(in), FormatNDJSON)
	if err != nil || len(errs) > 0 || len(recs) != 2 || recs[0].Visitor != VisitorHash(id) || !slices.Equal(lines, []int{1, 2}) {
		t.Fatalf("%d records at %v, %v %v", len(recs), lines, err, errs)
	}
}

func TestDecode(t *testing.T) {
	body := `{"observed_at":"2024-05-01T09:30:00Z","lon":12,"lat":42}
{"observed_at":"2024-05-01T09:30:00Z","lon":12,"lat":42,"gender":"q"}
`
	d, err := Decode("ndjson", strings.NewReader(body))
	if err != nil || len(d.Records) != 1 || d.ErrorCount != 1 || !slices.Equal(d.Errors, []string{`line 2: gender: unknown gender "q" (want f, m or x)`}) {
		t.Fatalf("ndjson: %+v, %v", d, err)
	}
	d, err = Decode("csv", strings.NewReader("observed_at,lon,lat\n2024-05-01T09:30:00Z,12,42\nnow,12,42\n"))
	if err != nil || len(d.Records) != 1 || len(d.Errors) != 1 || !strings.HasPrefix(d.Errors[0], "line 3: observed_at: ") {
		t.Fatalf("csv: %+v, %v", d, err)
	}
	if _, err := Decode("csv", strings.NewReader("when,where\n")); err == nil {
		t.Error("bad header: no error")
	}
	if _, err := Decode("xml", strings.NewReader("")); err == nil {
		t.Error("unknown format: no error")
	}
}

func TestRejectRows(t *testing.T) {
	rd, err := NewReader("in", strings.NewReader("lat,lon,observed_at\n42,12,soon\n"), FormatCSV, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rd.Next()
	if got := rd.RejectHeader(); !slices.Equal(got, []string{"lat", "lon", "observed_at", "error"}) {
		t.Errorf("header %q", got)
	}
	if got := rd.RejectRow(err.Error()); !slices.Equal(got, []string{"42", "12", "soon", err.Error()}) {
		t.Errorf("row %q", got)
	}
}

func BenchmarkReadCSV(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("observed_at,lon,lat,weight,visitor_id,age_band,gender,nationality,origin_code,spend_class\n")
	for range 10000 {
		sb.WriteString("2024-05-01T09:30:00+02:00,12.4172,42.9812,1,v-001,35-44,f,IT,054017,medium\n")
	}
	in := sb.String()
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		rd, _ := NewReader("in", strings.NewReader(in), FormatCSV, nil)
		for {
			if _, err := rd.Next(); err != nil {
				break
			}
		}
	}
}

func BenchmarkReadGeoJSON(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"type":"FeatureCollection","features":[` + "\n")
	for i := range 10000 {
		if i > 0 {
			sb.WriteString(",\n")
		}
		sb.WriteString(`{"type":"Feature","geometry":{"type":"Point","coordinates":[12.4172,42.9812]},"properties":{"observed_at":"2024-05-01T09:30:00+02:00","weight":1,"visitor_id":"v-001","age_band":"35-44"}}`)
	}
	sb.WriteString("]}\n")
	in := sb.String()
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		rd, _ := NewReader("in", strings.NewReader(in), FormatGeoJSON, nil)
		n := 0
		for {
			_, err := rd.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) || n != 10000 {
					b.Fatal(n, err)
				}
				break
			}
			n++
		}
	}
}

// Rows are bounded before they are parsed, and messages quote a short
// prefix of a bad value.
func TestRowsAndMessagesBounded(t *testing.T) {
	huge := strings.Repeat("a", 2*MaxRowBytes)
	good := `{"observed_at":"2024-05-01T09:30:00Z","lon":12,"lat":42}`
	// NDJSON: an over-long line is one invalid row; reading goes on
	d, err := Decode("ndjson", strings.NewReader(`{"observed_at":"`+huge+`"}`+"\n"+good+"\n"))
	if err != nil || d.ErrorCount != 1 || len(d.Records) != 1 || d.Errors[0] != fmt.Sprintf("line 1: record: a line over %d bytes", MaxRowBytes) {
		t.Errorf("long NDJSON line: %+v %v", d, err)
	}
	// a long value within a row is quoted by its prefix
	d, err = Decode("ndjson", strings.NewReader(`{"observed_at":"`+huge[:100_000]+`","lon":12,"lat":42}`+"\n"))
	if err != nil || d.ErrorCount != 1 || len(d.Errors[0]) > 200 || !strings.Contains(d.Errors[0], "…(100000 bytes)") {
		t.Errorf("long value: %q %v", d.Errors, err)
	}
	d, err = Decode("ndjson", strings.NewReader(`{"`+huge[:100_000]+`":1}`+"\n"))
	if err != nil || d.ErrorCount != 1 || len(d.Errors[0]) > 300 {
		t.Errorf("long member name: %.300q %v", d.Errors, err)
	}
	// CSV: an over-long row (or header) ends the input at its line
	_, err = Decode("csv", strings.NewReader("observed_at,lon,lat\n2024-05-01T09:30:00Z,12,42\n"+huge+",1,2\n"))
	var se *SyntaxError
	if !errors.As(err, &se) || se.Line != 3 || len(err.Error()) > 300 {
		t.Errorf("long CSV row: %v", err)
	}
	_, err = Decode("csv", strings.NewReader("observed_at,lon,lat,"+huge[:100_000]+"\n"))
	if !errors.As(err, &se) || len(err.Error()) > 300 {
		t.Errorf("long header column: %.300v", err)
	}
	// GeoJSON: an over-long feature ends the input
	_, err = Decode("geojson", strings.NewReader(`{"type":"FeatureCollection","features":[`+
		`{"type":"Feature","geometry":{"type":"Point","coordinates":[12,42]},"properties":{"observed_at":"2024-05-01T09:30:00Z"}},`+
		`{"type":"`+huge+`"}]}`))
	if !errors.As(err, &se) || len(err.Error()) > 300 || !strings.Contains(err.Error(), "a feature over") {
		t.Errorf("long feature: %.300v", err)
	}
	d, err = Decode("geojson", strings.NewReader(`{"type":"FeatureCollection","features":[{"type":"`+huge[:100_000]+`"}]}`))
	if err != nil || d.ErrorCount != 1 || len(d.Errors[0]) > 300 {
		t.Errorf("long feature type: %.300q %v", d.Errors, err)
	}
	// at most MaxListedErrors are listed, all are counted
	var many strings.Builder
	many.WriteString("observed_at,lon,lat\n")
	for range 1000 {
		many.WriteString("soon,1,2\n")
	}
	if d, err := Decode("csv", strings.NewReader(many.String())); err != nil || d.ErrorCount != 1000 || len(d.Errors) != MaxListedErrors {
		t.Errorf("1000 bad rows: %d listed, %d counted, %v", len(d.Errors), d.ErrorCount, err)
	}
}
