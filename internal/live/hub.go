// Package live keeps kiosks live: a Hub computes the live figures every few
// seconds and whenever the data version advances, and fans the events out to
// subscribers (Server-Sent Events clients in internal/server) without ever
// waiting for one; Sink and Tokens serve POST /api/ingest. It knows nothing
// of HTTP.
//
// The hub reacts to the data version of its source (tiles.Versioned), not to
// its own process's writes: with PostGIS, every instance's store advances on
// NOTIFY flowtiles_batches, so every instance's clients hear of a batch that
// any instance ingested.
package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowtiles/flowtiles/tiles"
)

// Config sets up a Hub. Zero durations and sizes take the defaults.
type Config struct {
	Source tiles.Source // tiles.Versioned for "tiles" events
	// Zones are the town's zones (Level zone; Code is the name).
	Zones   []tiles.Place
	Privacy tiles.Privacy // the disclosure rules (required)
	Loc     *time.Location
	// Interval between live events (default 5 s).
	Interval time.Duration
	// Poll is how often the data version is checked (default 100 ms).
	Poll time.Duration
	// Window is the step of "present": figures are of the last completed
	// step (default 15 min).
	Window time.Duration
	// Weeks of history for the typical value (default 6).
	Weeks int
	// Buffer is how many events a client may have queued; beyond it the
	// oldest are dropped (default 16, at least 2: a new client's first
	// events are the reconnection delay and the latest live event).
	Buffer int
	// MaxClients bounds the subscribers (default 10,000).
	MaxClients int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	Log *slog.Logger
}

// Retry is the reconnection delay sent to clients.
const Retry = 3 * time.Second

// minSnapshotGap spaces the live events that data changes trigger (or the
// interval, when that is shorter).
const minSnapshotGap = time.Second

// ErrTooManyClients is returned by Subscribe when the hub is full.
var ErrTooManyClients = errors.New("too many live clients")

// ErrClosed is returned by Client.Next once the hub has stopped or dropped
// the client.
var ErrClosed = errors.New("live feed closed")

// Hub computes live events and fans them out. It is safe for concurrent
// use; Run drives it.
type Hub struct {
	cfg  Config
	figs *figures
	ver  tiles.Versioned // nil when the source has no version
	log  tiles.ChangeLog // nil when the source cannot tell what changed
	poke chan struct{}

	mu      sync.Mutex
	clients map[*Client]struct{}
	last    []byte // the latest live event, for new clients
	seq     uint64
	closed  bool

	stats Stats
}

// Stats counts what a hub did, for metrics.
type Stats struct {
	Clients   atomic.Int64
	Events    atomic.Uint64 // events broadcast
	Dropped   atomic.Uint64 // events dropped from slow clients' queues
	Snapshots atomic.Uint64
	Errors    atomic.Uint64 // failed snapshot computations
}

// NewHub returns a hub; call Run to start it.
func NewHub(cfg Config) *Hub {
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 100 * time.Millisecond
	}
	if cfg.Window <= 0 {
		cfg.Window = 15 * time.Minute
	}
	if cfg.Weeks <= 0 {
		cfg.Weeks = 6
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = 16
	}
	cfg.Buffer = max(cfg.Buffer, 2)
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = 10000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Loc == nil {
		cfg.Loc = time.UTC
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	zones := slices.Clone(cfg.Zones)
	slices.SortFunc(zones, func(a, b tiles.Place) int { return int(a.Key - b.Key) })
	h := &Hub{
		cfg:     cfg,
		figs:    &figures{src: cfg.Source, zones: zones, priv: cfg.Privacy, loc: cfg.Loc, window: cfg.Window, weeks: cfg.Weeks},
		poke:    make(chan struct{}, 1),
		clients: map[*Client]struct{}{},
	}
	h.ver, _ = cfg.Source.(tiles.Versioned)
	h.log, _ = cfg.Source.(tiles.ChangeLog)
	return h
}

// Stats returns the hub's counters.
func (h *Hub) Stats() *Stats { return &h.stats }

// Poke tells the hub that data may have changed, so that it looks at the
// data version at once rather than at its next poll.
func (h *Hub) Poke() {
	select {
	case h.poke <- struct{}{}:
	default:
	}
}

// Run computes and broadcasts events until ctx ends, then disconnects
// every client. It returns ctx.Err().
func (h *Hub) Run(ctx context.Context) error {
	defer h.close()
	tick := time.NewTicker(h.cfg.Interval)
	defer tick.Stop()
	poll := time.NewTicker(h.cfg.Poll)
	defer poll.Stop()
	version := h.version()
	gap := min(minSnapshotGap, h.cfg.Interval)
	var lastSnap time.Time
	dirty := true
	for {
		if dirty && time.Since(lastSnap) >= gap {
			h.snapshot(ctx, version)
			lastSnap, dirty = time.Now(), false
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			dirty = true
		case <-poll.C:
		case <-h.poke:
		}
		if v := h.version(); v != version {
			h.broadcast("tiles", h.tilesEvent(version, v), false)
			version, dirty = v, true
		}
	}
}

