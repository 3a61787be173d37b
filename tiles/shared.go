package tiles

import (
	"context"
	"fmt"
	"sync"
)

// shared computes each value once for all the callers that ask for it at
// the same time (single flight), and keeps it in an LRU bounded by the
// bytes its values take: the aggregates of a filter are asked for by every
// tile of a view at once. Safe for concurrent use.
type shared[K comparable, V any] struct {
	mu    sync.Mutex
	cache *lru[K, V] // nil: nothing is kept, computations are still shared
	calls map[K]*call[V]
}

// call is one computation that concurrent callers wait for.
type call[V any] struct {
	done   chan struct{}
	v      V
	err    error
	refs   int                // callers still waiting (under shared.mu)
	cancel context.CancelFunc // ends the computation
}

// newShared returns a shared cache keeping at most maxBytes of values, as
// measured by size; maxBytes < 0 keeps nothing.
func newShared[K comparable, V any](maxBytes int, size func(V) int) *shared[K, V] {
	s := &shared[K, V]{calls: map[K]*call[V]{}}
	if maxBytes >= 0 {
		s.cache = newLRU[K, V](maxBytes, size)
	}
	return s
}

// get returns the value of k: from the cache, or from the one computation
// by compute that every caller asking for it meanwhile waits for. The
// computation runs for all of them, with the values of the first caller's
// context: it goes on when that caller goes away (its deadline passes, its
// client leaves) while others still wait, and is cancelled when every
// caller has gone, so that a query nobody waits for stops. A caller whose
// ctx ends returns ctx.Err(). Errors are not kept. Under KeptOnly, a value
// neither kept nor being computed is ErrNotKept.
func (s *shared[K, V]) get(ctx context.Context, k K, compute func(context.Context) (V, error)) (V, error) {
	s.mu.Lock()
	if s.cache != nil {
		if v, ok := s.cache.get(k); ok {
			s.mu.Unlock()
			return v, nil
		}
	}
	c, ok := s.calls[k]
	if ok {
		c.refs++
	} else if keptOnly(ctx) {
		s.mu.Unlock()
		var zero V
		return zero, ErrNotKept
	} else {
		cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c = &call[V]{done: make(chan struct{}), refs: 1, cancel: cancel}
		s.calls[k] = c
		go s.run(cctx, k, c, compute)
	}
	s.mu.Unlock()
	select {
	case <-c.done:
		return c.v, c.err
	case <-ctx.Done():
	}
	s.mu.Lock()
	c.refs--
	if c.refs == 0 {
		// nobody waits any more: stop, and let a later caller start afresh
		c.cancel()
		if s.calls[k] == c {
			delete(s.calls, k)
		}
	}
	s.mu.Unlock()
	var zero V
	return zero, ctx.Err()
}

// run computes the value of c and publishes it; a panic of compute
// becomes the error of its callers.
func (s *shared[K, V]) run(ctx context.Context, k K, c *call[V], compute func(context.Context) (V, error)) {
	defer func() {
		if p := recover(); p != nil {
			c.err = fmt.Errorf("computing a shared aggregate: panic: %v", p)
		}
		c.cancel()
		s.mu.Lock()
		if s.calls[k] == c {
			delete(s.calls, k)
		}
		if c.err == nil && s.cache != nil {
			s.cache.put(k, c.v)
		}
		s.mu.Unlock()
		close(c.done)
	}()
	c.v, c.err = compute(ctx)
}
