package live

import (
	"sync"
	"time"

	"github.com/flowtiles/flowtiles/internal/presence"
)

// Changes remembers, for the recent data versions, the time span of the
// records each one added, so that a "tiles" event can say which period
// changed and a page showing a closed past period need not refetch its
// tiles for today's data. A version it does not know (another instance's
// batch through the database) makes the span unknown: clients then
// refetch everything. Safe for concurrent use.
type Changes struct {
	mu    sync.Mutex
	spans map[uint64]Span
	order []uint64
}

// Span is a time span [From, To).
type Span struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// maxChanges bounds the versions remembered.
const maxChanges = 1024

// NewChanges returns an empty record of changes.
func NewChanges() *Changes { return &Changes{spans: map[uint64]Span{}} }

// Add records that version added recs (at least one).
func (c *Changes) Add(version uint64, recs []presence.Record) {
	if c == nil || len(recs) == 0 {
		return
	}
	s := Span{From: recs[0].ObservedAt, To: recs[0].ObservedAt}
	for i := range recs {
		t := recs[i].ObservedAt
		if t.Before(s.From) {
			s.From = t
		}
		if t.After(s.To) {
			s.To = t
		}
	}
	s.To = s.To.Add(time.Second)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.spans[version]; !ok {
		c.order = append(c.order, version)
	}
	c.spans[version] = s
	for len(c.order) > maxChanges {
		delete(c.spans, c.order[0])
		c.order = c.order[1:]
	}
}

// Between returns the span of the records added after version from up to
// version to; ok is false when a version in between is not known.
func (c *Changes) Between(from, to uint64) (Span, bool) {
	if c == nil || to <= from || to-from > maxChanges {
		return Span{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out Span
	for v := from + 1; v <= to; v++ {
		s, ok := c.spans[v]
		if !ok {
			return Span{}, false
		}
		if out.From.IsZero() || s.From.Before(out.From) {
			out.From = s.From
		}
		if s.To.After(out.To) {
			out.To = s.To
		}
	}
	return out, true
}
