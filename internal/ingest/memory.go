package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/tiles"
)

// MemorySink adds batches to in-memory stores (embedded mode): one per
// town, or one for every town. It places every record in its town
// (Record.Town) and refuses a town's token the records of other towns, as
// PGSink does (townSet.place). It remembers the checksums and keys of the
// last maxKeys batches for idempotency: the stores themselves live only as
// long as the process, and so do they.
type MemorySink struct {
	stores map[int16]memTown // by town ID; nil: all holds every town's records
	all    memTown
	towns  *townSet

	mu    sync.Mutex
	sums  map[string]struct{}  // checksums stored
	keys  map[scopedKey]string // key → checksum of its first use
	order []presence.BatchID   // in arrival order, for forgetting the oldest
}

type scopedKey struct{ scope, key string }

// memTown is a store and the zone index that gives its records their zone
// masks.
type memTown struct {
	store *memstore.Store
	zones *tiles.ZoneIndex
}

// MemoryTown is one town of a NewTownsMemorySink: its in-memory store and
// its zones.
type MemoryTown struct {
	Town  tiles.Town
	Store *memstore.Store
	Zones []tiles.Place
}

// maxKeys bounds the batches a MemorySink remembers.
const maxKeys = 100_000

// NewMemorySink returns a sink into store; zones give records their zone
// masks, towns their town (the towns the server has: a record outside
// every town is refused). Without towns records are not placed (every one
// is town 0's) and a town's token may write nothing. The store holds the
// records of every town together.
func NewMemorySink(store *memstore.Store, zones []tiles.Place, towns []tiles.Town) *MemorySink {
	return &MemorySink{all: memTown{store, tiles.NewZoneIndex(zones)}, towns: newTownSet(towns),
		sums: map[string]struct{}{}, keys: map[scopedKey]string{}}
}

// NewTownsMemorySink returns a sink that stores each record in its town's
// store, with its town's zones (a server of several towns, each answered
// from a store of its own records). A batch is placed whole first, then
// added to every town's store it touches, all or nothing.
func NewTownsMemorySink(towns []MemoryTown) *MemorySink {
	s := &MemorySink{stores: map[int16]memTown{}, sums: map[string]struct{}{}, keys: map[scopedKey]string{}}
	ts := make([]tiles.Town, len(towns))
	for i, t := range towns {
		ts[i] = t.Town
		s.stores[t.Town.ID] = memTown{t.Store, tiles.NewZoneIndex(t.Zones)}
	}
	s.towns = newTownSet(ts)
	return s
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
		if err := s.add(recs); err != nil {
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

// add adds placed records to their towns' stores, all or none: every
// town's rows are built first, and committed only when all could be.
func (s *MemorySink) add(recs []presence.Record) error {
	type part struct {
		memTown
		b *memstore.Builder
	}
	parts := map[int16]*part{}
	for i := range recs {
		town := recs[i].Town
		if s.stores == nil {
			town = 0 // one store for every town
		}
		p := parts[town]
		if p == nil {
			mt, ok := s.stores[town]
			if s.stores == nil {
				mt, ok = s.all, true
			}
			if !ok {
				return fmt.Errorf("record %d: town %d has no store here", i+1, town)
			}
			p = &part{mt, mt.store.NewBuilder()}
			parts[town] = p
		}
		if err := p.b.AddRecords(recs[i:i+1], p.zones); err != nil {
			var oe *memstore.OriginError
			if errors.As(err, &oe) {
				return &presence.RecordError{Index: i, Column: "origin_code", Reason: "unknown origin code " + tiles.Quote(oe.Code)}
			}
			return err
		}
	}
	for _, p := range parts {
		p.b.Commit()
	}
	return nil
}
