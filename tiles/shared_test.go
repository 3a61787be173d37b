package tiles

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitFor polls cond until it holds, failing after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (s *shared[K, V]) waiting(k K) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.calls[k]; ok {
		return c.refs
	}
	return 0
}

// Callers asking at once share one computation and its result.
func TestSharedComputesOnceForConcurrentCallers(t *testing.T) {
	s := newShared[string](1<<20, func(int) int { return 8 })
	release := make(chan struct{})
	var mu sync.Mutex
	computed := 0
	compute := func(context.Context) (int, error) {
		mu.Lock()
		computed++
		mu.Unlock()
		<-release
		return 42, nil
	}
	const n = 8
	var wg sync.WaitGroup
	got := make([]int, n)
	wg.Go(func() { got[0], _ = s.get(context.Background(), "k", compute) })
	waitFor(t, "the leader to start", func() bool { mu.Lock(); defer mu.Unlock(); return computed == 1 })
	for i := 1; i < n; i++ {
		wg.Go(func() { got[i], _ = s.get(context.Background(), "k", compute) })
	}
	waitFor(t, "the others to wait", func() bool { return s.waiting("k") == n })
	close(release)
	wg.Wait()
	for i, v := range got {
		if v != 42 {
			t.Errorf("caller %d got %d", i, v)
		}
	}
	if v, err := s.get(context.Background(), "k", compute); v != 42 || err != nil || computed != 1 {
		t.Errorf("after: got %d, %v; computed %d times, want once", v, err, computed)
	}
}

// A waiter whose leader's client went away still gets the value: the
// computation goes on for it. An error is not kept.
func TestSharedWaiterOutlivesCancelledLeader(t *testing.T) {
	s := newShared[string](1<<20, func(int) int { return 8 })
	leaderCtx, cancel := context.WithCancel(context.Background())
	started, release := make(chan struct{}), make(chan struct{})
	var computeErr error
	compute := func(ctx context.Context) (int, error) {
		close(started)
		<-release
		computeErr = ctx.Err()
		return 7, nil
	}
	var leaderErr error
	var wg sync.WaitGroup
	wg.Go(func() { _, leaderErr = s.get(leaderCtx, "k", compute) })
	<-started
	var got int
	var err error
	wg.Go(func() { got, err = s.get(context.Background(), "k", compute) })
	waitFor(t, "the waiter to wait", func() bool { return s.waiting("k") == 2 })
	cancel()
	waitFor(t, "the leader to leave", func() bool { return s.waiting("k") == 1 })
	close(release)
	wg.Wait()
	if !errors.Is(leaderErr, context.Canceled) {
		t.Errorf("leader: %v, want its cancellation", leaderErr)
	}
	if got != 7 || err != nil || computeErr != nil {
		t.Errorf("waiter: %d, %v (computation's context: %v); want 7 from the one computation", got, err, computeErr)
	}

	boom := errors.New("boom")
	if _, err := s.get(context.Background(), "e", func(context.Context) (int, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Fatalf("got %v, want boom", err)
	}
	if v, err := s.get(context.Background(), "e", func(context.Context) (int, error) { return 3, nil }); v != 3 || err != nil {
		t.Errorf("after an error: %d, %v; want a new computation", v, err)
	}
}

// When every caller has gone, the computation is cancelled (a panned-away
// map stops its query), and the next caller starts afresh.
func TestSharedStopsWhenEveryCallerLeft(t *testing.T) {
	s := newShared[string](1<<20, func(int) int { return 8 })
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if _, err := s.get(ctx, "k", func(cctx context.Context) (int, error) {
				<-cctx.Done()
				stopped <- cctx.Err()
				return 0, cctx.Err()
			}); !errors.Is(err, context.Canceled) {
				t.Errorf("caller: %v, want its cancellation", err)
			}
		})
	}
	waitFor(t, "the callers to wait", func() bool { return s.waiting("k") == 3 })
	cancel()
	wg.Wait()
	select {
	case err := <-stopped:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("computation ended with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the computation went on with nobody waiting")
	}
	if v, err := s.get(context.Background(), "k", func(context.Context) (int, error) { return 5, nil }); v != 5 || err != nil {
		t.Errorf("afterwards: %d, %v; want a new computation", v, err)
	}
}

// A panic in a computation is its callers' error, not a crash.
func TestSharedPanicIsAnError(t *testing.T) {
	s := newShared[string](1<<20, func(int) int { return 8 })
	if _, err := s.get(context.Background(), "p", func(context.Context) (int, error) { panic("oops") }); err == nil || !strings.Contains(err.Error(), "oops") {
		t.Errorf("got %v, want the panic as an error", err)
	}
}

// The cache is bounded by the bytes of its values, not their number.
func TestSharedBoundedByBytes(t *testing.T) {
	s := newShared[int](100, func(v []byte) int { return len(v) })
	for i := range 10 {
		if _, err := s.get(context.Background(), i, func(context.Context) ([]byte, error) { return make([]byte, 30), nil }); err != nil {
			t.Fatal(err)
		}
	}
	if s.cache.used > 100 || len(s.cache.items) != 3 {
		t.Errorf("%d values of %d bytes kept, want the 3 latest (90 bytes)", len(s.cache.items), s.cache.used)
	}
	if _, err := s.get(context.Background(), 99, func(context.Context) ([]byte, error) { return make([]byte, 101), nil }); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.cache.items[99]; ok {
		t.Errorf("a value larger than the budget was kept")
	}
}

