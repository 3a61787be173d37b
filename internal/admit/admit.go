// Package admit bounds heavy work (uncached renders, database queries,
// stats): a pool of slots with a bounded queue in front, served round-robin
// across clients, so that one client sending many requests waits behind
// its own requests and not in front of everyone else's. A request that
// waits longer than the pool's maximum wait gets ErrBusy. Light work
// (cached tiles, health checks, metrics) never goes through a pool.
//
// The package knows no HTTP: a client is whatever string the caller keys
// it by (the server uses the client address).
package admit

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrBusy is the error of a request that found no slot within the pool's
// maximum wait, or no room in its queue. The server answers it with 503
// and Retry-After.
var ErrBusy = errors.New("too busy: no slot for heavy work within the maximum wait")

// Defaults of Config.
const (
	DefaultQueueWait = 5 * time.Second
	// DefaultMaxQueuePerSlot times the slots is the default queue bound.
	DefaultMaxQueuePerSlot = 64
)

// DefaultSlots is the default number of slots: one fewer than GOMAXPROCS
// (at least one). Renders and stats use several goroutines each, so the
// slots alone keep every processor busy: `flowtiles serve` also bounds
// the goroutines that scan at once (memstore.SetScanProcessors) and runs a
// processor more than that, kept for light work.
func DefaultSlots() int { return max(1, runtime.GOMAXPROCS(0)-1) }

// Config sets up a Pool.
type Config struct {
	// Slots is how many heavy requests run at once (DefaultSlots when 0).
	Slots int
	// QueueWait is the longest a request waits for a slot
	// (DefaultQueueWait when 0).
	QueueWait time.Duration
	// MaxQueue bounds the requests waiting (DefaultMaxQueuePerSlot ×
	// Slots when 0). When it is full, a request of a client with fewer
	// waiting requests than the client with the most takes the place of
	// that client's newest request, which gets ErrBusy; otherwise the new
	// request gets ErrBusy at once.
	MaxQueue int
}

// Pool is a bounded pool of slots for heavy work with a fair queue. Its
// methods are safe for concurrent use. A Pool is also a
// prometheus.Collector of its metrics.
type Pool struct {
	slots, maxQueue int
	wait            time.Duration

	mu     sync.Mutex
	free   int            // free slots
	queued int            // waiters in all queues
	ring   []*clientQueue // clients with waiters, in the order they are served
	queues map[string]*clientQueue

	m poolMetrics
}

// clientQueue holds the waiters of one client, oldest first.
type clientQueue struct {
	client  string
	waiters []*waiter
}

// waiter is one request in a queue. result receives nil when it is given a
// slot, ErrBusy when it is pushed out of a full queue; done is set (under
// the pool's lock) when either was sent.
type waiter struct {
	result chan error
	done   bool
}

// New returns a pool.
func New(cfg Config) *Pool {
	if cfg.Slots <= 0 {
		cfg.Slots = DefaultSlots()
	}
	if cfg.QueueWait <= 0 {
		cfg.QueueWait = DefaultQueueWait
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = DefaultMaxQueuePerSlot * cfg.Slots
	}
	p := &Pool{slots: cfg.Slots, maxQueue: cfg.MaxQueue, wait: cfg.QueueWait, free: cfg.Slots, queues: map[string]*clientQueue{}}
	p.m = newPoolMetrics(p)
	return p
}

// Slots is the number of slots.
func (p *Pool) Slots() int { return p.slots }

// QueueWait is the longest a request waits for a slot.
func (p *Pool) QueueWait() time.Duration { return p.wait }

// Queued is the number of requests waiting for a slot.
func (p *Pool) Queued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.queued
}

// InUse is the number of slots taken.
func (p *Pool) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.slots - p.free
}

// Acquire takes a slot for client, waiting in client's queue behind the
// client's earlier requests, served in turn with other clients', for at
// most the pool's QueueWait. It returns the function that gives the slot
// back (call it once the work is done; later calls do nothing), or ErrBusy
// (the wait ran out, or the queue was full), or ctx.Err().
func (p *Pool) Acquire(ctx context.Context, client string) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	start := time.Now()
	p.mu.Lock()
	if p.free > 0 && p.queued == 0 {
		p.free--
		p.mu.Unlock()
		p.m.admitted.Inc()
		p.m.wait.Observe(0)
		return p.releaser(), nil
	}
	if p.queued >= p.maxQueue && !p.pushOut(client) {
		p.mu.Unlock()
		p.m.rejected.WithLabelValues("queue_full").Inc()
		return nil, ErrBusy
	}
	w := &waiter{result: make(chan error, 1)}
	q := p.queues[client]
	if q == nil {
		q = &clientQueue{client: client}
		p.queues[client] = q
		p.ring = append(p.ring, q)
	}
	q.waiters = append(q.waiters, w)
	p.queued++
	p.mu.Unlock()

	timer := time.NewTimer(p.wait)
	defer timer.Stop()
	reason := "queue_full" // of an ErrBusy received: pushed out
	answered := false
	select {
	case err = <-w.result:
		answered = true
	case <-ctx.Done():
		err, reason = ctx.Err(), "client_gone"
	case <-timer.C:
		err, reason = ErrBusy, "wait"
	}
	if !answered {
		p.mu.Lock()
		done := w.done
		if !done {
			p.remove(client, w) // still queued: leave the queue
		}
		p.mu.Unlock()
		if done {
			// the slot (or the push out of a full queue) came as the wait ran out
			switch got := <-w.result; {
			case got != nil:
				err, reason = got, "queue_full"
			case ctx.Err() == nil:
				err = nil // take it
			default:
				p.releaser()() // the client left: pass the slot on
			}
		}
	}
	p.m.wait.Observe(time.Since(start).Seconds())
	if err != nil {
		p.m.rejected.WithLabelValues(reason).Inc()
		return nil, err
	}
	p.m.admitted.Inc()
	return p.releaser(), nil
}

