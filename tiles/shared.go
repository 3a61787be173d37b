package tiles

import (
	"context"
	"fmt"
	"slices"
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
	batch  *batch             // the computation of several values it is one of (getMany); nil for get's
}

// batch is one computation of the values of several keys (getMany): it
// goes on while a caller waits for any of them.
type batch struct {
	refs   int // callers waiting for any of its values (under shared.mu)
	cancel context.CancelFunc
	drop   func() // forgets its calls (under shared.mu)
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
		c.join()
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
	return s.wait(ctx, k, c)
}

// join adds a caller waiting for c (under shared.mu).
func (c *call[V]) join() {
	c.refs++
	if c.batch != nil {
		c.batch.refs++
	}
}

// wait returns the value of c, which the caller joined, or ctx.Err() if
// ctx ends first: then the caller leaves, and a computation nobody waits
// for any more stops, and is forgotten so that a later caller starts
// afresh.
func (s *shared[K, V]) wait(ctx context.Context, k K, c *call[V]) (V, error) {
	select {
	case <-c.done:
		return c.v, c.err
	case <-ctx.Done():
	}
	s.mu.Lock()
	c.refs--
	if b := c.batch; b != nil {
		b.refs--
		if b.refs == 0 {
			b.cancel()
			b.drop()
		}
	} else if c.refs == 0 {
		c.cancel()
		if s.calls[k] == c {
			delete(s.calls, k)
		}
	}
	s.mu.Unlock()
	var zero V
	return zero, ctx.Err()
}

// getMany is get for keys[i], when one computation gives the values of
// several keys for little more than one: compute(ctx, want) returns the
// values of keys[want[0]], keys[want[1]]..., and is asked for keys[i]
// (want[0]) and those of keys neither kept nor being computed. Every
// value computed is kept, and callers asking for any of them meanwhile
// wait for that computation, which stops when none waits any more.
func (s *shared[K, V]) getMany(ctx context.Context, keys []K, i int, compute func(ctx context.Context, want []int) ([]V, error)) (V, error) {
	k := keys[i]
	s.mu.Lock()
	if s.cache != nil {
		if v, ok := s.cache.get(k); ok {
			s.mu.Unlock()
			return v, nil
		}
	}
	c, ok := s.calls[k]
	if ok {
		c.join()
	} else if keptOnly(ctx) {
		s.mu.Unlock()
		var zero V
		return zero, ErrNotKept
	} else {
		want := []int{i}
		for j, kj := range keys {
			if _, busy := s.calls[kj]; j == i || busy || slices.Contains(keys[:j], kj) {
				continue
			}
			if s.cache != nil {
				if _, kept := s.cache.get(kj); kept {
					continue
				}
			}
			want = append(want, j)
		}
		cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		b := &batch{refs: 1, cancel: cancel}
		calls := make([]*call[V], len(want))
		for n, j := range want {
			calls[n] = &call[V]{done: make(chan struct{}), cancel: cancel, batch: b}
			s.calls[keys[j]] = calls[n]
		}
		b.drop = func() {
			for n, j := range want {
				if s.calls[keys[j]] == calls[n] {
					delete(s.calls, keys[j])
				}
			}
		}
		c = calls[0]
		c.refs = 1
		go s.runMany(cctx, keys, want, calls, compute)
	}
	s.mu.Unlock()
	return s.wait(ctx, k, c)
}

// runMany computes the values of calls, of keys[want[n]], and publishes
// them; a panic of compute becomes the error of their callers.
func (s *shared[K, V]) runMany(ctx context.Context, keys []K, want []int, calls []*call[V], compute func(context.Context, []int) ([]V, error)) {
	var (
		vs  []V
		err error
	)
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("computing shared aggregates: panic: %v", p)
		}
		if err == nil && len(vs) != len(want) {
			err = fmt.Errorf("computing shared aggregates: %d values for %d keys", len(vs), len(want))
		}
		calls[0].cancel()
		s.mu.Lock()
		for n, j := range want {
			c := calls[n]
			if err != nil {
				c.err = err
			} else {
				c.v = vs[n]
			}
			if s.calls[keys[j]] == c {
				delete(s.calls, keys[j])
			}
			if c.err == nil && s.cache != nil {
				s.cache.put(keys[j], c.v)
			}
		}
		s.mu.Unlock()
		for _, c := range calls {
			close(c.done)
		}
	}()
	vs, err = compute(ctx, want)
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
