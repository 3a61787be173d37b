package server

// The server's own URL as clients reach it, and forwarded headers from
// trusted proxies only.

import (
	"strings"

	"github.com/labstack/echo/v4"
)

// baseURL is the absolute URL of the server as the client reached it. From
// a trusted proxy (Config.TrustedProxies) it honours X-Forwarded-Proto,
// X-Forwarded-Host and X-Forwarded-Prefix; from anyone else it ignores
// them, since the URLs it makes go into cacheable documents. Malformed
// forwarded values are ignored.
func (s *Server) baseURL(c echo.Context) string {
	return s.rootURL(c) + townPath(c)
}

// rootURL is baseURL without the request's /t/{town} prefix: the root of
// the server as its clients see it.
func (s *Server) rootURL(c echo.Context) string {
	req := c.Request()
	proxied := s.fromProxy(req)
	scheme := "http"
	if req.TLS != nil {
		scheme = "https"
	}
	if p := firstValue(req.Header.Get(echo.HeaderXForwardedProto)); proxied && (p == "http" || p == "https") {
		scheme = p
	}
	host := req.Host
	if h := firstValue(req.Header.Get("X-Forwarded-Host")); proxied && h != "" && validHost(h) {
		host = h
	}
	if !validHost(host) {
		host = "localhost"
	}
	prefix := ""
	if proxied {
		prefix = strings.TrimRight(firstValue(req.Header.Get("X-Forwarded-Prefix")), "/")
		if !validPrefix(prefix) {
			prefix = ""
		}
	}
	return scheme + "://" + host + prefix
}

// varyForwarded adds the forwarded headers to Vary where they can change
// the document (a trusted proxy is configured).
func (s *Server) varyForwarded(c echo.Context) {
	if len(s.cfg.TrustedProxies) > 0 {
		c.Response().Header().Add(echo.HeaderVary, "X-Forwarded-Host, X-Forwarded-Proto, X-Forwarded-Prefix")
	}
}

func firstValue(h string) string {
	v, _, _ := strings.Cut(h, ",")
	return strings.TrimSpace(v)
}

func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-:[]_", r)) {
			return false
		}
	}
	return true
}

func validPrefix(p string) bool {
	if p == "" {
		return true
	}
	if p[0] != '/' || len(p) > 200 || strings.Contains(p, "//") || strings.Contains(p, "..") {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/-._~", r)) {
			return false
		}
	}
	return true
}
