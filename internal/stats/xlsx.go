package stats

import (
	"io"

	"github.com/xuri/excelize/v2"
)

// ContentTypeXLSX is the media type of an Excel workbook.
const ContentTypeXLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// WriteXLSX writes the report as an Excel workbook: a sheet "stats" with
// the table of the CSV (numbers as numbers, a withheld figure an empty
// cell named in the suppressed column) and a sheet "about" with what it is
// about (the names and values of WriteCSVMeta).
func (r *Report) WriteXLSX(w io.Writer) error {
	f := excelize.NewFile()
	defer f.Close()
	const data, about = "stats", "about"
	if err := f.SetSheetName("Sheet1", data); err != nil {
		return err
	}
	if _, err := f.NewSheet(about); err != nil {
		return err
	}
	header, lines := r.table()
	row := make([]any, len(header))
	for i, h := range header {
		row[i] = h
	}
	if err := f.SetSheetRow(data, "A1", &row); err != nil {
		return err
	}
	for n, l := range lines {
		for i, c := range l {
			if c.isN {
				row[i] = c.num
			} else {
				row[i] = c.text
			}
		}
		cellName, err := excelize.CoordinatesToCellName(1, n+2)
		if err != nil {
			return err
		}
		if err := f.SetSheetRow(data, cellName, &row); err != nil {
			return err
		}
	}
	if err := f.SetPanes(data, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	for n, m := range append([][2]string{{"name", "value"}}, r.meta()...) {
		cellName, err := excelize.CoordinatesToCellName(1, n+1)
		if err != nil {
			return err
		}
		if err := f.SetSheetRow(about, cellName, &[]any{m[0], m[1]}); err != nil {
			return err
		}
	}
	_, err := f.WriteTo(w)
	return err
}
