package presence

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/flowtiles/flowtiles/tiles"
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
	line   int      // last line of the last row read
}

func newCSVSource(file string, r io.Reader) (*csvSource, error) {
	rc := &rowCap{r: r}
	cr := csv.NewReader(rc)
	rc.done = cr.InputOffset
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	s := &csvSource{file: file, r: cr}
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &SyntaxError{RowError{File: file, Line: 1, Column: "header", Reason: "empty input: want a header line (observed_at,lon,lat,...)"}}
	}
	if errors.Is(err, errRowTooLong) {
		return nil, &SyntaxError{RowError{File: file, Line: 1, Column: "header", Reason: rowTooLong}}
	}
	if err != nil {
		return nil, &SyntaxError{RowError{File: file, Line: 1, Column: "header", Reason: csvReason(err)}}
	}
	s.line = 1
	s.header = append([]string(nil), header...)
	seen := [numColumns]bool{}
	for _, h := range s.header {
		name := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		c := columnIndex(name)
		if c < 0 {
			return nil, &SyntaxError{RowError{File: file, Line: 1, Column: "header",
				Reason: fmt.Sprintf("unknown column %s (want %s)", tiles.Quote(h), strings.Join(Columns[:], ", "))}}
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
			s.line = pe.Line
			return pe.StartLine, &RowError{File: s.file, Line: pe.StartLine, Column: "record", Reason: csvReason(err)}
		}
		if errors.Is(err, errRowTooLong) {
			s.row = nil
			return s.line + 1, &SyntaxError{RowError{File: s.file, Line: s.line + 1, Column: "record", Reason: rowTooLong}}
		}
		return 0, err
	}
	line, _ := s.r.FieldPos(0)
	s.line, _ = s.r.FieldPos(len(row) - 1)
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

// MaxRowBytes bounds one row of an input: a CSV record or NDJSON line, a
// GeoJSON feature. A longer CSV record or GeoJSON feature ends the input
// (a *SyntaxError: a line break or a closing quote is probably missing);
// a longer NDJSON line is an invalid row. Either way it is never gathered
// whole in memory.
const MaxRowBytes = 256 << 10

var rowTooLong = fmt.Sprintf("a row over %d bytes (a missing line break, or an unclosed quote?): nothing after it was read", MaxRowBytes)

// errRowTooLong is returned by rowCap.
var errRowTooLong = errors.New("row too long")

// rowCap passes reads through while its reader (a CSV parser) has read at
// most MaxRowBytes (plus one read) beyond the end of the last row it
// finished, done(); then it fails with errRowTooLong.
type rowCap struct {
	r    io.Reader
	read int64
	done func() int64
}

func (c *rowCap) Read(p []byte) (int, error) {
	if c.read-c.done() > MaxRowBytes {
		return 0, errRowTooLong
	}
	n, err := c.r.Read(p)
	c.read += int64(n)
	return n, err
}
