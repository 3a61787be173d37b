package server

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flowtiles/flowtiles/internal/ingest"
	"github.com/flowtiles/flowtiles/internal/live"
	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// liveEnv runs a hub over a memory store behind /api/live and /api/ingest.
// The hub's clock stands still at now, seven minutes into a 15-minute step.
type liveEnv struct {
	srv   *httptest.Server
	hub   *live.Hub
	store *memstore.Store
	now   time.Time
}

func newLiveEnv(t testing.TB, writeTimeout time.Duration, tokens string) *liveEnv {
	t.Helper()
	s := memstore.New(refdata.Italy())
	zones := sourcetest.Zones()
	now := time.Now().Truncate(15 * time.Minute).Add(7 * time.Minute)
	hub := live.NewHub(live.Config{Source: s, Zones: zones, Privacy: tiles.UnperturbedForTests(15), Loc: sourcetest.Rome, Interval: time.Hour,
		Now: func() time.Time { return now }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = hub.Run(ctx); close(done) }()
	e := echo.New()
	e.HTTPErrorHandler = statsTestErrors
	(&LiveAPI{Hub: hub, WriteTimeout: writeTimeout}).Register(e)
	(&IngestAPI{Tokens: ParseTokens(tokens), Sink: ingest.NewMemorySink(s, zones, nil), Decode: testDecode, MaxBytes: 1 << 16,
		Version: s.Version, Poke: hub.Poke}).Register(e)
	srv := httptest.NewServer(e)
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
	})
	return &liveEnv{srv: srv, hub: hub, store: s, now: now}
}

// sse is a reading client of /api/live.
type sse struct {
	resp   *http.Response
	events chan string // "event: name\ndata: ..." blocks
}

func (env *liveEnv) subscribe(t testing.TB) *sse {
	t.Helper()
	resp, err := http.Get(env.srv.URL + "/api/live")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("/api/live: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	c := &sse{resp: resp, events: make(chan string, 1024)}
	go func() {
		defer close(c.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		var block []string
		for sc.Scan() {
			if line := sc.Text(); line != "" {
				block = append(block, line)
				continue
			}
			c.events <- strings.Join(block, "\n")
			block = nil
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return c
}

// wait returns the first event containing every part, or fails after d.
func (c *sse) wait(t testing.TB, d time.Duration, parts ...string) string {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				t.Fatalf("stream ended while waiting for %q", parts)
			}
			match := true
			for _, p := range parts {
				match = match && strings.Contains(ev, p)
			}
			if match {
				return ev
			}
		case <-deadline:
			t.Fatalf("no event with %q within %v", parts, d)
		}
	}
}

func TestLiveStream(t *testing.T) {
	env := newLiveEnv(t, time.Second, "")
	c := env.subscribe(t)
	c.wait(t, time.Second, "retry: 3000")
	ev := c.wait(t, 2*time.Second, "event: live")
	for _, want := range []string{`"window_minutes":15`, `"zone":"centro"`, `"zone":"piazza"`, `"k":15`, `"present":{"suppressed":true}`} {
		if !strings.Contains(ev, want) {
			t.Errorf("live event lacks %s: %s", want, ev)
		}
	}
}

func TestLiveStalledClient(t *testing.T) {
	// One client never reads; another reads. 24 MB of events pass: the
	// reader gets them all in time, the stalled client's stream ends at its
	// write deadline, and the hub never holds more than its queue for it.
	env := newLiveEnv(t, 300*time.Millisecond, "")
	reader := env.subscribe(t)
	reader.wait(t, time.Second, "event: live")

	conn, err := net.Dial("tcp", env.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	if _, err := conn.Write([]byte("GET /api/live HTTP/1.1\r\nHost: test\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	for env.hub.Stats().Clients.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	big := []byte(`{"pad":"` + strings.Repeat("x", 1<<20) + `"}`)
	start := time.Now()
	for i := range 24 {
		env.hub.Publish("test", append([]byte(`{"n":`+strconv.Itoa(i)+`,`), big[1:]...))
		reader.wait(t, 30*time.Second, `{"n":`+strconv.Itoa(i)+`,`)
	}
	t.Logf("the reader took %v for 24 MB", time.Since(start))
	deadline := time.Now().Add(5 * time.Second)
	for env.hub.Stats().Clients.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := env.hub.Stats().Clients.Load(); n != 1 {
		t.Errorf("%d clients: the stalled one was not dropped at its write deadline", n)
	}
}
