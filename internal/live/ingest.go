package live

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/tiles"
)

// Sink stores batches of validated records for POST /api/ingest.
type Sink interface {
	// Store writes recs as one batch identified by id, all or nothing. It
	// returns duplicate=true, and writes nothing, when a batch with the
	// same checksum was stored before (under any key, or as a file), or
	// when id.Key was used in id.Scope for the same checksum. A key used in
	// its scope for another checksum is a *KeyConflictError.
	Store(ctx context.Context, id BatchID, recs []presence.Record) (duplicate bool, err error)
}

// BatchID identifies a posted batch.
type BatchID struct {
	// Checksum identifies the content: the SHA-256 of the body, hex, as
	// `flowtiles ingest` takes it of a file. The same bytes are stored
	// once, whoever posts them under whatever key.
	Checksum string
	// Scope is who posted (Tokens.Scope of the bearer token): keys of
	// different scopes never meet.
	Scope string
	// Key is the client's Idempotency-Key ("" without one). Within its
	// scope it is bound to the checksum of its first use.
	Key string
}

// KeyConflictError is an idempotency key reused for other content.
type KeyConflictError struct{ Key string }

func (e *KeyConflictError) Error() string {
	return fmt.Sprintf("Idempotency-Key %s was used before for a different body: nothing stored", tiles.Quote(e.Key))
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
// remembers the checksums and keys of the last maxKeys batches for
// idempotency: the store itself lives only as long as the process, and so
// do they.
type MemorySink struct {
	store *memstore.Store
	zones *tiles.ZoneIndex

	mu    sync.Mutex
	sums  map[string]struct{}  // checksums stored
	keys  map[scopedKey]string // key → checksum of its first use
	order []BatchID            // in arrival order, for forgetting the oldest
}

type scopedKey struct{ scope, key string }

// maxKeys bounds the batches a MemorySink remembers.
const maxKeys = 100_000

// NewMemorySink returns a sink into store; zones give records their zone
// masks.
func NewMemorySink(store *memstore.Store, zones []tiles.Place) *MemorySink {
	return &MemorySink{store: store, zones: tiles.NewZoneIndex(zones), sums: map[string]struct{}{}, keys: map[scopedKey]string{}}
}

// Store implements Sink.
func (s *MemorySink) Store(ctx context.Context, id BatchID, recs []presence.Record) (bool, error) {
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
	sk := scopedKey{id.Scope, id.Key}
	if id.Key != "" {
		if sum, ok := s.keys[sk]; ok {
			if sum != id.Checksum {
				return false, &KeyConflictError{Key: id.Key}
			}
			return true, nil
		}
	}
	_, dup := s.sums[id.Checksum]
	if !dup {
		b := s.store.NewBuilder()
		for _, r := range rows {
			b.Add(r)
		}
		b.Commit()
		s.sums[id.Checksum] = struct{}{}
	}
	if id.Key != "" {
		s.keys[sk] = id.Checksum
	}
	s.order = append(s.order, id)
	if len(s.order) > maxKeys {
		old := s.order[0]
		delete(s.sums, old.Checksum)
		if old.Key != "" {
			delete(s.keys, scopedKey{old.Scope, old.Key})
		}
		s.order = s.order[1:]
	}
	return dup, nil
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
// bearer token.
func (t Tokens) Allow(authorization string) bool {
	_, ok := t.Scope(authorization)
	return ok
}

// Scope returns the scope of the configured bearer token that an
// Authorization header value carries: a name of the token that does not
// reveal it ("token:" and 16 hex digits of a hash of its digest), under
// which its idempotency keys are kept. It compares fixed-length digests in
// constant time and looks at every token, so timing tells nothing about
// how much matched or which.
func (t Tokens) Scope(authorization string) (string, bool) {
	scheme, tok, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || len(t.sums) == 0 {
		return "", false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	match := 0
	for i := range t.sums {
		match |= subtle.ConstantTimeCompare(sum[:], t.sums[i][:])
	}
	if match != 1 {
		return "", false
	}
	scope := sha256.Sum256(append([]byte("flowtiles ingest scope\x00"), sum[:]...))
	return "token:" + hex.EncodeToString(scope[:8]), true
}