// getMany computes the values of several keys at once: callers asking for
// any of them meanwhile wait for that one computation, every value is
// kept, and a later batch leaves out the keys kept or being computed.
func TestSharedManyComputesOnce(t *testing.T) {
	s := newShared[string](1<<20, func(int) int { return 8 })
	keys := []string{"a", "b", "c"}
	release := make(chan struct{})
	var mu sync.Mutex
	var asked [][]int
	compute := func(_ context.Context, want []int) ([]int, error) {
		mu.Lock()
		asked = append(asked, append([]int(nil), want...))
		mu.Unlock()
		<-release
		vs := make([]int, len(want))
		for n, j := range want {
			vs[n] = 10 + j
		}
		return vs, nil
	}
	var wg sync.WaitGroup
	got := make([]int, 3)
	wg.Go(func() { got[1], _ = s.getMany(context.Background(), keys, 1, compute) })
	waitFor(t, "the batch to start", func() bool { mu.Lock(); defer mu.Unlock(); return len(asked) == 1 })
	// the others, asked for by themselves or as another batch, join it
	wg.Go(func() {
		got[0], _ = s.get(context.Background(), "a", func(context.Context) (int, error) { return -1, nil })
	})
	wg.Go(func() { got[2], _ = s.getMany(context.Background(), keys, 2, compute) })
	waitFor(t, "the others to wait", func() bool { return s.waiting("a") == 1 && s.waiting("c") == 1 })
	close(release)
	wg.Wait()
	if got[0] != 10 || got[1] != 11 || got[2] != 12 {
		t.Errorf("got %v, want [10 11 12] from one computation", got)
	}
	if len(asked) != 1 || len(asked[0]) != 3 || asked[0][0] != 1 {
		t.Fatalf("computations asked for %v, want one for [1 0 2] (the caller's key first)", asked)
	}
	// all kept: nothing is computed again; a new key alone is
	keys = append(keys, "d")
	for i, want := range []int{10, 11, 12, 13} {
		if v, err := s.getMany(context.Background(), keys, i, compute); v != want || err != nil {
			t.Errorf("key %d: %d, %v; want %d", i, v, err, want)
		}
	}
	if len(asked) != 2 || len(asked[1]) != 1 || asked[1][0] != 3 {
		t.Errorf("computations asked for %v, want a second one for [3] only", asked)
	}
	// under KeptOnly a kept value is given, one neither kept nor computed is not
	if v, err := s.getMany(KeptOnly(context.Background()), keys, 0, compute); v != 10 || err != nil {
		t.Errorf("kept only, a kept value: %d, %v", v, err)
	}
	if _, err := s.getMany(KeptOnly(context.Background()), []string{"e", "a"}, 0, compute); !errors.Is(err, ErrNotKept) {
		t.Errorf("kept only, a value not kept: %v, want ErrNotKept", err)
	}
}

// A batch goes on while anybody waits for any of its values, and stops
// when nobody does; its keys are then computed afresh. A panic or an
// error is every caller's, and nothing is kept.
func TestSharedManyStopsWhenEveryCallerLeft(t *testing.T) {
	s := newShared[string](1<<20, func(int) int { return 8 })
	keys := []string{"a", "b"}
	leader, cancelLeader := context.WithCancel(context.Background())
	other, cancelOther := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	compute := func(cctx context.Context, want []int) ([]int, error) {
		<-cctx.Done()
		stopped <- cctx.Err()
		return nil, cctx.Err()
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.getMany(leader, keys, 0, compute) })
	waitFor(t, "the leader to wait", func() bool { return s.waiting("a") == 1 })
	wg.Go(func() { s.get(other, "b", func(context.Context) (int, error) { return -1, nil }) })
	waitFor(t, "the other to wait", func() bool { return s.waiting("b") == 1 })
	cancelLeader()
	waitFor(t, "the leader to leave", func() bool { return s.waiting("a") == 0 })
	select {
	case err := <-stopped:
		t.Fatalf("the batch stopped (%v) while a caller waited for one of its values", err)
	default:
	}
	cancelOther()
	wg.Wait()
	select {
	case err := <-stopped:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("computation ended with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the batch went on with nobody waiting")
	}
	if v, err := s.get(context.Background(), "b", func(context.Context) (int, error) { return 5, nil }); v != 5 || err != nil {
		t.Errorf("afterwards: %d, %v; want a new computation", v, err)
	}
	if _, err := s.getMany(context.Background(), []string{"p", "q"}, 1, func(context.Context, []int) ([]int, error) { panic("oops") }); err == nil || !strings.Contains(err.Error(), "oops") {
		t.Errorf("got %v, want the panic as an error", err)
	}
	if _, err := s.getMany(context.Background(), []string{"p", "q"}, 1, func(context.Context, []int) ([]int, error) { return []int{1}, nil }); err == nil {
		t.Error("too few values: no error")
	}
	if v, err := s.get(context.Background(), "p", func(context.Context) (int, error) { return 6, nil }); v != 6 || err != nil {
		t.Errorf("after errors: %d, %v; want a new computation", v, err)
	}
}
