package presence

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// Format is an input format of the data contract.
type Format string

// Input formats. FormatAuto picks one from the file name, else from the
// first bytes.
const (
	FormatAuto    Format = ""
	FormatCSV     Format = "csv"
	FormatGeoJSON Format = "geojson"
	FormatNDJSON  Format = "ndjson"
)

// ParseFormat reads a format name: csv, geojson (or json), ndjson (or
// jsonl); "" and "auto" are FormatAuto.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return FormatAuto, nil
	case "csv":
		return FormatCSV, nil
	case "geojson", "json":
		return FormatGeoJSON, nil
	case "ndjson", "jsonl":
		return FormatNDJSON, nil
	}
	return "", fmt.Errorf("unknown format %q (want csv, geojson or ndjson)", s)
}

// formatOfName guesses a format from a file extension (before a .gz).
func formatOfName(name string) Format {
	name = strings.TrimSuffix(strings.ToLower(name), ".gz")
	switch filepath.Ext(name) {
	case ".csv", ".txt":
		return FormatCSV
	case ".geojson", ".json":
		return FormatGeoJSON
	case ".ndjson", ".jsonl":
		return FormatNDJSON
	}
	return FormatAuto
}

// sniff guesses a format from the first bytes: a JSON object whose first
// line is a whole object is NDJSON, any other JSON is GeoJSON, and
// anything else is CSV.
func sniff(br *bufio.Reader) Format {
	head, _ := br.Peek(64 << 10)
	head = bytes.TrimLeft(head, "\ufeff \t\r\n")
	if len(head) == 0 || head[0] != '{' {
		return FormatCSV
	}
	line, _, _ := bytes.Cut(head, []byte("\n"))
	if bytes.Contains(line, []byte(`"FeatureCollection"`)) || !jsonComplete(line) {
		return FormatGeoJSON
	}
	return FormatNDJSON
}

// jsonComplete reports whether b is one whole JSON value.
func jsonComplete(b []byte) bool {
	var v any
	return jsonUnmarshal(b, &v) == nil
}

// Reader reads presence records one row at a time from a CSV, GeoJSON or
// NDJSON stream, validating each against the data contract. It never holds
// more than one row: inputs of any size stream through it.
type Reader struct {
	file string
	v    *Validator
	src  source
	line int
	f    fields
}

// source is one input format: it yields the fields of each row.
type source interface {
	// next fills f with the next row and returns its line. A row that
	// cannot be split into fields is a *RowError; io.EOF ends the input.
	next(f *fields) (line int, err error)
	// rejectHeader and rejectRow describe the rows written to a rejects
	// file: the original header plus "error", the last row as read plus
	// its error.
	rejectHeader() []string
	rejectRow(msg string) []string
}

// NewReader returns a reader of r in format (FormatAuto: from the file name,
// else from the content). file names the input in errors ("" for an HTTP
// body). It reads the CSV header or the GeoJSON opening now; their faults
// are returned as *RowError.
func NewReader(file string, r io.Reader, format Format, v *Validator) (*Reader, error) {
	if v == nil {
		v = NewValidator()
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if format == FormatAuto {
		format = formatOfName(file)
	}
	if format == FormatAuto {
		format = sniff(br)
	}
	rd := &Reader{file: file, v: v}
	var err error
	switch format {
	case FormatCSV:
		rd.src, err = newCSVSource(file, br)
	case FormatNDJSON:
		rd.src = newNDJSONSource(file, br)
	case FormatGeoJSON:
		rd.src, err = newGeoJSONSource(file, br)
	default:
		return nil, fmt.Errorf("unknown format %q", format)
	}
	if err != nil {
		return nil, err
	}
	return rd, nil
}

// Next returns the next valid record. A row that breaks the contract is
// returned as a *RowError and reading may go on; io.EOF ends the input;
// any other error is fatal.
func (r *Reader) Next() (Record, error) {
	r.f = fields{}
	line, err := r.src.next(&r.f)
	r.line = line
	if err != nil {
		return Record{}, err
	}
	rec, col, reason := r.v.record(&r.f)
	if col != "" {
		return Record{}, &RowError{File: r.file, Line: line, Column: col, Reason: reason}
	}
	return rec, nil
}

// Line is the line where the row last returned by Next starts.
func (r *Reader) Line() int { return r.line }

// RejectHeader is the header of a rejects file for this input: the CSV
// header plus "error", or line, error and record for JSON inputs.
func (r *Reader) RejectHeader() []string { return r.src.rejectHeader() }

// RejectRow is the row last returned by Next as a rejects file writes it,
// with msg as its error. The slice is the caller's.
func (r *Reader) RejectRow(msg string) []string { return r.src.rejectRow(msg) }

// MaxListedErrors bounds the invalid rows Decode lists.
const MaxListedErrors = 100

// Decoded is a body read whole by Decode.
type Decoded struct {
	Records []Record
	// Errors are the first MaxListedErrors invalid rows, as "line N:
	// column: reason"; ErrorCount counts them all.
	Errors     []string
	ErrorCount int
}

// Decode reads a whole body in format "csv", "ndjson" or "geojson" into
// records, validated as the CLI validates files. Invalid rows are listed
// in the result (the first MaxListedErrors, all counted); err is for
// anything else (an unreadable body, a bad CSV header). It matches
// server.RecordDecoder.
func Decode(format string, body io.Reader) (Decoded, error) {
	var d Decoded
	f, err := ParseFormat(format)
	if err != nil {
		return d, err
	}
	rd, err := NewReader("", body, f, nil)
	if err != nil {
		return d, err
	}
	for {
		rec, err := rd.Next()
		var re *RowError
		switch {
		case err == nil:
			d.Records = append(d.Records, rec)
		case errors.Is(err, io.EOF):
			return d, nil
		case errors.As(err, &re) && !isSyntax(err):
			d.ErrorCount++
			if len(d.Errors) < MaxListedErrors {
				d.Errors = append(d.Errors, re.Error())
			}
		default:
			return Decoded{}, err
		}
	}
}

func isSyntax(err error) bool {
	var se *SyntaxError
	return errors.As(err, &se)
}
