package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowtiles/flowtiles/internal/ingest"
	"github.com/flowtiles/flowtiles/internal/live"
	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// Connection tests run the server as `flowtiles serve` does (Serve on a
// real listener, with its timeouts and caps) and assert on outcomes only:
// server timeouts are short where a test needs one to pass, client waits
// long, so that a busy machine makes them slower, never wrong.

// clientWait bounds what a test waits for the server; it is far beyond any
// server timeout a test sets.
const clientWait = 30 * time.Second

// servedEnv is a whole Server (tiles, live feed, ingest with the real
// decoder into memory) served by Serve.
type servedEnv struct {
	srv   *Server
	addr  string
	url   string
	store *memstore.Store
	logs  *bytes.Buffer
}

const testToken = "tok"

func newServedEnv(t testing.TB, mod func(*Config)) *servedEnv {
	t.Helper()
	store := memstore.New(refdata.Italy())
	zones := sourcetest.Zones()
	hub := live.NewHub(live.Config{Source: store, Zones: zones, Privacy: tiles.UnperturbedForTests(15), Loc: sourcetest.Rome, Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	hubDone := make(chan struct{})
	go func() { _ = hub.Run(ctx); close(hubDone) }()
	places := tiles.NewGazetteer(zones)
	env := &servedEnv{store: store, logs: &bytes.Buffer{}}
	cfg := Config{
		Engine:   tiles.NewEngine(store, places, tiles.Config{Privacy: tiles.UnperturbedForTests(1), Loc: sourcetest.Rome, Town: sourcetest.Centre}),
		Version:  store.Version,
		Resolver: statsResolver{places},
		Loc:      sourcetest.Rome,
		Log:      slog.New(slog.NewTextHandler(&lockedWriter{w: env.logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:  prometheus.NewRegistry(),
		Routes: []interface{ Register(*echo.Echo) }{
			&LiveAPI{Hub: hub},
			&IngestAPI{Tokens: ParseTokens(testToken), Sink: ingest.NewMemorySink(store, zones, nil), Decode: presence.Decode,
				MaxBytes: 1 << 20, Version: store.Version, Poke: hub.Poke},
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	env.srv = New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env.addr = ln.Addr().String()
	env.url = "http://" + env.addr
	served := make(chan error, 1)
	go func() { served <- env.srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		<-hubDone
	})
	return env
}

// dialFrom opens a connection to addr from the local address src (any
// 127.0.0.0/8 address is this machine): connection caps count clients by
// address, so a test's attacker and its health check come from two.
func dialFrom(t testing.TB, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: clientWait}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// untilClosed returns what the server sends on c until it closes the
// connection; the test fails if it is still open after clientWait.
func untilClosed(t testing.TB, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(clientWait))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("the server did not close the connection within %v (got %q): %v", clientWait, b, err)
	}
	return string(b)
}

func getFrom(t testing.TB, src, url string) (*http.Response, string) {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true, DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}).DialContext}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr, Timeout: clientWait}).Get(url)
	if err != nil {
		t.Fatalf("GET %s from %s: %v", url, src, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// A client that sends its body slower than the body timeout is cut off:
// it gets a 408 and its connection is closed.
func TestSlowBodyIsCutOff(t *testing.T) {
	env := newServedEnv(t, func(c *Config) { c.BodyTimeout = 300 * time.Millisecond })
	c := dialFrom(t, "127.0.0.1", env.addr)
	fmt.Fprintf(c, "POST /api/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/x-ndjson\r\nContent-Length: 1000\r\n\r\n{\"observ", testToken)
	got := untilClosed(t, c)
	if !strings.HasPrefix(got, "HTTP/1.1 408 ") || !strings.Contains(got, `"error":"the body did not arrive in time`) {
		t.Fatalf("slow body: %q", got)
	}
	if n := env.store.Stats().Rows; n != 0 {
		t.Fatalf("%d rows stored", n)
	}
}

// A stranger's post is refused before its body is read, and its
// connection closed: the 401 does not wait for a body that never comes.
// So is any request with a body its route does not take.
func TestRefusedBeforeTheBody(t *testing.T) {
	env := newServedEnv(t, nil) // default timeouts: a minute for a body
	for _, c := range []struct{ name, req, status string }{
		{"no token", "POST /api/ingest HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 200000\r\n\r\n", "401"},
		{"wrong token", "POST /api/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\nContent-Type: text/csv\r\nContent-Length: 200000\r\n\r\n", "401"},
		{"healthz with a body", "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n", "200"},
		{"chunked body", "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n", "200"},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn := dialFrom(t, "127.0.0.1", env.addr)
			io.WriteString(conn, c.req)
			got := untilClosed(t, conn)
			if !strings.HasPrefix(got, "HTTP/1.1 "+c.status+" ") || !strings.Contains(got, "Connection: close") {
				t.Errorf("%s: %q", c.name, got)
			}
			if c.status == "401" && (!strings.Contains(got, "Www-Authenticate: Bearer") || !strings.Contains(got, `"error":"missing or invalid bearer token"`)) {
				t.Errorf("%s: %q", c.name, got)
			}
		})
	}
	// a post whose body was read keeps its connection for the next request
	body := fmt.Sprintf(`{"observed_at":%q,"lon":%v,"lat":%v}`+"\n", time.Now().Format(time.RFC3339), sourcetest.Centre[0], sourcetest.Centre[1])
	conn := dialFrom(t, "127.0.0.1", env.addr)
	fmt.Fprintf(conn, "POST /api/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/x-ndjson\r\nContent-Length: %d\r\n\r\n%s", testToken, len(body), body)
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	got := untilClosed(t, conn)
	if !strings.HasPrefix(got, "HTTP/1.1 201 ") || strings.Count(got, "HTTP/1.1 ") != 2 || !strings.Contains(got, "HTTP/1.1 200 ") {
		t.Errorf("post then healthz on one connection: %q", got)
	}
}

