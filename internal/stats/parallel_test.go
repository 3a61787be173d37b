package stats

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
)

// The jobs of a report start in their order (the visits, which take
// longest, first), whatever the scheduler does with goroutines.
func TestParallelStartsJobsInOrder(t *testing.T) {
	for _, limit := range []int{1, 3} {
		var (
			mu      sync.Mutex
			started []int
		)
		jobs := make([]func() error, 40)
		for i := range jobs {
			jobs[i] = func() error {
				mu.Lock()
				started = append(started, i)
				mu.Unlock()
				return nil
			}
		}
		if err := parallel(context.Background(), limit, jobs); err != nil {
			t.Fatal(err)
		}
		if len(started) != len(jobs) {
			t.Fatalf("limit %d: %d jobs ran, want %d", limit, len(started), len(jobs))
		}
		if limit == 1 && !slices.IsSorted(started) {
			t.Errorf("limit 1: jobs started in the order %v", started)
		}
	}
}

// At most limit jobs run at once, and every job's error is returned.
func TestParallelLimitAndErrors(t *testing.T) {
	var (
		mu         sync.Mutex
		running, n int
	)
	errA, errB := errors.New("a"), errors.New("b")
	jobs := make([]func() error, 12)
	for i := range jobs {
		jobs[i] = func() error {
			mu.Lock()
			running++
			n = max(n, running)
			mu.Unlock()
			defer func() { mu.Lock(); running--; mu.Unlock() }()
			switch i {
			case 3:
				return errA
			case 7:
				return errB
			}
			return nil
		}
	}
	err := parallel(context.Background(), 2, jobs)
	if !errors.Is(err, errA) || !errors.Is(err, errB) {
		t.Errorf("error %v, want both jobs' errors", err)
	}
	if n > 2 {
		t.Errorf("%d jobs ran at once, limit 2", n)
	}
}

// Once ctx has ended, the jobs not yet started are skipped.
func TestParallelSkipsJobsAfterCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ran int
	jobs := make([]func() error, 10)
	for i := range jobs {
		jobs[i] = func() error {
			ran++ // limit 1: one at a time
			if i == 0 {
				cancel()
			}
			return nil
		}
	}
	err := parallel(ctx, 1, jobs)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if ran != 1 {
		t.Errorf("%d jobs ran, want the first alone (it ended the context)", ran)
	}
}
