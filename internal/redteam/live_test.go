package redteam

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/internal/demo"
	"github.com/flowtiles/flowtiles/internal/live"
	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/server"
	"github.com/flowtiles/flowtiles/tiles"
)

// liveFeed is /api/live over a memory store, with the hub's clock in the
// test's hands.
type liveFeed struct {
	store  *memstore.Store
	clock  atomic.Int64 // Unix nanoseconds
	events chan snapshot
}

type snapshot struct {
	Time      time.Time `json:"time"`
	WindowEnd time.Time `json:"window_end"`
	Town      liveFig   `json:"town"`
	Zones     []liveFig `json:"zones"`
}

type liveFig struct {
	Zone     string `json:"zone"`
	Present  figJSON
	Previous figJSON
}

type figJSON struct {
	Value *float64 `json:"value"`
}

func (f *liveFig) UnmarshalJSON(b []byte) error {
	var v struct {
		Zone     string  `json:"zone"`
		Present  figJSON `json:"present"`
		Previous figJSON `json:"previous"`
	}
	err := json.Unmarshal(b, &v)
	f.Zone, f.Present, f.Previous = v.Zone, v.Present, v.Previous
	return err
}

func newLiveFeed(t *testing.T) *liveFeed {
	t.Helper()
	priv, err := tiles.NewPrivacy(tiles.DefaultK, []byte("red team live feed secret, 32 B!"), tiles.DefaultNoiseD, tiles.DefaultNoiseGrowth)
	if err != nil {
		t.Fatal(err)
	}
	f := &liveFeed{store: memstore.New(refdata.Italy()), events: make(chan snapshot, 256)}
	hub := live.NewHub(live.Config{Source: f.store, Zones: demo.Zones(), Privacy: priv, Loc: rome,
		Interval: 20 * time.Millisecond, Now: func() time.Time { return time.Unix(0, f.clock.Load()) }})
	ctx, cancel := context.WithCancel(context.Background())
	go hub.Run(ctx) // (error ignored) ends with ctx
	e := echo.New()
	(&server.LiveAPI{Hub: hub}).Register(e)
	srv := httptest.NewServer(e)
	t.Cleanup(func() {
		cancel()
		srv.CloseClientConnections()
		srv.Close()
	})
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/live", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(nil, 1<<20)
		live := false
		for sc.Scan() {
			line := sc.Text()
			if ev, ok := strings.CutPrefix(line, "event: "); ok {
				live = ev == "live"
			}
			if data, ok := strings.CutPrefix(line, "data: "); ok && live {
				var s snapshot
				if json.Unmarshal([]byte(data), &s) == nil {
					select {
					case f.events <- s:
					default: // the test reads only the latest ones
					}
				}
			}
		}
	}()
	return f
}

// at sets the hub's clock (and the data added so far) and returns the first
// live event computed at it, waiting as long as it takes a busy machine.
func (f *liveFeed) at(t *testing.T, now time.Time, end time.Time) snapshot {
	t.Helper()
	f.clock.Store(now.UnixNano())
	deadline := time.After(30 * time.Second)
	for {
		select {
		case s := <-f.events:
			if s.Time.Equal(now.Truncate(time.Second)) {
				if !s.WindowEnd.Equal(end) {
					t.Fatalf("at %v: the step ends %v, want %v", now, s.WindowEnd, end)
				}
				return s
			}
		case <-deadline:
			t.Fatalf("no live event for the step ending %v", end)
		}
	}
}

func (f *liveFeed) add(t *testing.T, recs []presence.Record) {
	t.Helper()
	if err := f.store.Add(recs, tiles.NewZoneIndex(demo.Zones())); err != nil {
		t.Fatal(err)
	}
}

// The live feed: a crowd present in two consecutive quarter hours, and a
// small group joining it in the second. The feed publishes, for the last
// completed step, "present" and "previous": present − previous would be the
// group. And within a step, arrivals never move the figures.
func TestLiveFeed(t *testing.T) {
	f := newLiveFeed(t)
	_, p := theZone("corso")
	base := time.Date(2025, 6, 2, 8, 0, 0, 0, rome)
	const n = 40
	type inst struct {
		end       time.Time
		cur, prev []presence.Record
		size      int
	}
	var all []inst
	var recs []presence.Record
	person := func(id string, at time.Time) presence.Record {
		return presence.Record{ObservedAt: at, Lon: p[0], Lat: p[1], Weight: 1, Visitor: presence.VisitorHash(id)}
	}
	for i := range n {
		end := base.Add(time.Duration(i) * 2 * time.Hour) // steps far apart
		in := inst{end: end, size: 1 + i%14}
		crowd := crowdSize(i)
		for j := range crowd {
			id := fmt.Sprintf("live-%d-crowd-%d", i, j)
			in.prev = append(in.prev, person(id, end.Add(-25*time.Minute+time.Duration(j)*time.Second)))
			in.cur = append(in.cur, person(id, end.Add(-10*time.Minute+time.Duration(j)*time.Second)))
		}
		for j := range in.size {
			in.cur = append(in.cur, person(fmt.Sprintf("live-%d-group-%d", i, j), end.Add(-5*time.Minute+time.Duration(j)*time.Second)))
		}
		recs = append(append(recs, in.prev...), in.cur...)
		all = append(all, in)
	}
	f.add(t, recs)
	zoneIdx, _ := theZone("corso")
	people := func(rs []presence.Record) int64 {
		seen := map[int64]bool{}
		for _, r := range rs {
			if tiles.ZoneMask(demo.Zones(), orb.Point{r.Lon, r.Lat})&(1<<zoneIdx) != 0 {
				seen[r.Visitor] = true
			}
		}
		return int64(len(seen))
	}
	table, _ := tiles.NewPrivacy(tiles.DefaultK, []byte("bounds only, never used to publish"), tiles.DefaultNoiseD, tiles.DefaultNoiseGrowth)
	w := &world{table: table}
	var tl tally
	for _, in := range all {
		s := f.at(t, in.end.Add(30*time.Second), in.end)
		z := zoneFig(s, "corso")
		if z.Present.Value == nil || z.Previous.Value == nil {
			tl.add(w, attempt{blocked: true})
			continue
		}
		tc, tp := people(in.cur), people(in.prev)
		tl.add(w, attempt{estimate: *z.Present.Value - *z.Previous.Value, target: float64(tc - tp), truths: []int64{tc, tp}})
	}
	t.Logf("live feed, present − previous: %v", &tl)
	check(t, &tl)

	// Within a step nothing moves: single arrivals and departures (as the
	// kiosk once showed, corso 19 → 18 → 19 within 15 s) never show.
	in := all[0]
	first := zoneFig(f.at(t, in.end.Add(time.Minute), in.end), "corso")
	for i := range 5 {
		now := in.end.Add(time.Duration(2+i) * time.Minute)
		f.add(t, []presence.Record{person(fmt.Sprintf("arrival-%d", i), now.Add(-30*time.Second))})
		got := zoneFig(f.at(t, now, in.end), "corso")
		if *got.Present.Value != *first.Present.Value || *got.Previous.Value != *first.Previous.Value {
			t.Fatalf("%v: an arrival in the current step moved the figures: %v/%v → %v/%v", now,
				*first.Present.Value, *first.Previous.Value, *got.Present.Value, *got.Previous.Value)
		}
	}
}

func zoneFig(s snapshot, code string) liveFig {
	for _, z := range s.Zones {
		if z.Zone == code {
			return z
		}
	}
	return liveFig{}
}

// theZone is world.zone without a world.
func theZone(code string) (int, orb.Point) {
	return (&world{zones: demo.Zones()}).zone(code)
}
