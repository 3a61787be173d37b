package admit

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// patience bounds every wait of these tests: events, not durations.
const patience = 30 * time.Second

// waitQueued waits until n requests are queued.
func waitQueued(t *testing.T, p *Pool, n int) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for p.Queued() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d queued, want %d", p.Queued(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

type grant struct {
	name    string
	release func()
	err     error
}

// enqueue starts a request of client named name and waits until it is
// queued behind the others.
func enqueue(t *testing.T, p *Pool, ctx context.Context, client, name string, out chan<- grant) {
	t.Helper()
	n := p.Queued()
	go func() {
		r, err := p.Acquire(ctx, client)
		out <- grant{name, r, err}
	}()
	waitQueued(t, p, n+1)
}

func next(t *testing.T, ch <-chan grant) grant {
	t.Helper()
	select {
	case g := <-ch:
		return g
	case <-time.After(patience):
		t.Fatal("no request was answered")
	}
	return grant{}
}

// One client flooding the pool waits behind its own requests: the others'
// are served in turn with it, in a fixed order.
func TestRoundRobinAcrossClients(t *testing.T) {
	p := New(Config{Slots: 1, QueueWait: time.Hour})
	hold, err := p.Acquire(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan grant, 16)
	ctx := context.Background()
	for _, r := range [][2]string{{"a", "a1"}, {"a", "a2"}, {"a", "a3"}, {"a", "a4"}, {"b", "b1"}, {"c", "c1"}, {"b", "b2"}} {
		enqueue(t, p, ctx, r[0], r[1], out)
	}
	var order []string
	release := hold
	for range 7 {
		release()
		g := next(t, out)
		if g.err != nil {
			t.Fatalf("%s: %v", g.name, g.err)
		}
		order = append(order, g.name)
		release = g.release
	}
	release()
	if got, want := strings.Join(order, " "), "a1 b1 c1 a2 b2 a3 a4"; got != want {
		t.Fatalf("served %s, want %s", got, want)
	}
	if p.InUse() != 0 || p.Queued() != 0 {
		t.Fatalf("after all: %d in use, %d queued", p.InUse(), p.Queued())
	}
}

// A request that waits past QueueWait gets ErrBusy and leaves the queue;
// the slot then goes to the next request.
func TestQueueWaitRunsOut(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := New(Config{Slots: 1, QueueWait: 20 * time.Millisecond})
	reg.MustRegister(p)
	hold, err := p.Acquire(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	// nobody releases the slot: only the maximum wait ends this
	if _, err := p.Acquire(context.Background(), "b"); !errors.Is(err, ErrBusy) {
		t.Fatalf("err %v, want ErrBusy", err)
	}
	if p.Queued() != 0 {
		t.Fatalf("%d still queued", p.Queued())
	}
	hold()
	r, err := p.Acquire(context.Background(), "b")
	if err != nil {
		t.Fatal(err)
	}
	r()
	r() // a second release gives nothing back
	if p.InUse() != 0 {
		t.Fatalf("%d slots in use after release", p.InUse())
	}
	if got := testutil.ToFloat64(p.m.rejected.WithLabelValues("wait")); got != 1 {
		t.Errorf("rejected{reason=wait} = %v", got)
	}
	if got := testutil.ToFloat64(p.m.admitted); got != 2 {
		t.Errorf("admitted = %v", got)
	}
	if n, err := testutil.GatherAndCount(reg, "flowtiles_heavy_queue_length", "flowtiles_heavy_wait_seconds", "flowtiles_heavy_slots_in_use"); err != nil || n != 3 {
		t.Errorf("series %d, %v", n, err)
	}
}

// A request whose client leaves leaves the queue with ctx.Err().
func TestClientLeavesTheQueue(t *testing.T) {
	p := New(Config{Slots: 1, QueueWait: time.Hour})
	hold, _ := p.Acquire(context.Background(), "a")
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan grant, 2)
	enqueue(t, p, ctx, "b", "b1", out)
	enqueue(t, p, context.Background(), "c", "c1", out)
	cancel()
	if g := next(t, out); !errors.Is(g.err, context.Canceled) || g.name != "b1" {
		t.Fatalf("%s: %v", g.name, g.err)
	}
	waitQueued(t, p, 1)
	hold()
	g := next(t, out)
	if g.err != nil || g.name != "c1" {
		t.Fatalf("%s: %v", g.name, g.err)
	}
	g.release()
}

// A full queue makes room for a client with few requests by pushing out the
// newest request of the client with the most; a client with as many as
// anyone is refused at once.
func TestFullQueuePushesOutTheLongest(t *testing.T) {
	p := New(Config{Slots: 1, QueueWait: time.Hour, MaxQueue: 3})
	hold, _ := p.Acquire(context.Background(), "a")
	out := make(chan grant, 8)
	ctx := context.Background()
	for _, n := range []string{"a1", "a2", "a3"} {
		enqueue(t, p, ctx, "a", n, out)
	}
	if _, err := p.Acquire(ctx, "a"); !errors.Is(err, ErrBusy) {
		t.Fatalf("a fourth request of a full queue's only client: %v", err)
	}
	go func() {
		r, err := p.Acquire(ctx, "b")
		out <- grant{"b1", r, err}
	}()
	if g := next(t, out); g.name != "a3" || !errors.Is(g.err, ErrBusy) {
		t.Fatalf("pushed out %s (%v), want a3", g.name, g.err)
	}
	waitQueued(t, p, 3)
	var order []string
	release := hold
	for range 3 {
		release()
		g := next(t, out)
		if g.err != nil {
			t.Fatal(g.err)
		}
		order = append(order, g.name)
		release = g.release
	}
	release()
	if got := strings.Join(order, " "); got != "a1 b1 a2" {
		t.Fatalf("served %s", got)
	}
}

// TryAcquire never waits.
func TestTryAcquire(t *testing.T) {
	p := New(Config{Slots: 1})
	r, ok := p.TryAcquire()
	if !ok {
		t.Fatal("no free slot in an idle pool")
	}
	if _, ok := p.TryAcquire(); ok {
		t.Fatal("a second slot from a pool of one")
	}
	r()
	if r, ok := p.TryAcquire(); !ok {
		t.Fatal("no slot after release")
	} else {
		r()
	}
}
