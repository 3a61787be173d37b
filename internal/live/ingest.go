package live

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"strings"
	"sync"

	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/tiles"
)

// Sink stores batches of validated records for POST /api/ingest.
type Sink interface {
	// Store writes recs as one batch identified by key, all or nothing.
	// It returns duplicate=true, and writes nothing, when a batch with
	// this key was stored before.
	Store(ctx context.Context, key string, recs []presence.Record) (duplicate bool, err error)
}

// RecordError is a record a sink cannot store although it passed the
// contract's validation (an origin code the store does not know).
type RecordError struct {
	Index  int // 0-based position in the batch
	Column string
	Reason string
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("record %d: %s: %s", e.Index+1, e.Column, e.Reason)
}

// MemorySink adds batches to an in-memory store (embedded mode). It
// remembers the keys of the last maxKeys batches for idempotency: the
// store itself lives only as long as the process, and so do they.
type MemorySink struct {
	store *memstore.Store
	zones *tiles.ZoneIndex

	mu      sync.Mutex
	keys    map[string]struct{}
	order   []string // keys in arrival order, for forgetting the oldest
	changes *Changes
}

// TrackChanges makes the sink record the span of each batch it stores
// under the data version it creates. The sink must be the store's only
// writer (embedded mode), or a version would be given another's batch.
func (s *MemorySink) TrackChanges(c *Changes) *MemorySink {
	s.changes = c
	return s
}

// maxKeys bounds the batch keys a MemorySink remembers.
const maxKeys = 100_000

// NewMemorySink returns a sink into store; zones give records their zone
// masks.
func NewMemorySink(store *memstore.Store, zones []tiles.Place) *MemorySink {
	return &MemorySink{store: store, zones: tiles.NewZoneIndex(zones), keys: map[string]struct{}{}}
}

// Store implements Sink.
func (s *MemorySink) Store(ctx context.Context, key string, recs []presence.Record) (bool, error) {
	rows := make([]memstore.Row, len(recs))
	for i := range recs {
		r, err := s.store.RowOfIndexed(&recs[i], s.zones)
		if err != nil {
			return false, &RecordError{Index: i, Column: "origin_code", Reason: err.Error()}
		}
		rows[i] = r
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	// Holding the lock across Commit makes check-and-store atomic: the
	// same batch posted twice at once is stored once.
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[key]; ok {
		return true, nil
	}
	b := s.store.NewBuilder()
	for _, r := range rows {
		b.Add(r)
	}
	b.Commit()
	s.changes.Add(s.store.Version(), recs)
	s.keys[key] = struct{}{}
	s.order = append(s.order, key)
	if len(s.order) > maxKeys {
		delete(s.keys, s.order[0])
		s.order = s.order[1:]
	}
	return false, nil
}

// Tokens are the bearer tokens that may ingest. The zero value allows
// nobody: ingest is off.
type Tokens struct {
	sums [][sha256.Size]byte
}

// ParseTokens reads comma-separated tokens (blanks ignored).
func ParseTokens(list ...string) Tokens {
	var t Tokens
	for _, l := range list {
		for _, tok := range strings.Split(l, ",") {
			if tok = strings.TrimSpace(tok); tok != "" {
				t.sums = append(t.sums, sha256.Sum256([]byte(tok)))
			}
		}
	}
	return t
}

// Enabled reports whether any token is configured.
func (t Tokens) Enabled() bool { return len(t.sums) > 0 }

// Allow reports whether an Authorization header value carries a configured
// bearer token. It compares fixed-length digests in constant time and looks
// at every token, so timing tells nothing about how much matched or which.
func (t Tokens) Allow(authorization string) bool {
	scheme, tok, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || len(t.sums) == 0 {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	match := 0
	for i := range t.sums {
		match |= subtle.ConstantTimeCompare(sum[:], t.sums[i][:])
	}
	return match == 1
}
