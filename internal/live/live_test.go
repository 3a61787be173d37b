package live

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// people returns n visitors observed once at p at local time at.
func people(prefix string, n int, p orb.Point, at time.Time) []presence.Record {
	var out []presence.Record
	for i := range n {
		out = append(out, presence.Record{ObservedAt: at, Lon: p[0], Lat: p[1], Weight: 1, Visitor: presence.VisitorHash(fmt.Sprintf("%s%d", prefix, i))})
	}
	return out
}

func load(t testing.TB, s *memstore.Store, recs []presence.Record) {
	t.Helper()
	if err := s.Add(recs, tiles.NewZoneIndex(sourcetest.Zones())); err != nil {
		t.Fatal(err)
	}
}

var (
	// now is a Monday morning; the window is 10:15-10:30.
	now    = time.Date(2025, 3, 17, 10, 30, 0, 0, sourcetest.Rome)
	centro = sourcetest.Centre
	piazza = orb.Point{sourcetest.Centre[0] + 0.002, sourcetest.Centre[1]} // in both zones
)

func testHub(t testing.TB, s *memstore.Store) *Hub {
	return NewHub(Config{Source: s, Zones: sourcetest.Zones(), Privacy: tiles.UnperturbedForTests(15), Loc: sourcetest.Rome,
		Now: func() time.Time { return now }, Interval: time.Hour, Buffer: 4})
}

func TestSnapshot(t *testing.T) {
	s := memstore.New(refdata.Italy())
	var recs []presence.Record
	// now: 20 in centro (3 of them also in piazza); before: 16.
	recs = append(recs, people("a", 17, centro, now.Add(-10*time.Minute))...)
	recs = append(recs, people("p", 3, piazza, now.Add(-5*time.Minute))...)
	recs = append(recs, people("b", 16, centro, now.Add(-20*time.Minute))...)
	// Past Mondays at 10:20: 18, 30 and 12 people in centro; two weeks
	// ago a Monday without data (skipped); the Tuesday after has data
	// but is not the same weekday.
	for w, n := range map[int]int{1: 18, 3: 30, 4: 12} {
		recs = append(recs, people(fmt.Sprintf("w%d-", w), n, centro, now.AddDate(0, 0, -7*w).Add(-10*time.Minute))...)
	}
	recs = append(recs, people("tue", 50, centro, now.AddDate(0, 0, -13))...)
	load(t, s, recs)

	h := testHub(t, s)
	snap, err := h.figs.snapshot(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	snap.DataVersion = 7
	got, _ := json.Marshal(snap)
	// centro: 17+3 = 20 now, 16 before: +25%, up; typical: the lower
	// median of 18 30 over 2 weeks (the day of 12 people in all is no week
	// of history: how many weeks count must not tell about fewer than k). piazza: 3 people: withheld, as is
	// its typical (0 in past weeks). The town is centro plus nobody else.
	want := `{"time":"2025-03-17T10:30:00+01:00","window_start":"2025-03-17T10:15:00+01:00","window_end":"2025-03-17T10:30:00+01:00",
		"window_minutes":15,"data_version":7,"k":15,
		"town":{"present":{"value":20},"previous":{"value":16},"typical":{"value":18,"weeks":2},"trend":{"direction":"up","change":0.25}},
		"zones":[
		 {"zone":"centro","name":"centro","present":{"value":20},"previous":{"value":16},"typical":{"value":18,"weeks":2},"trend":{"direction":"up","change":0.25}},
		 {"zone":"piazza","name":"piazza","present":{"suppressed":true},"previous":{"suppressed":true},"typical":{"suppressed":true,"weeks":2},"trend":{"suppressed":true}}]}`
	if compact(want) != compact(string(got)) {
		t.Errorf("snapshot:\n got %s\nwant %s", got, compact(want))
	}
}

func compact(s string) string {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		panic(err)
	}
	b, _ := json.Marshal(v)
	// json.Marshal of a map sorts keys; re-marshal the snapshot the same way
	return string(b)
}

