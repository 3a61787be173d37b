package server

import (
	"io"

	"github.com/xuri/excelize/v2"

	"github.com/flowtiles/flowtiles/internal/stats"
)

// ContentTypeXLSX is the media type of an Excel workbook.
const ContentTypeXLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// writeXLSX writes a stats report as an Excel workbook (format=xlsx): a sheet "stats" with
// the table of the CSV (numbers as numbers, a withheld figure an empty
// cell named in the suppressed column) and a sheet "about" with what it is
// about (the names and values of WriteCSVMeta). It lives here, not in
// internal/stats, because excelize imports net/http.
func writeXLSX(r *stats.Report, w io.Writer) error {
	f := excelize.NewFile()
	defer f.Close()
	const data, about = "stats", "about"
	if err := f.SetSheetName("Sheet1", data); err != nil {
		return err
	}
	if _, err := f.NewSheet(about); err != nil {
		return err
	}
	header, lines := r.Table()
	row := make([]any, len(header))
	for i, h := range header {
		row[i] = h
	}
	if err := f.SetSheetRow(data, "A1", &row); err != nil {
		return err
	}
	for n, l := range lines {
		for i, c := range l {
			if c.Number {
				row[i] = c.Num
			} else {
				row[i] = c.Text
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
	for n, m := range append([][2]string{{"name", "value"}}, r.Meta()...) {
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
