// Package presence is the data contract of flowtiles: one presence record is
// a number of people observed at a point at a time. It reads and validates
// records (CSV, GeoJSON, NDJSON) for the CLI ingest and the HTTP ingest.
package presence

import (
	"crypto/sha256"
	"encoding/binary"
	"time"

	"github.com/flowtiles/flowtiles/tiles"
)

// Record is one validated presence record.
type Record struct {
	ObservedAt  time.Time // whole seconds
	Lon, Lat    float64   // WGS 84
	Weight      uint32    // people this record stands for, ≥ 1
	Visitor     int64     // VisitorHash of visitor_id; 0 when absent
	Age         tiles.AgeBand
	Gender      tiles.Gender
	Nationality tiles.Country
	Origin      string // ISTAT municipality code (6 digits), "" when absent
	Spend       tiles.Spend
	// Town is the ID of the town the record lies in (tiles.Town.ID), set
	// by a Validator with Towns; 0 (the first town) otherwise. It is not
	// a column of the data contract: where a record is decides its town.
	Town int16
}

// World returns the record's position in world coordinates.
func (r *Record) World() tiles.World { return tiles.Project(r.Lon, r.Lat) }

// VisitorHash pseudonymises a visitor id into a non-zero 64-bit number: the
// first 8 bytes of its SHA-256. flowtiles stores and counts only the hash;
// the raw id is never kept.
func VisitorHash(id string) int64 {
	if id == "" {
		return 0
	}
	sum := sha256.Sum256([]byte(id))
	h := int64(binary.BigEndian.Uint64(sum[:8]))
	if h == 0 {
		h = 1
	}
	return h
}
