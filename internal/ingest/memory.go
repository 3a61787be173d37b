package ingest

import (
	"context"
	"errors"
	"sync"

	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/tiles"
)

// MemorySink adds batches to an in-memory store (embedded mode). It places
// every record in its town (Record.Town) and refuses a town's token the
// records of other towns, as PGSink does (townSet.place). It remembers the checksums and keys of the last maxKeys batches for
// idempotency: the store itself lives only as long as the process, and so
// do they.
type MemorySink struct {
	store *memstore.Store
	zones *tiles.ZoneIndex
	towns *townSet

	mu    sync.Mutex
	sums  map[string]struct{}  // checksums stored
	keys  map[scopedKey]string // key → checksum of its first use
	order []presence.BatchID   // in arrival order, for forgetting the oldest
}

type scopedKey struct{ scope, key string }

// maxKeys bounds the batches a MemorySink remembers.
const maxKeys = 100_000

// NewMemorySink returns a sink into store; zones give records their zone
// masks, towns their town (the towns the server has: a record outside
// every town is refused). Without towns records are not placed (every one
// is town 0's) and a town's token may write nothing. The store holds the
// records of every town together.
func NewMemorySink(store *memstore.Store, zones []tiles.Place, towns []tiles.Town) *MemorySink {
	return &MemorySink{store: store, zones: tiles.NewZoneIndex(zones), towns: newTownSet(towns),
		sums: map[string]struct{}{}, keys: map[scopedKey]string{}}
}

// Store stores a batch (it implements server.Sink). It sets each record's
// Town.
func (s *MemorySink) Store(ctx context.Context, id presence.BatchID, recs []presence.Record) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := s.towns.place(id, recs); err != nil {
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
				return false, &presence.KeyConflictError{Key: id.Key}
			}
			return true, nil
		}
	}
	_, dup := s.sums[id.Checksum]
	if !dup {
		if err := s.store.Add(recs, s.zones); err != nil {
			var oe *memstore.OriginError
			if errors.As(err, &oe) {
				return false, &presence.RecordError{Index: oe.Index, Column: "origin_code", Reason: "unknown origin code " + tiles.Quote(oe.Code)}
			}
			return false, err
		}
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
