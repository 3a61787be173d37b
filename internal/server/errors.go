package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flowtiles/flowtiles/internal/admit"
	"github.com/flowtiles/flowtiles/tiles"
)

// statusClientClosed is logged (as nginx does) for requests whose client
// went away before the answer: nobody reads the response.
const statusClientClosed = 499

// errorBody is the JSON body of every error response: what went wrong,
// the parameter (or header) at fault, and for rejected records the first
// row errors and how many there were.
type errorBody struct {
	Error      string   `json:"error"`
	Param      string   `json:"param,omitempty"`
	Errors     []string `json:"errors,omitempty"`
	ErrorCount int      `json:"error_count,omitempty"`
	// Rows are the records of a town's token outside its town (403 of
	// POST /api/ingest).
	Rows []townRow `json:"rows,omitempty"`
}

// townRow is a record of a batch lying outside the town of its token.
type townRow struct {
	Record int     `json:"record"` // 1-based
	Town   *string `json:"town"`   // the town it lies in; null: outside every town
}

// apiError is an error response a handler decided on: its status and body,
// written by the central error handler like every other.
type apiError struct {
	status int
	body   errorBody
}

func (e *apiError) Error() string { return e.body.Error }

// failWith returns the apiError of status with msg about param ("" when
// no parameter is at fault).
func failWith(status int, param, msg string) error {
	return &apiError{status: status, body: errorBody{Error: msg, Param: param}}
}

// handleError is the central HTTP error handler. It maps typed errors to
// statuses and a JSON body; anything unexpected is logged in full and
// answered with a 500 that says nothing internal.
func (s *Server) handleError(err error, c echo.Context) {
	status, body := s.classify(err, c)
	if c.Response().Committed {
		if status >= 500 {
			s.log.Error("error after the response started", "uri", c.Request().RequestURI, "err", err)
		}
		return
	}
	if status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(s.cfg.RetryAfter/time.Second)))
	}
	if status == statusClientClosed {
		c.Response().WriteHeader(status) // for the logs and metrics
		return
	}
	// Errors are not cached by the browser or a CDN.
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	var werr error
	if c.Request().Method == http.MethodHead {
		werr = c.NoContent(status)
	} else {
		werr = c.JSON(status, body)
	}
	if werr != nil {
		s.log.Debug("writing error response", "err", werr)
	}
}

func (s *Server) classify(err error, c echo.Context) (int, errorBody) {
	var (
		ae *apiError
		te *tiles.TileError
		fe *tiles.FilterError
		le *tiles.LayerError
		he *echo.HTTPError
	)
	switch {
	case errors.As(err, &ae):
		return ae.status, ae.body
	case errors.As(err, &te):
		return http.StatusBadRequest, errorBody{Error: te.Error(), Param: te.Field}
	case errors.As(err, &fe):
		return http.StatusBadRequest, errorBody{Error: fe.Error(), Param: fe.Param}
	case errors.As(err, &le):
		return http.StatusNotFound, errorBody{Error: le.Error()}
	case errors.Is(err, admit.ErrBusy):
		// heavy work is queued past --queue-wait: logged as a 503 by observe
		return http.StatusServiceUnavailable, errorBody{Error: "the server is busy: retry shortly"}
	case errors.Is(err, tiles.ErrReadOnly):
		s.log.Warn("database is read-only", "uri", c.Request().RequestURI, "err", err)
		return http.StatusServiceUnavailable, errorBody{Error: "the database is read-only: retry later"}
	case errors.Is(err, tiles.ErrUnavailable):
		// stores classify outages (db.Wrap): no SQL reaches the client
		s.log.Warn("database unavailable", "uri", c.Request().RequestURI, "err", err)
		return http.StatusServiceUnavailable, errorBody{Error: "the database is unavailable: retry shortly"}
	case errors.Is(err, context.DeadlineExceeded):
		s.log.Warn("request timed out", "uri", c.Request().RequestURI, "err", err)
		return http.StatusServiceUnavailable, errorBody{Error: "the request took too long: retry shortly"}
	case errors.Is(err, context.Canceled) && c.Request().Context().Err() != nil:
		return statusClientClosed, errorBody{Error: "client closed the request"}
	case errors.As(err, &he):
		if he.Internal != nil {
			s.log.Debug("http error", "uri", c.Request().RequestURI, "code", he.Code, "internal", he.Internal)
		}
		msg := http.StatusText(he.Code)
		switch m := he.Message.(type) {
		case string:
			msg = m
		case error:
			msg = m.Error()
		}
		if he == echo.ErrNotFound {
			msg = fmt.Sprintf("not found: %s (see /tiles for the catalog)", c.Request().URL.Path)
		}
		if he.Code >= 500 {
			s.log.Error("server error", "uri", c.Request().RequestURI, "err", err)
			msg = http.StatusText(he.Code)
		}
		return he.Code, errorBody{Error: msg}
	}
	s.log.Error("internal error", "method", c.Request().Method, "uri", c.Request().RequestURI, "err", err)
	return http.StatusInternalServerError, errorBody{Error: "internal error (logged on the server)"}
}
