package presence

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/flowtiles/flowtiles/tiles"
)

func jsonUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return errors.New("more than one JSON value")
	}
	return nil
}

// jsonFields fills f from a JSON object's members. Strings and numbers are
// taken as written, null as absent. With strict, a member that is no
// contract column is an error; otherwise it is ignored. It returns the
// column at fault and the reason.
func jsonFields(obj map[string]any, f *fields, strict bool) (string, string) {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys) // report faults in a stable order
	for _, k := range keys {
		c := columnIndex(k)
		if c < 0 {
			if strict {
				return tiles.Truncate(k, tiles.MaxQuoted), fmt.Sprintf("unknown column (want %s)", strings.Join(Columns[:], ", "))
			}
			continue
		}
		switch v := obj[k].(type) {
		case nil:
		case string:
			f[c] = strings.TrimSpace(v)
		case json.Number:
			f[c] = v.String()
		default:
			return k, fmt.Sprintf("%s is not a string or a number", jsonKind(v))
		}
	}
	return "", ""
}

func jsonKind(v any) string {
	switch v.(type) {
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// ndjsonSource reads one JSON object per line with the contract's columns
// as members (lon and lat among them). Blank lines are skipped.
type ndjsonSource struct {
	file string
	r    *bufio.Reader
	line int
	raw  []byte // last line read (reused)
}

func newNDJSONSource(file string, r *bufio.Reader) *ndjsonSource {
	return &ndjsonSource{file: file, r: r}
}

func (s *ndjsonSource) next(f *fields) (int, error) {
	for {
		b, err := s.r.ReadSlice('\n')
		long := false
		if errors.Is(err, bufio.ErrBufferFull) {
			// a long line: gather it whole, up to MaxRowBytes, and skip
			// the rest of a longer one
			s.raw = append(s.raw[:0], b...)
			for errors.Is(err, bufio.ErrBufferFull) {
				b, err = s.r.ReadSlice('\n')
				if long = long || len(s.raw)+len(b) > MaxRowBytes; !long {
					s.raw = append(s.raw, b...)
				}
			}
		} else {
			s.raw = append(s.raw[:0], b...)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return s.line, err
		}
		if len(s.raw) == 0 && errors.Is(err, io.EOF) {
			return s.line, io.EOF
		}
		s.line++
		if long {
			return s.line, &RowError{File: s.file, Line: s.line, Column: "record", Reason: fmt.Sprintf("a line over %d bytes", MaxRowBytes)}
		}
		s.raw = bytes.TrimSpace(s.raw)
		if s.line == 1 {
			s.raw = bytes.TrimPrefix(s.raw, []byte("\ufeff"))
		}
		if len(s.raw) == 0 {
			if errors.Is(err, io.EOF) {
				return s.line, io.EOF
			}
			continue
		}
		var obj map[string]any
		if jerr := jsonUnmarshal(s.raw, &obj); jerr != nil || obj == nil {
			return s.line, &RowError{File: s.file, Line: s.line, Column: "record", Reason: "not a JSON object: " + jsonReason(jerr)}
		}
		if col, reason := jsonFields(obj, f, true); col != "" {
			return s.line, &RowError{File: s.file, Line: s.line, Column: col, Reason: reason}
		}
		return s.line, nil
	}
}

func (s *ndjsonSource) rejectHeader() []string { return []string{"line", "error", "record"} }

func (s *ndjsonSource) rejectRow(msg string) []string {
	return []string{strconv.Itoa(s.line), msg, string(s.raw)}
}

func jsonReason(err error) string {
	if err == nil {
		return "null"
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v (at byte %d)", se, se.Offset)
	}
	return err.Error()
}

// geojsonSource reads a FeatureCollection of Point features whose
// properties carry the contract's columns (other properties are ignored).
// It decodes one feature at a time.
type geojsonSource struct {
	file    string
	lc      *lineCounter
	d       *json.Decoder
	inArray bool // inside "features"
	done    bool // the features array is over
	sawType bool
	line    int
	raw     json.RawMessage // last feature read
}

func newGeoJSONSource(file string, r io.Reader) (*geojsonSource, error) {
	lc := &lineCounter{r: r, line: 1}
	s := &geojsonSource{file: file, lc: lc, d: json.NewDecoder(lc)}
	s.d.UseNumber()
	tok, err := s.d.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, s.fault(0, "not a GeoJSON FeatureCollection: "+tokenReason(tok, err))
	}
	if err := s.seekFeatures(); err != nil {
		return nil, err
	}
	return s, nil
}

// fault is a break in the GeoJSON structure: the rest cannot be read.
func (s *geojsonSource) fault(off int64, reason string) *SyntaxError {
	s.done = true
	if off < s.lc.base {
		off = s.lc.base
	}
	return &SyntaxError{RowError{File: s.file, Line: s.lc.lineAt(off), Column: "record", Reason: reason}}
}

// seekFeatures reads object members up to the opening of "features", or to
// the end of the object (then done).
func (s *geojsonSource) seekFeatures() error {
	for s.d.More() {
		tok, err := s.d.Token()
		if err != nil {
			return s.badJSON(err)
		}
		key, _ := tok.(string)
		switch key {
		case "features":
			tok, err := s.d.Token()
			if err != nil || tok != json.Delim('[') {
				return s.fault(s.d.InputOffset(), "\"features\" is not an array: "+tokenReason(tok, err))
			}
			s.inArray = true
			return nil
		case "type":
			var typ any
			if err := s.d.Decode(&typ); err != nil {
				return s.badJSON(err)
			}
			if typ != "FeatureCollection" {
				return s.fault(s.d.InputOffset(), fmt.Sprintf("type is %s, want FeatureCollection", tiles.Truncate(fmt.Sprint(typ), tiles.MaxQuoted)))
			}
			s.sawType = true
		default:
			var skip json.RawMessage
			if err := s.d.Decode(&skip); err != nil {
				return s.badJSON(err)
			}
		}
	}
	if _, err := s.d.Token(); err != nil { // the closing brace
		return s.badJSON(err)
	}
	if !s.sawType {
		return s.fault(s.d.InputOffset(), `no "type": "FeatureCollection"`)
	}
	s.done = true
	return nil
}

func (s *geojsonSource) next(f *fields) (int, error) {
	for !s.done {
		if !s.d.More() {
			if _, err := s.d.Token(); err != nil { // the closing bracket
				return s.line, s.badJSON(err)
			}
			s.inArray = false
			if err := s.seekFeatures(); err != nil {
				return s.line, err
			}
			continue
		}
		if !s.inArray {
			return s.line, s.fault(s.d.InputOffset(), `no "features" array`)
		}
		s.raw = s.raw[:0]
		if err := s.d.Decode(&s.raw); err != nil {
			// the JSON syntax is broken: the rest cannot be read
			return s.line, s.badJSON(err)
		}
		end := s.d.InputOffset()
		s.line = s.lc.lineAt(end - int64(len(s.raw)))
		s.lc.lineAt(end)
		return s.line, s.feature(f)
	}
	return s.line, io.EOF
}

// feature reads s.raw, one Feature, into f.
func (s *geojsonSource) feature(f *fields) error {
	bad := func(col, reason string) error {
		return &RowError{File: s.file, Line: s.line, Column: col, Reason: reason}
	}
	var ft struct {
		Type     string `json:"type"`
		Geometry *struct {
			Type        string            `json:"type"`
			Coordinates []json.RawMessage `json:"coordinates"`
		} `json:"geometry"`
		Properties map[string]any `json:"properties"`
	}
	if err := jsonUnmarshal(s.raw, &ft); err != nil {
		return bad("record", "not a GeoJSON Feature: "+jsonReason(err))
	}
	if ft.Type != "Feature" {
		return bad("record", fmt.Sprintf("type is %s, want Feature", tiles.Quote(ft.Type)))
	}
	if col, reason := jsonFields(ft.Properties, f, false); col != "" {
		return bad(col, reason)
	}
	g := ft.Geometry
	if g == nil {
		return bad("geometry", "missing (want a Point)")
	}
	if g.Type != "Point" {
		return bad("geometry", fmt.Sprintf("%s is not a Point", tiles.Quote(g.Type)))
	}
	if n := len(g.Coordinates); n < 2 || n > 3 {
		return bad("geometry", fmt.Sprintf("a Point has 2 or 3 coordinates, not %d", n))
	}
	f[colLon] = strings.TrimSpace(string(g.Coordinates[0]))
	f[colLat] = strings.TrimSpace(string(g.Coordinates[1]))
	return nil
}

func (s *geojsonSource) rejectHeader() []string { return []string{"line", "error", "record"} }

func (s *geojsonSource) rejectRow(msg string) []string {
	var b bytes.Buffer
	if json.Compact(&b, s.raw) != nil {
		b.Reset()
		b.Write(s.raw)
	}
	return []string{strconv.Itoa(s.line), msg, b.String()}
}

// badJSON is a syntax fault, placed where the decoder found it.
func (s *geojsonSource) badJSON(err error) *SyntaxError {
	if errors.Is(err, errRowTooLong) {
		return s.fault(s.lc.base, fmt.Sprintf("a feature over %d bytes (or a broken structure): nothing after it was read", MaxRowBytes))
	}
	off := s.d.InputOffset()
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.Is(err, io.ErrUnexpectedEOF):
		off = s.lc.base + int64(len(s.lc.pending)) // the end of the input
	}
	return s.fault(off, "bad JSON: "+jsonReason(err))
}

