package demo

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/flowtiles/flowtiles/internal/presence"
)

// CSVHeader is the header line of the data contract's CSV.
const CSVHeader = "observed_at,lon,lat,weight,visitor_id,age_band,gender,nationality,origin_code,spend_class"

// Write generates cfg's data set into w in the data contract's format,
// "csv" (with a header) or "ndjson", and returns the number of records.
// The visitor_id column carries the opaque id whose hash is the record's
// Visitor, so ingesting the output gives the records of Generate.
func Write(w io.Writer, cfg Config, format string) (int, error) {
	if format != "csv" && format != "ndjson" {
		return 0, fmt.Errorf("demo: unknown format %q (want csv or ndjson)", format)
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	n := 0
	if format == "csv" {
		bw.WriteString(CSVHeader + "\n")
	}
	var line []byte
	err := GenerateWithIDs(cfg, func(r *presence.Record, id string) error {
		if format == "csv" {
			line = AppendCSV(line[:0], r, id)
		} else {
			line = AppendNDJSON(line[:0], r, id)
		}
		n++
		_, err := bw.Write(line)
		return err
	})
	if err == nil {
		err = bw.Flush()
	}
	return n, err
}

// AppendCSV appends r as one CSV line (with its newline) to b, with id as
// its visitor_id. The demo's values need no quoting.
func AppendCSV(b []byte, r *presence.Record, id string) []byte {
	b = r.ObservedAt.AppendFormat(b, time.RFC3339)
	b = append(b, ',')
	b = strconv.AppendFloat(b, r.Lon, 'f', -1, 64)
	b = append(b, ',')
	b = strconv.AppendFloat(b, r.Lat, 'f', -1, 64)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(r.Weight), 10)
	b = append(b, ',')
	b = append(b, id...)
	b = append(b, ',')
	b = append(b, r.Age.String()...)
	b = append(b, ',')
	b = append(b, r.Gender.String()...)
	b = append(b, ',')
	b = append(b, r.Nationality.String()...)
	b = append(b, ',')
	b = append(b, r.Origin...)
	b = append(b, ',')
	b = append(b, r.Spend.String()...)
	return append(b, '\n')
}

// AppendNDJSON appends r as one NDJSON line to b, leaving out absent
// attributes, with id as its visitor_id.
func AppendNDJSON(b []byte, r *presence.Record, id string) []byte {
	b = append(b, `{"observed_at":"`...)
	b = r.ObservedAt.AppendFormat(b, time.RFC3339)
	b = append(b, `","lon":`...)
	b = strconv.AppendFloat(b, r.Lon, 'f', -1, 64)
	b = append(b, `,"lat":`...)
	b = strconv.AppendFloat(b, r.Lat, 'f', -1, 64)
	b = append(b, `,"weight":`...)
	b = strconv.AppendUint(b, uint64(r.Weight), 10)
	str := func(k, v string) {
		if v != "" {
			b = append(b, `,"`...)
			b = append(b, k...)
			b = append(b, `":"`...)
			b = append(b, v...)
			b = append(b, '"')
		}
	}
	str("visitor_id", id)
	str("age_band", r.Age.String())
	str("gender", r.Gender.String())
	str("nationality", r.Nationality.String())
	str("origin_code", r.Origin)
	str("spend_class", r.Spend.String())
	return append(b, "}\n"...)
}
