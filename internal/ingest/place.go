package ingest

import (
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/tiles"
)

// townSet is the towns posted records are placed in: their index, and their
// codes by ID to name them. Safe for concurrent use.
type townSet struct {
	ix    *tiles.TownIndex // nil: no towns known, records are not placed
	codes map[int16]string
}

func newTownSet(ts []tiles.Town) *townSet {
	s := &townSet{codes: make(map[int16]string, len(ts))}
	if len(ts) > 0 {
		s.ix = tiles.NewTownIndex(ts)
	}
	for _, t := range ts {
		s.codes[t.ID] = t.Code
	}
	return s
}

// place sets the town of every record of a posted batch (Record.Town, by
// presence.Validator.Place) and checks that the batch's poster may write
// them all; it modifies recs in place. Both sinks call it before they look
// at keys and checksums, so that a town's token is refused a batch it
// could not write even when the same bytes were stored before, and learns
// nothing of them.
//
// With a token of any town (bid.Town empty) the first record outside every
// town is a *presence.RecordError. With a town's token every record lying
// outside that town (in another, or in none) is counted, and the first
// presence.MaxListedErrors listed, in a *presence.TownError; so is the
// whole batch when the town is not among the sink's towns.
func (s *townSet) place(bid presence.BatchID, recs []presence.Record) error {
	v := presence.Validator{Towns: s.ix}
	if bid.Town == "" {
		for i := range recs {
			if reason := v.Place(&recs[i]); reason != "" {
				return &presence.RecordError{Index: i, Column: "lon", Reason: reason}
			}
		}
		return nil
	}
	own, known := int16(0), false
	for id, code := range s.codes {
		if code == bid.Town {
			own, known = id, true
		}
	}
	te := &presence.TownError{Town: bid.Town, Missing: !known}
	for i := range recs {
		r := &recs[i]
		in := ""
		if s.ix != nil && v.Place(r) == "" {
			in = s.codes[r.Town]
		}
		if known && in != "" && r.Town == own {
			continue
		}
		if te.Count++; len(te.Rows) < presence.MaxListedErrors {
			te.Rows = append(te.Rows, presence.TownRow{Index: i, Town: in})
		}
	}
	if te.Count > 0 {
		return te
	}
	return nil
}
