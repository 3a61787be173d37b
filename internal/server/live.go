package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flowtiles/flowtiles/internal/live"
)

// LiveAPI serves GET /api/live: the hub's events as Server-Sent Events.
// A client never holds up others: the hub queues at most a few events for
// it (dropping the oldest), and a write that the client does not take
// within WriteTimeout ends its stream (it reconnects by itself).
//
// The route must not be wrapped by a compressing or buffering middleware.
type LiveAPI struct {
	// Hub is the town's (a request's site's Hub when it has one: SiteOf).
	Hub *live.Hub
	// WriteTimeout bounds each write to a client (default 10 s).
	WriteTimeout time.Duration
}

// Register adds the route.
func (a *LiveAPI) Register(e *echo.Echo) {
	e.GET("/api/live", a.handle)
}

func (a *LiveAPI) handle(c echo.Context) error {
	if isHead(c.Request()) {
		// the headers of the stream, and its end: a HEAD has no body to
		// wait for
		h := c.Response().Header()
		h.Set(echo.HeaderContentType, "text/event-stream")
		h.Set(echo.HeaderCacheControl, "no-cache")
		return c.NoContent(http.StatusOK)
	}
	hub := a.Hub
	if st := SiteOf(c); st != nil && st.Hub != nil {
		hub = st.Hub
	}
	client, err := hub.Subscribe()
	switch {
	case errors.Is(err, live.ErrTooManyClients):
		return failWith(http.StatusServiceUnavailable, "", "too many live clients: retry later")
	case err != nil:
		return failWith(http.StatusServiceUnavailable, "", "the live feed is shutting down")
	}
	defer hub.Unsubscribe(client)
	timeout := a.WriteTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	w := c.Response()
	h := w.Header()
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set(echo.HeaderCacheControl, "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return nil
	}
	ctx := c.Request().Context()
	var batch [][]byte
	for {
		if batch, err = client.Next(ctx, batch[:0]); err != nil {
			return nil // the client left, or the hub stopped
		}
		// An error here means the connection's deadline is not
		// settable (a test recorder): write without one.
		_ = rc.SetWriteDeadline(time.Now().Add(timeout))
		for _, ev := range batch {
			if _, err := w.Write(ev); err != nil {
				return nil
			}
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
	}
}