func TestSnapshotFlatAndNoHistory(t *testing.T) {
	s := memstore.New(refdata.Italy())
	load(t, s, append(people("a", 20, centro, now.Add(-time.Minute)), people("b", 19, centro, now.Add(-16*time.Minute))...))
	snap, err := testHub(t, s).figs.snapshot(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	c := snap.Zones[0]
	if c.Trend.Direction != "flat" || *c.Trend.Change != 0.0526 || c.Typical.Weeks != 0 || c.Typical.Value != nil || c.Typical.Suppressed {
		t.Errorf("centro: %+v", c)
	}
}

func TestTypicalLowerMedianBelowK(t *testing.T) {
	// Past weeks 10, 14, 40, 50: the lower median 14 is below k: withheld,
	// never rounded or averaged with 40.
	s := memstore.New(refdata.Italy())
	var recs []presence.Record
	for w, n := range map[int]int{1: 10, 2: 14, 3: 40, 4: 50} {
		recs = append(recs, people(fmt.Sprintf("w%d-", w), n, centro, now.AddDate(0, 0, -7*w).Add(-time.Minute))...)
		// and 20 more people that morning: every day is a week of history
		recs = append(recs, people(fmt.Sprintf("w%d-morning-", w), 20, centro, now.AddDate(0, 0, -7*w).Add(-3*time.Hour))...)
	}
	load(t, s, recs)
	snap, err := testHub(t, s).figs.snapshot(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	if ty := snap.Zones[0].Typical; !ty.Suppressed || ty.Value != nil || ty.Weeks != 4 {
		t.Errorf("typical: %+v", ty)
	}
}

// events reads whatever c has queued, without waiting.
func events(t testing.TB, c *Client) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	buf, _ := c.Next(ctx, nil)
	var out []string
	for _, b := range buf {
		out = append(out, string(b))
	}
	return out
}

func TestSlowClientNeverBlocks(t *testing.T) {
	h := testHub(t, memstore.New(refdata.Italy()))
	stalled, err := h.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	reader, _ := h.Subscribe()
	var got []string
	var wg sync.WaitGroup
	wg.Add(1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer wg.Done()
		var buf [][]byte
		for {
			var err error
			if buf, err = reader.Next(ctx, buf[:0]); err != nil {
				return
			}
			for _, b := range buf {
				got = append(got, string(b))
			}
		}
	}()
	start := time.Now()
	for i := range 10000 {
		h.broadcast("live", fmt.Appendf(nil, `{"n":%d}`, i), true)
		if i%100 == 0 {
			time.Sleep(time.Millisecond) // let the reader keep up
		}
	}
	// a broadcast that waited for the stalled client would never end
	t.Logf("10,000 broadcasts took %v with a stalled client", time.Since(start))
	time.Sleep(50 * time.Millisecond)
	cancel()
	wg.Wait()
	// The stalled client holds at most Buffer events: the newest.
	stalled.mu.Lock()
	n, last := len(stalled.queue), string(stalled.queue[len(stalled.queue)-1])
	stalled.mu.Unlock()
	if n != 4 || !strings.Contains(last, `{"n":9999}`) {
		t.Errorf("stalled client queue: %d events, last %q", n, last)
	}
	if h.Stats().Dropped.Load() < 9990 {
		t.Errorf("dropped %d", h.Stats().Dropped.Load())
	}
	if len(got) == 0 || !strings.Contains(got[len(got)-1], `{"n":9999}`) {
		t.Errorf("the reading client missed the last event (%d events)", len(got))
	}
	h.Unsubscribe(stalled)
	if _, err := stalled.Next(context.Background(), nil); err != ErrClosed {
		t.Errorf("after Unsubscribe: %v", err)
	}
}

func TestTooManyClients(t *testing.T) {
	h := NewHub(Config{Source: memstore.New(refdata.Italy()), MaxClients: 2})
	for range 2 {
		if _, err := h.Subscribe(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.Subscribe(); err != ErrTooManyClients {
		t.Errorf("third client: %v", err)
	}
}

func TestVersionChangeReachesClients(t *testing.T) {
	s := memstore.New(refdata.Italy())
	h := NewHub(Config{Source: s, Zones: sourcetest.Zones(), Loc: sourcetest.Rome, Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.Run(ctx) }()
	c, err := h.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	first := events(t, c)
	if len(first) == 0 || !strings.HasPrefix(first[0], "retry: 3000") {
		t.Errorf("first events: %q", first)
	}
	for !slices.ContainsFunc(first, func(s string) bool { return strings.Contains(s, "event: live") }) {
		first = events(t, c) // the hub has started: it saw version 0
	}
	// Another writer (as pgstore's mirror would be) adds a batch: no Poke.
	start := time.Now()
	load(t, s, people("x", 3, centro, time.Now()))
	var tilesEv, liveEv string
	for time.Since(start) < 30*time.Second && (tilesEv == "" || liveEv == "") {
		wctx, wcancel := context.WithTimeout(ctx, time.Second)
		buf, _ := c.Next(wctx, nil)
		wcancel()
		for _, b := range buf {
			switch s := string(b); {
			case strings.Contains(s, "event: tiles"):
				tilesEv = s
			case strings.Contains(s, "event: live") && strings.Contains(s, `"data_version":1`):
				liveEv = s
			}
		}
	}
	if !strings.Contains(tilesEv, `data: {"data_version":1,`) {
		t.Errorf("no tiles event: %q (version %d, %d events)", tilesEv, s.Version(), h.Stats().Events.Load())
	}
	if liveEv == "" {
		t.Errorf("no live event after the data changed")
	}
	t.Logf("events %v after the batch", time.Since(start))
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Run: %v", err)
	}
	if _, err := c.Next(context.Background(), nil); err != ErrClosed {
		t.Errorf("client after the hub stopped: %v", err)
	}
}

// A tiles event says which local days the new data is on, so that pages
// showing another period keep their tiles: whole days, never the records'
// times (which would tell when someone was seen); a version whose span
// nobody knows has none.
func TestTilesEventSaysWhichDaysChanged(t *testing.T) {
	s := memstore.New(refdata.Italy())
	h := NewHub(Config{Source: s, Zones: sourcetest.Zones(), Privacy: tiles.UnperturbedForTests(15), Loc: sourcetest.Rome, Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Run(ctx) // (error ignored) ends with ctx
	c, err := h.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	next := func(want string) string {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			wctx, wcancel := context.WithTimeout(ctx, time.Second)
			buf, _ := c.Next(wctx, nil)
			wcancel()
			for _, b := range buf {
				if s := string(b); strings.Contains(s, "event: tiles") && strings.Contains(s, want) {
					return s
				}
			}
		}
		t.Fatalf("no tiles event with %s (version %d)", want, s.Version())
		return ""
	}
	for first := events(t, c); !slices.ContainsFunc(first, func(s string) bool { return strings.Contains(s, "event: live") }); {
		first = events(t, c) // the hub has started: it saw version 0
	}
	day := time.Date(2025, 6, 2, 10, 7, 13, 0, sourcetest.Rome)
	load(t, s, append(people("a", 5, centro, day), people("b", 5, centro, day.Add(30*time.Minute))...))
	ev := next(`"data_version":1`)
	if !strings.Contains(ev, `"changed":{"from":"2025-06-02T00:00:00+02:00","to":"2025-06-03T00:00:00+02:00"}`) {
		t.Errorf("tiles event %q", ev)
	}
	s.NewBuilder().Commit() // a new version that added nothing known
	if ev := next(`"data_version":2`); strings.Contains(ev, "changed") {
		t.Errorf("an unknown change has a span: %q", ev)
	}
}
