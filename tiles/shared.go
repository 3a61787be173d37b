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
	done chan struct{}
	v    V
	err  error
	// abandoned: the leader's context ended before the value was made, so
	// the error is the leader's, not the waiters'.
	abandoned bool
	waiters   int // callers waiting for it (under shared.mu)
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

// get returns the value of k: from the cache, from a computation already
// under way, or computed by compute with ctx. The caller that computes is the
// leader; the others wait for it (or for their own ctx). A waiter whose
// leader's context ended tries again, and may lead itself. Errors are not
// kept.
func (s *shared[K, V]) get(ctx context.Context, k K, compute func(context.Context) (V, error)) (V, error) {
	for {
		s.mu.Lock()
		if s.cache != nil {
			if v, ok := s.cache.get(k); ok {
				s.mu.Unlock()
				return v, nil
			}
		}
		if c, ok := s.calls[k]; ok {
			c.waiters++
			s.mu.Unlock()
			select {
			case <-c.done:
			case <-ctx.Done():
				var zero V
				return zero, ctx.Err()
			}
			if c.abandoned && ctx.Err() == nil {
				continue
			}
			return c.v, c.err
		}
		c := &call[V]{done: make(chan struct{})}
		s.calls[k] = c
		s.mu.Unlock()
		s.lead(ctx, k, c, compute)
		return c.v, c.err
	}
}

// lead computes the value of c and publishes it, even if compute panics (the
// waiters then try again, and the panic goes on up the leader's stack).
func (s *shared[K, V]) lead(ctx context.Context, k K, c *call[V], compute func(context.Context) (V, error)) {
	finished := false
	defer func() {
		if !finished {
			c.err, c.abandoned = fmt.Errorf("computing a shared aggregate: panic"), true
		}
		s.mu.Lock()
		delete(s.calls, k)
		if c.err == nil && s.cache != nil {
			s.cache.put(k, c.v)
		}
		s.mu.Unlock()
		close(c.done)
	}()
	c.v, c.err = compute(ctx)
	c.abandoned = c.err != nil && ctx.Err() != nil
	finished = true
}
