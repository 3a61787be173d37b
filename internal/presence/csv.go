package presence

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// csvSource reads the canonical CSV form: a header naming contract
// columns (any order, required ones present, no others), then one row per
// record.
type csvSource struct {
	file   string
	r      *csv.Reader
	header []string
	cols   []int    // contract column of each CSV column
	row    []string // last row read; owned by csv.Reader (ReuseRecord)
}

func newCSVSource(file string, r io.Reader) (*csvSource, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	s := &csvSource{file: file, r: cr}
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &SyntaxError{RowError{File: file, Line: 1, Column: "header", Reason: "empty input: want a header line (observed_at,lon,lat,...)"}}
	}
	if err != nil {
		return nil, &SyntaxError{RowError{File: file, Line: 1, Column: "header", Reason: csvReason(err)}}
	}
	s.header = append([]string(nil), header...)
	seen := [numColumns]bool{}
	for _, h := range s.header {
		name := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		c := columnIndex(name)
		if c < 0 {
			return nil, &SyntaxError{RowError{File: file, Line: 1, Column: "header",
				Reason: fmt.Sprintf("unknown column %q (want %s)", h, strings.Join(Columns[:], ", "))}}
		}
		if seen[c] {
			return nil, &SyntaxError{RowError{File: file, Line: 1, Column: "header", Reason: fmt.Sprintf("column %q given twice", name)}}
		}
		seen[c] = true
		s.cols = append(s.cols, c)
	}
	for c, ok := range required {
		if ok && !seen[c] {
			return nil, &SyntaxError{RowError{File: file, Line: 1, Column: "header", Reason: fmt.Sprintf("required column %q missing", Columns[c])}}
		}
	}
	return s, nil
}

func (s *csvSource) next(f *fields) (int, error) {
	row, err := s.r.Read()
	s.row = row
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return pe.StartLine, &RowError{File: s.file, Line: pe.StartLine, Column: "record", Reason: csvReason(err)}
		}
		return 0, err
	}
	line, _ := s.r.FieldPos(0)
	if len(row) != len(s.cols) {
		return line, &RowError{File: s.file, Line: line, Column: "record",
			Reason: fmt.Sprintf("%d fields, the header has %d", len(row), len(s.cols))}
	}
	for i, v := range row {
		f[s.cols[i]] = strings.TrimSpace(v)
	}
	return line, nil
}

func (s *csvSource) rejectHeader() []string {
	return append(append([]string(nil), s.header...), "error")
}

func (s *csvSource) rejectRow(msg string) []string {
	return append(append([]string(nil), s.row...), msg)
}

// csvReason is a csv error without its position (the RowError has it).
func csvReason(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
