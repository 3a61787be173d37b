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

// WriteCSV writes the report as CSV: comment lines (#) with the area, the
// window and the definitions, a header whose names carry the units, the
// total, then one line per row. A withheld figure is an empty cell named in
// the suppressed column ("row" when the whole row is withheld). Top lists
// are not included (ask by=origin or by=nationality).
func (r *Report) WriteCSV(w io.Writer) error {
	var head strings.Builder
	fmt.Fprintf(&head, "# flowtiles stats; area: %s; period %s; by %s; k=%d", r.areaText(), periodText(r.Period), orNone(r.By), r.K)
	if len(r.Filter) > 0 {
		var fs []string
		for _, k := range slices.Sorted(maps.Keys(r.Filter)) {
			fs = append(fs, k+"="+r.Filter[k])
		}
		fmt.Fprintf(&head, "; filter %s", strings.Join(fs, "&"))
	}
	head.WriteByte('\n')
	if r.Comparison != nil {
		fmt.Fprintf(&head, "# comparison period %s; change = period - comparison, relative = change / comparison\n", periodText(*r.Comparison))
	}
	for _, k := range slices.Sorted(maps.Keys(r.Definitions)) {
		fmt.Fprintf(&head, "# %s: %s\n", k, r.Definitions[k])
	}
	fmt.Fprintf(&head, "# suppressed: figures about fewer than %d people are withheld: the cell is empty and named in the suppressed column (\"row\": the whole row)\n", r.K)
	if _, err := io.WriteString(w, head.String()); err != nil {
		return err
	}

	cw := csv.NewWriter(w)
	figs := indicators[tiles.Figure]()
	deltas := indicators[Delta]()
	header := []string{"key", "label"}
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
	if err := cw.Write(header); err != nil {
		return err
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
	lines := append([]Row{r.Period.Total}, r.Period.Rows...)
	for i := range lines {
		cur := &lines[i]
		ref, chg := refs[cur.Key], changes[cur.Key]
		rec := []string{cur.Key, cur.Label}
		for j, ind := range figs {
			if ind.name == "visitors_per_1000_residents" {
				pop := ""
				if cur.Population > 0 {
					pop = fmt.Sprint(cur.Population)
				}
				rec = append(rec, pop)
			}
			rec = append(rec, cell(*ind.get(cur)))
			if r.Comparison != nil {
				var rf tiles.Figure
				if ref != nil {
					rf = *ind.get(ref)
				}
				abs, rel := "", ""
				if chg != nil {
					if a, rv, hasRel, ok := deltas[j].get(chg).Values(); ok {
						abs = string(formatNumber(a))
						if hasRel {
							rel = string(formatNumber(rv))
						}
					}
				}
				rec = append(rec, cell(rf), abs, rel)
			}
		}
		rec = append(rec, suppressedList(cur))
		if r.Comparison != nil {
			rec = append(rec, suppressedList(ref))
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func cell(f tiles.Figure) string {
	if v, ok := f.Value(); ok {
		return string(formatNumber(v))
	}
	return ""
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