// tilesEvent is the data of a "tiles" event for a new version v (the last
// announced was from): the version and, when the source can tell, the
// local days the new records are on ("changed"), so that a page showing
// another period keeps its tiles. Whole days (tiles.ChangedDays): the
// records' own times would tell when someone was seen.
func (h *Hub) tilesEvent(from, v uint64) []byte {
	if h.log != nil {
		if first, last, ok := h.log.Changed(from, v); ok {
			f, t := tiles.ChangedDays(first, last, h.cfg.Loc)
			return fmt.Appendf(nil, `{"data_version":%d,"changed":{"from":%q,"to":%q}}`, v, f.Format(time.RFC3339), t.Format(time.RFC3339))
		}
	}
	return fmt.Appendf(nil, `{"data_version":%d}`, v)
}

func (h *Hub) version() uint64 {
	if h.ver == nil {
		return 0
	}
	return h.ver.Version()
}

func (h *Hub) snapshot(ctx context.Context, version uint64) {
	s, err := h.figs.snapshot(ctx, h.cfg.Now())
	if err != nil {
		if ctx.Err() == nil {
			h.stats.Errors.Add(1)
			h.cfg.Log.Warn("live: computing figures", "err", err)
		}
		return
	}
	s.DataVersion = version
	b, err := json.Marshal(s)
	if err != nil {
		h.cfg.Log.Error("live: encoding figures", "err", err)
		return
	}
	h.stats.Snapshots.Add(1)
	h.broadcast("live", b, true)
}

// Publish sends an event to every client. data must be one line (compact
// JSON). The hub uses it for its "live" and "tiles" events; others may
// announce their own (the name says what).
func (h *Hub) Publish(name string, data []byte) { h.broadcast(name, data, false) }

// broadcast queues an event for every client; keep makes it the event new
// clients receive first.
func (h *Hub) broadcast(name string, data []byte, keep bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.seq++
	ev := encode(h.seq, name, data)
	if keep {
		h.last = ev
	}
	for c := range h.clients {
		if c.push(ev) {
			h.stats.Dropped.Add(1)
		}
	}
	h.stats.Events.Add(1)
}

// encode writes one Server-Sent Event. data holds no newline (compact JSON).
func encode(id uint64, name string, data []byte) []byte {
	b := make([]byte, 0, len(data)+40)
	b = append(b, "id: "...)
	b = strconv.AppendUint(b, id, 10)
	b = append(b, "\nevent: "...)
	b = append(b, name...)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	return append(b, "\n\n"...)
}

// Subscribe adds a client. Its first events are the reconnection delay and
// the latest live event. Call Unsubscribe when done.
func (h *Hub) Subscribe() (*Client, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if len(h.clients) >= h.cfg.MaxClients {
		return nil, ErrTooManyClients
	}
	c := &Client{queue: make([][]byte, 0, h.cfg.Buffer), max: h.cfg.Buffer, wake: make(chan struct{}, 1)}
	c.push(fmt.Appendf(nil, "retry: %d\n\n", Retry.Milliseconds()))
	if h.last != nil {
		c.push(h.last)
	}
	h.clients[c] = struct{}{}
	h.stats.Clients.Add(1)
	return c, nil
}

// Unsubscribe removes a client; its Next returns ErrClosed.
func (h *Hub) Unsubscribe(c *Client) {
	h.mu.Lock()
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		h.stats.Clients.Add(-1)
	}
	h.mu.Unlock()
	c.close()
}

func (h *Hub) close() {
	h.mu.Lock()
	h.closed = true
	cs := h.clients
	h.clients = map[*Client]struct{}{}
	h.stats.Clients.Add(-int64(len(cs)))
	h.mu.Unlock()
	for c := range cs {
		c.close()
	}
}

// Client is one subscriber: a bounded queue of encoded events. The hub
// never waits for it: when the queue is full the oldest event is dropped
// (every live event is a full state, and a tiles event only says "refetch",
// so a late client loses nothing it needs).
type Client struct {
	mu     sync.Mutex
	queue  [][]byte // shared, read-only event bytes
	max    int
	closed bool
	wake   chan struct{}
}

// push queues ev and reports whether an old event was dropped for it.
func (c *Client) push(ev []byte) (dropped bool) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	if len(c.queue) == c.max {
		copy(c.queue, c.queue[1:])
		c.queue = c.queue[:len(c.queue)-1]
		dropped = true
	}
	c.queue = append(c.queue, ev)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return dropped
}

// Next waits for events and appends them to buf (which it returns); the
// event bytes are shared and must not be modified. It returns ErrClosed
// when the client was dropped or the hub stopped, ctx.Err() when ctx ends.
func (c *Client) Next(ctx context.Context, buf [][]byte) ([][]byte, error) {
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			buf = append(buf, c.queue...)
			clear(c.queue)
			c.queue = c.queue[:0]
			c.mu.Unlock()
			return buf, nil
		}
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return buf, ErrClosed
		}
		select {
		case <-ctx.Done():
			return buf, ctx.Err()
		case <-c.wake:
		}
	}
}

func (c *Client) close() {
	c.mu.Lock()
	c.closed = true
	c.queue = nil
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}
