package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
)

// crowd returns n people (ids prefix0…) at the test town's centre.
func crowd(prefix string, n int) []presence.Record {
	at := time.Date(2025, 3, 17, 10, 20, 0, 0, sourcetest.Rome)
	var out []presence.Record
	for i := range n {
		out = append(out, presence.Record{ObservedAt: at, Lon: sourcetest.Centre[0], Lat: sourcetest.Centre[1], Weight: 1,
			Visitor: presence.VisitorHash(fmt.Sprintf("%s%d", prefix, i))})
	}
	return out
}

func TestMemorySink(t *testing.T) {
	s := memstore.New(refdata.Italy())
	sink := NewMemorySink(s, sourcetest.Zones(), nil)
	ctx := context.Background()
	recs := crowd("a", 5)
	dup, err := sink.Store(ctx, presence.BatchID{Checksum: "sum1"}, recs)
	if err != nil || dup {
		t.Fatal(dup, err)
	}
	if dup, err = sink.Store(ctx, presence.BatchID{Checksum: "sum1"}, recs); err != nil || !dup {
		t.Fatalf("second post: dup %v, err %v", dup, err)
	}
	if n := s.Stats().Rows; n != 5 {
		t.Errorf("rows %d, want 5 (the batch counted once)", n)
	}
	// A record the store cannot take: nothing of the batch is written.
	bad := crowd("b", 3)
	bad[2].Origin = "999999"
	_, err = sink.Store(ctx, presence.BatchID{Checksum: "sum2"}, bad)
	if re, ok := err.(*presence.RecordError); !ok || re.Index != 2 {
		t.Errorf("bad origin: %v", err)
	}
	if n := s.Stats().Rows; n != 5 {
		t.Errorf("rows %d after a rejected batch", n)
	}
	// Concurrent posts of one batch store it once.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := sink.Store(ctx, presence.BatchID{Checksum: "sum3"}, crowd("c", 2)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := s.Stats().Rows; n != 7 {
		t.Errorf("rows %d after 8 concurrent posts of a 2-record batch", n)
	}
}

// Idempotency keys are scoped by who posts and bound to the content of
// their first use; a key never lets the same content in twice.
func TestMemorySinkKeys(t *testing.T) {
	s := memstore.New(refdata.Italy())
	sink := NewMemorySink(s, sourcetest.Zones(), nil)
	ctx := context.Background()
	a, b := crowd("a", 3), crowd("b", 4)
	store := func(id presence.BatchID, recs []presence.Record) (bool, error) {
		t.Helper()
		return sink.Store(ctx, id, recs)
	}
	if dup, err := store(presence.BatchID{Checksum: "A", Scope: "s1", Key: "k"}, a); err != nil || dup {
		t.Fatal(dup, err)
	}
	// the same key and content: a retry
	if dup, err := store(presence.BatchID{Checksum: "A", Scope: "s1", Key: "k"}, a); err != nil || !dup {
		t.Fatalf("retry: %v %v", dup, err)
	}
	// the same key, other content: refused, nothing stored
	var ke *presence.KeyConflictError
	if _, err := store(presence.BatchID{Checksum: "B", Scope: "s1", Key: "k"}, b); !errors.As(err, &ke) || ke.Key != "k" {
		t.Fatalf("reused key: %v", err)
	}
	// the same content under other keys, or none: stored once
	for _, id := range []presence.BatchID{{Checksum: "A", Scope: "s1", Key: "k2"}, {Checksum: "A", Scope: "s2", Key: "k"}, {Checksum: "A"}} {
		if dup, err := store(id, a); err != nil || !dup {
			t.Fatalf("%+v: %v %v", id, dup, err)
		}
	}
	// a key is bound by its first use even when that was a duplicate
	if _, err := store(presence.BatchID{Checksum: "B", Scope: "s2", Key: "k"}, b); !errors.As(err, &ke) {
		t.Fatalf("s2's k, bound to A, with B: %v", err)
	}
	// the key of another scope is another key
	if dup, err := store(presence.BatchID{Checksum: "B", Scope: "s3", Key: "k"}, b); err != nil || dup {
		t.Fatalf("a third scope's k: %v %v", dup, err)
	}
	if n := s.Stats().Rows; n != 7 {
		t.Errorf("rows %d, want 3+4", n)
	}
}