// HEAD /api/live ends: headers, no stream.
func TestHeadLiveCompletes(t *testing.T) {
	env := newServedEnv(t, nil)
	req, _ := http.NewRequest(http.MethodHead, env.url+"/api/live", nil)
	res, err := (&http.Client{Timeout: clientWait}).Do(req)
	if err != nil {
		t.Fatalf("HEAD /api/live: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("HEAD /api/live: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if n := env.srv.cfg.Routes[0].(*LiveAPI).Hub.Stats().Clients.Load(); n != 0 {
		t.Errorf("a HEAD subscribed: %d live clients", n)
	}
}

// One address holds at most MaxConnsPerClient connections: the others are
// answered 503 and closed at once, and other clients are served.
func TestConnectionsPerClientCapped(t *testing.T) {
	env := newServedEnv(t, func(c *Config) {
		c.MaxConnsPerClient = 8
		c.ReadHeaderTimeout = time.Hour // the admitted ones stay open
	})
	type outcome struct {
		data string
		err  error
	}
	results := make(chan outcome, 20)
	conns := make([]net.Conn, 20)
	for i := range conns {
		// idle, half-open: connected, nothing sent
		conns[i] = dialFrom(t, "127.0.0.2", env.addr)
		go func(c net.Conn) {
			c.SetReadDeadline(time.Now().Add(10 * clientWait))
			b, err := io.ReadAll(c)
			results <- outcome{string(b), err}
		}(conns[i])
	}
	for range 12 {
		select {
		case r := <-results:
			if r.err != nil || !strings.HasPrefix(r.data, "HTTP/1.1 503 ") || !strings.Contains(r.data, "Retry-After: ") || !strings.Contains(r.data, "too many connections") {
				t.Fatalf("refused connection: %q %v", r.data, r.err)
			}
		case <-time.After(clientWait):
			t.Fatal("the connections over the cap were not refused")
		}
	}
	if open := testutil.ToFloat64(env.srv.metrics.connsOpen); open != 8 {
		t.Errorf("%v open connections, want 8", open)
	}
	if n := testutil.ToFloat64(env.srv.metrics.connsRefused); n != 12 {
		t.Errorf("%v refused connections, want 12", n)
	}
	// another client is served meanwhile
	if res, body := getFrom(t, "127.0.0.1", env.url+"/healthz"); res.StatusCode != 200 {
		t.Fatalf("healthz from another address: %d %s", res.StatusCode, body)
	}
	// closing them gives their slots back
	for _, c := range conns {
		c.Close()
	}
	waitFor(t, "every slot back", func() bool { return testutil.ToFloat64(env.srv.metrics.connsOpen) == 0 })
	for range 8 {
		if r := <-results; r.err == nil && r.data != "" {
			t.Errorf("an admitted connection got %q", r.data)
		}
	}
	if res, _ := getFrom(t, "127.0.0.2", env.url+"/healthz"); res.StatusCode != 200 {
		t.Fatalf("the address once its connections closed: %d", res.StatusCode)
	}
}

// waitFor polls cond until it holds, failing after clientWait.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(clientWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, clientWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Beyond MaxConns new connections wait (in the kernel's queue) until one
// closes, and are served then.
func TestConnectionsCappedOverall(t *testing.T) {
	env := newServedEnv(t, func(c *Config) {
		c.MaxConns = 4
		c.MaxConnsPerClient = -1
		c.ReadHeaderTimeout = time.Hour
	})
	var held []net.Conn
	for range 4 {
		held = append(held, dialFrom(t, "127.0.0.2", env.addr))
	}
	waitFor(t, "4 connections open", func() bool { return testutil.ToFloat64(env.srv.metrics.connsOpen) == 4 })
	status := make(chan string, 1)
	go func() {
		res, err := (&http.Client{Timeout: clientWait}).Get(env.url + "/healthz")
		if err != nil {
			status <- err.Error()
			return
		}
		res.Body.Close()
		status <- res.Status
	}()
	// the check waits: no slot for it (a slow machine only makes this
	// pass more surely)
	select {
	case s := <-status:
		t.Fatalf("healthz answered (%s) while the cap was reached", s)
	case <-time.After(100 * time.Millisecond):
	}
	if open := testutil.ToFloat64(env.srv.metrics.connsOpen); open > 4 {
		t.Fatalf("%v connections open, cap 4", open)
	}
	held[0].Close()
	if s := <-status; s != "200 OK" {
		t.Fatalf("healthz once a slot freed: %s", s)
	}
}

// The file descriptor test runs the server in a child process (this test
// binary) whose descriptor limit is 128, and attacks it from 127.0.0.2.
const envFDChild = "FLOWTILES_SERVER_TEST_FD_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(envFDChild) != "" {
		os.Exit(fdChild())
	}
	os.Exit(m.Run())
}

