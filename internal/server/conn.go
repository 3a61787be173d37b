package server

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/net/netutil"

	"github.com/flowtiles/flowtiles/tiles"
)

// Defaults of the connection and request limits (Config).
const (
	DefaultMaxConns          = 4096
	DefaultMaxConnsPerClient = 64
	DefaultMaxQueryBytes     = 8 << 10
	DefaultMaxQueryValues    = 100
)

// fdReserve is what MaxConns leaves of the file descriptor limit for the
// database pool, the listeners, logs and files.
func fdReserve(limit int) int { return max(16, min(64, limit/4)) }

// maxConns is the overall connection cap: the configured one, else the
// default within the process's file descriptor limit.
func (s *Server) maxConns() int {
	if s.cfg.MaxConns > 0 {
		return s.cfg.MaxConns
	}
	n := DefaultMaxConns
	if limit, ok := fileLimit(); ok {
		n = min(n, max(limit-fdReserve(limit), 8))
	}
	return n
}

// limitListener caps ln's open connections: overall (beyond the cap,
// Accept waits, so new connections wait in the kernel's queue and hold no
// descriptor) and per client address (beyond the cap a connection is
// answered 503 and closed at once, so that one client cannot take every
// slot). Trusted proxies speak for many clients and have no per-client cap.
func (s *Server) limitListener(ln net.Listener) net.Listener {
	per := s.cfg.MaxConnsPerClient
	if per == 0 {
		per = DefaultMaxConnsPerClient
	}
	l := &clientLimitListener{Listener: netutil.LimitListener(ln, s.maxConns()), per: per, s: s, open: map[netip.Addr]int{}}
	return l
}

type clientLimitListener struct {
	net.Listener
	per int // < 0: no per-client cap
	s   *Server

	mu   sync.Mutex
	open map[netip.Addr]int
}

func (l *clientLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c.RemoteAddr())
		if l.admit(ip) {
			l.s.metrics.connsOpen.Inc()
			return &clientConn{Conn: c, l: l, ip: ip}, nil
		}
		l.s.metrics.connsRefused.Inc()
		refuse(c, l.s.cfg.RetryAfter)
	}
}

func (l *clientLimitListener) admit(ip netip.Addr) bool {
	if l.per < 0 || !ip.IsValid() || l.s.trusted(ip) {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip] >= l.per {
		return false
	}
	l.open[ip]++
	return true
}

func (l *clientLimitListener) release(ip netip.Addr) {
	l.s.metrics.connsOpen.Dec()
	if l.per < 0 || !ip.IsValid() || l.s.trusted(ip) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
	}
}

// clientConn gives its slot back when closed (once).
type clientConn struct {
	net.Conn
	l    *clientLimitListener
	ip   netip.Addr
	once sync.Once
}

func (c *clientConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}

// refusal is the whole response to a connection over its client's cap.
func refusal(retry time.Duration) []byte {
	body := `{"error":"too many connections from your address: close some, or retry shortly"}`
	return []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n" +
		"Retry-After: " + strconv.Itoa(max(int(retry/time.Second), 1)) + "\r\nConnection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}

// refuse answers c with a 503 and closes it. The response fits in a new
// connection's send buffer, so the write does not wait for the client; the
// deadline is a bound all the same.
func refuse(c net.Conn, retry time.Duration) {
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write(refusal(retry))
	_ = c.Close()
}

// remoteIP is the IP of a connection's peer (invalid if it has none).
func remoteIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// trusted reports whether ip is a configured reverse proxy.
func (s *Server) trusted(ip netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// fromProxy reports whether r came through a trusted reverse proxy (its
// immediate peer is one), whose forwarded headers may then be believed.
func (s *Server) fromProxy(r *http.Request) bool {
	if len(s.cfg.TrustedProxies) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && s.trusted(ap.Addr().Unmap())
}

// clientIP is Echo's IPExtractor: the peer's address, or, from a trusted
// proxy, the last address in X-Forwarded-For that is not a trusted proxy
// (the client as the outermost trusted proxy saw it).
func (s *Server) clientIP(r *http.Request) string {
	peer, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		peer = r.RemoteAddr
	}
	if !s.fromProxy(r) {
		return peer
	}
	xff := strings.Split(strings.Join(r.Header.Values(echo.HeaderXForwardedFor), ","), ",")
	for i := len(xff) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(strings.TrimSpace(xff[i]))
		if err != nil {
			return peer // a malformed chain: believe nothing more
		}
		if ip = ip.Unmap(); !s.trusted(ip) {
			return ip.String()
		}
	}
	return peer
}

// limitQuery rejects query strings over MaxQueryBytes (414) and parameters
// with more than MaxQueryValues values, repeated or comma-separated (400
// naming the parameter), before any handler parses them.
func (s *Server) limitQuery(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		raw := c.Request().URL.RawQuery
		if len(raw) > s.cfg.MaxQueryBytes {
			return echo.NewHTTPError(http.StatusRequestURITooLong,
				fmt.Sprintf("query string of %d bytes: at most %d", len(raw), s.cfg.MaxQueryBytes))
		}
		for name, vs := range c.QueryParams() {
			n := 0
			for _, v := range vs {
				n += strings.Count(v, ",") + 1
			}
			if n > s.cfg.MaxQueryValues {
				return &tiles.FilterError{Param: name, Value: tiles.Truncate(strings.Join(vs, ","), tiles.MaxQuoted),
					Reason: fmt.Sprintf("%d values: at most %d", n, s.cfg.MaxQueryValues)}
			}
		}
		return next(c)
	}
}
