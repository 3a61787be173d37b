package server

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// EventsAPI serves GET /api/events?lang=LANG: the town's named events (a
// festival weekend), which the planner offers as periods to look at and to
// compare with the weekend before or after.
type EventsAPI struct {
	Events []Event // the town's (a request's site's Events when it has them: SiteOf)
}

// Event is a named event; From and To are its first and last local day.
type Event struct {
	Name  string
	Names map[string]string
	From  time.Time
	To    time.Time
}

// Register adds the route.
func (a *EventsAPI) Register(e *echo.Echo) { e.GET("/api/events", a.list) }

func (a *EventsAPI) list(c echo.Context) error {
	lang := c.QueryParam("lang")
	type event struct {
		Name string `json:"name"`
		From string `json:"from"`
		To   string `json:"to"`
	}
	out := []event{}
	events := a.Events
	if st := SiteOf(c); st != nil && st.Events != nil {
		events = st.Events
	}
	for _, ev := range events {
		name := ev.Name
		if n := ev.Names[lang]; n != "" {
			name = n
		}
		out = append(out, event{Name: name, From: ev.From.Format(time.DateOnly), To: ev.To.Format(time.DateOnly)})
	}
	c.Response().Header().Set(echo.HeaderCacheControl, cacheMetadata)
	return c.JSON(http.StatusOK, map[string]any{"events": out})
}