// TryAcquire takes a slot if one is free and nobody waits, without
// waiting: for work that has a cheaper answer to fall back on.
func (p *Pool) TryAcquire() (release func(), ok bool) {
	p.mu.Lock()
	if p.free == 0 || p.queued > 0 {
		p.mu.Unlock()
		return nil, false
	}
	p.free--
	p.mu.Unlock()
	p.m.admitted.Inc()
	p.m.wait.Observe(0)
	return p.releaser(), true
}

// releaser returns the function that gives a slot back, once.
func (p *Pool) releaser() func() {
	var once sync.Once
	return func() { once.Do(p.release) }
}

// release hands the slot to the first waiter of the next client in turn,
// which then goes to the back of the ring, or frees it.
func (p *Pool) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.queued == 0 {
		p.free++
		return
	}
	q := p.ring[0]
	w := q.waiters[0]
	q.waiters[0] = nil
	q.waiters = q.waiters[1:]
	p.ring = append(p.ring[1:], q)
	p.dropEmpty(q)
	p.queued--
	w.done = true
	w.result <- nil
}

// pushOut makes room in a full queue for a request of client: the newest
// waiter of the client with the most waiters goes, when that client has
// at least two more than client. Called with mu held.
func (p *Pool) pushOut(client string) bool {
	var long *clientQueue
	for _, q := range p.ring {
		if long == nil || len(q.waiters) > len(long.waiters) {
			long = q
		}
	}
	own := 0
	if q := p.queues[client]; q != nil {
		own = len(q.waiters)
	}
	if long == nil || long.client == client || len(long.waiters) < own+2 {
		return false
	}
	w := long.waiters[len(long.waiters)-1]
	long.waiters[len(long.waiters)-1] = nil
	long.waiters = long.waiters[:len(long.waiters)-1]
	p.dropEmpty(long)
	p.queued--
	w.done = true
	w.result <- ErrBusy
	return true
}

// remove takes w out of client's queue. Called with mu held.
func (p *Pool) remove(client string, w *waiter) {
	q := p.queues[client]
	for i, x := range q.waiters {
		if x == w {
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			p.queued--
			break
		}
	}
	p.dropEmpty(q)
}

// dropEmpty forgets a client without waiters. Called with mu held.
func (p *Pool) dropEmpty(q *clientQueue) {
	if len(q.waiters) > 0 {
		return
	}
	delete(p.queues, q.client)
	for i, x := range p.ring {
		if x == q {
			p.ring = append(p.ring[:i], p.ring[i+1:]...)
			break
		}
	}
}

// poolMetrics are the pool's Prometheus series.
type poolMetrics struct {
	queue    prometheus.GaugeFunc
	inUse    prometheus.GaugeFunc
	slots    prometheus.GaugeFunc
	admitted prometheus.Counter
	rejected *prometheus.CounterVec
	wait     prometheus.Histogram
}

func newPoolMetrics(p *Pool) poolMetrics {
	return poolMetrics{
		queue: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "flowtiles_heavy_queue_length", Help: "Heavy requests (uncached renders, stats, database queries) waiting for a slot."},
			func() float64 { return float64(p.Queued()) }),
		inUse: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "flowtiles_heavy_slots_in_use", Help: "Slots for heavy requests taken."},
			func() float64 { return float64(p.InUse()) }),
		slots: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "flowtiles_heavy_slots", Help: "Slots for heavy requests (--heavy-slots)."},
			func() float64 { return float64(p.slots) }),
		admitted: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowtiles_heavy_admitted_total", Help: "Heavy requests given a slot."}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowtiles_heavy_rejected_total",
			Help: "Heavy requests given no slot, by reason: wait (queued past --queue-wait), queue_full, client_gone."}, []string{"reason"}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "flowtiles_heavy_wait_seconds", Help: "Time heavy requests waited for a slot (admitted or not).",
			Buckets: []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}}),
	}
}

func (m *poolMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.queue, m.inUse, m.slots, m.admitted, m.rejected, m.wait}
}

// Describe implements prometheus.Collector.
func (p *Pool) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range p.m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (p *Pool) Collect(ch chan<- prometheus.Metric) {
	for _, c := range p.m.collectors() {
		c.Collect(ch)
	}
}