func tokenReason(tok json.Token, err error) string {
	if err != nil {
		return jsonReason(err)
	}
	return "unexpected " + tiles.Truncate(fmt.Sprint(tok), tiles.MaxQuoted)
}

// lineCounter passes bytes through and maps input offsets to line numbers.
// Offsets must be asked for in increasing order; it keeps only the bytes
// read ahead of the last offset asked for (the decoder's buffer).
type lineCounter struct {
	r       io.Reader
	pending []byte // bytes from base on
	base    int64  // offset of pending[0]
	line    int    // line at base
}

func (c *lineCounter) Read(p []byte) (int, error) {
	// pending holds what was read since the end of the last feature: a
	// feature (or any member) over MaxRowBytes is not read further.
	if len(c.pending) > MaxRowBytes {
		return 0, errRowTooLong
	}
	n, err := c.r.Read(p)
	c.pending = append(c.pending, p[:n]...)
	return n, err
}

// lineAt returns the 1-based line holding offset off.
func (c *lineCounter) lineAt(off int64) int {
	k := int(off - c.base)
	if k <= 0 {
		return c.line
	}
	k = min(k, len(c.pending))
	c.line += bytes.Count(c.pending[:k], []byte("\n"))
	c.base += int64(k)
	c.pending = append(c.pending[:0], c.pending[k:]...)
	return c.line
}