// fdChild serves /healthz with the default configuration under a limit of
// 128 open files, prints its address and serves until stdin closes.
func fdChild() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	rl.Cur = 128
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	srv := New(Config{Log: slog.New(slog.DiscardHandler), Metrics: prometheus.NewRegistry()})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	fmt.Println(ln.Addr().String())
	if err := srv.Serve(ctx, ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// 240 connections that hold a request open (a body announced and never
// sent, or nothing at all) do not exhaust a server limited to 128 files:
// /healthz answers for everybody else.
func TestFileDescriptorsDoNotRunOut(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envFDChild+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(clientWait):
			cmd.Process.Kill()
			<-done
		}
	})
	addrc := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		addrc <- strings.TrimSpace(line)
	}()
	var addr string
	select {
	case addr = <-addrc:
	case <-time.After(clientWait):
		t.Fatal("the child server did not start")
	}
	if addr == "" {
		t.Fatal("the child server did not start")
	}
	// first requests whose announced body never comes (net/http waits for
	// such a body before answering), then idle connections
	for i := range 240 {
		c := dialFrom(t, "127.0.0.2", addr)
		if i < 140 {
			io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n")
		}
	}
	res, body := getFrom(t, "127.0.0.1", "http://"+addr+"/healthz")
	if res.StatusCode != 200 {
		t.Fatalf("healthz: %d %s", res.StatusCode, body)
	}
}

// The live stream outlives the server's read, write and idle timeouts: it
// sets its own deadline for every event.
func TestLiveOutlivesServerTimeouts(t *testing.T) {
	const short = 100 * time.Millisecond
	env := newServedEnv(t, func(c *Config) {
		// headers get a second (they are sent at once); the whole request
		// 1.1 s, a response 0.1 s
		c.ReadHeaderTimeout, c.BodyTimeout, c.WriteTimeout, c.IdleTimeout = time.Second, short, short, short
	})
	res, err := (&http.Client{}).Get(env.url + "/api/live")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	events := make(chan string, 64)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				events <- name
			}
		}
	}()
	next := func(want string) {
		t.Helper()
		timeout := time.After(clientWait)
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatalf("the stream ended while waiting for %q", want)
				}
				if ev == want {
					return
				}
			case <-timeout:
				t.Fatalf("no %q event", want)
			}
		}
	}
	next("live")
	// more than every server timeout, without a byte either way
	time.Sleep(3 * time.Second)
	body := fmt.Sprintf(`{"observed_at":%q,"lon":%v,"lat":%v}`+"\n", time.Now().Format(time.RFC3339), sourcetest.Centre[0], sourcetest.Centre[1])
	req, _ := http.NewRequest(http.MethodPost, env.url+"/api/ingest", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/x-ndjson")
	pres, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pres.Body.Close()
	if pres.StatusCode != http.StatusCreated {
		t.Fatalf("post: %d", pres.StatusCode)
	}
	next("tiles")
}
