package stats

import (
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/flowtiles/flowtiles/tiles"
)

// Cell is one value of a table: a number or text.
type Cell struct {
	Num    float64
	Text   string
	Number bool // Num holds the value
}

func (c Cell) String() string {
	if c.Number {
		return string(formatNumber(c.Num))
	}
	return c.Text
}

func numCell(v float64) Cell { return Cell{Num: v, Number: true} }
func textCell(s string) Cell { return Cell{Text: s} }

// Table is the report as rows of cells: a header whose names carry the
// units, the total, then one line per row. A withheld figure is an empty
// cell named in the suppressed column ("row" when the whole row is
// withheld). Top lists are not included (ask by=origin or
// by=nationality). CSV, GeoJSON and Excel write it.
func (r *Report) Table() (header []string, lines [][]Cell) {
	figs := indicators[tiles.Figure]()
	deltas := indicators[Delta]()
	header = []string{"key", "label"}
	for _, ind := range figs {
		if ind.name == "visitors_per_1000_residents" {
			header = append(header, "population")
		}
		header = append(header, ind.name)
		if r.Comparison != nil {
			header = append(header, "compare_"+ind.name, "change_"+ind.name, "change_"+ind.name+"_relative")
		}
	}
	header = append(header, "suppressed")
	if r.Comparison != nil {
		header = append(header, "compare_suppressed")
	}
	refs, changes := map[string]*Row{}, map[string]*ChangeRow{}
	if r.Comparison != nil {
		refs["total"] = &r.Comparison.Total
		changes["total"] = &r.Change.Total
		for i := range r.Comparison.Rows {
			refs[r.Comparison.Rows[i].Key] = &r.Comparison.Rows[i]
		}
		for i := range r.Change.Rows {
			changes[r.Change.Rows[i].Key] = &r.Change.Rows[i]
		}
	}
	rows := append([]Row{r.Period.Total}, r.Period.Rows...)
	for i := range rows {
		cur := &rows[i]
		ref, chg := refs[cur.Key], changes[cur.Key]
		rec := []Cell{textCell(cur.Key), textCell(cur.Label)}
		for j, ind := range figs {
			if ind.name == "visitors_per_1000_residents" {
				pop := textCell("")
				if cur.Population > 0 {
					pop = numCell(float64(cur.Population))
				}
				rec = append(rec, pop)
			}
			rec = append(rec, figureCell(*ind.get(cur)))
			if r.Comparison != nil {
				var rf tiles.Figure
				if ref != nil {
					rf = *ind.get(ref)
				}
				abs, rel := textCell(""), textCell("")
				if chg != nil {
					if a, rv, hasRel, ok := deltas[j].get(chg).Values(); ok {
						abs = numCell(a)
						if hasRel {
							rel = numCell(rv)
						}
					}
				}
				rec = append(rec, figureCell(rf), abs, rel)
			}
		}
		rec = append(rec, textCell(suppressedList(cur)))
		if r.Comparison != nil {
			rec = append(rec, textCell(suppressedList(ref)))
		}
		lines = append(lines, rec)
	}
	return header, lines
}

func figureCell(f tiles.Figure) Cell {
	if v, ok := f.Value(); ok {
		return numCell(v)
	}
	return textCell("")
}

// WriteCSV writes the report as plain RFC 4180 CSV (CRLF line ends, no
// comment lines, so that GDAL and spreadsheets read the first line as the
// header): see Table. The area, the window and the definitions are in
// WriteCSVMeta and in the JSON form.
func (r *Report) WriteCSV(w io.Writer) error {
	header, lines := r.Table()
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(header); err != nil {
		return err
	}
	rec := make([]string, len(header))
	for _, l := range lines {
		for i, c := range l {
			rec[i] = c.String()
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Meta lists what a table is about, as name and value pairs: the area, the
// periods, the grouping, k, the filter, then the units and definitions.
func (r *Report) Meta() [][2]string {
	out := [][2]string{
		{"source", "flowtiles stats"},
		{"area", r.areaText()},
		{"period", periodText(r.Period)},
		{"timezone", r.Timezone},
		{"by", orNone(r.By)},
		{"k", fmt.Sprint(r.K)},
	}
	if len(r.Filter) > 0 {
		var fs []string
		for _, k := range slices.Sorted(maps.Keys(r.Filter)) {
			fs = append(fs, k+"="+r.Filter[k])
		}
		out = append(out, [2]string{"filter", strings.Join(fs, "&")})
	}
	if r.Comparison != nil {
		out = append(out, [2]string{"comparison_period", periodText(*r.Comparison)},
			[2]string{"change", "change = period - comparison, relative = change / comparison"})
	}
	for _, k := range slices.Sorted(maps.Keys(r.Units)) {
		out = append(out, [2]string{"unit." + k, r.Units[k]})
	}
	for _, k := range slices.Sorted(maps.Keys(r.Definitions)) {
		out = append(out, [2]string{"definition." + k, r.Definitions[k]})
	}
	out = append(out, [2]string{"suppressed", fmt.Sprintf("figures about fewer than %d people are withheld: the cell is empty and named in the suppressed column (\"row\": the whole row)", r.K)})
	return out
}

// WriteCSVMeta writes what the CSV of the same request is about (format=csv
// &meta=1): an RFC 4180 CSV with the columns name and value.
func (r *Report) WriteCSVMeta(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write([]string{"name", "value"}); err != nil {
		return err
	}
	for _, m := range r.Meta() {
		if err := cw.Write(m[:]); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// suppressedList is the suppressed column of a row: "row", the withheld
// figures separated by ";", or "".
func suppressedList(r *Row) string {
	if r == nil {
		return ""
	}
	if r.Suppressed {
		return "row"
	}
	var out []string
	for _, ind := range indicators[tiles.Figure]() {
		if ind.get(r).Suppressed() {
			out = append(out, ind.name)
		}
	}
	return strings.Join(out, ";")
}

func (r *Report) areaText() string {
	a := r.Area
	switch a.Kind {
	case AreaBBox:
		return fmt.Sprintf("bbox %s (snapped from %s)", bboxText(a.BBox), bboxText(a.Requested))
	case AreaMunicipality:
		return fmt.Sprintf("municipality %s %s", a.Code, a.Name)
	}
	return fmt.Sprintf("zone %s", a.Name)
}

func bboxText(b *[4]float64) string {
	if b == nil {
		return ""
	}
	return fmt.Sprintf("%s,%s,%s,%s", formatNumber(b[0]), formatNumber(b[1]), formatNumber(b[2]), formatNumber(b[3]))
}

func periodText(p Period) string {
	f := func(t *time.Time) string {
		if t == nil {
			return "open"
		}
		return t.Format(time.RFC3339)
	}
	return f(p.From) + " to " + f(p.To)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
