package demo

import "time"

// Event is a named event of the town, for the planner's date presets.
type Event struct {
	Name  string            // in the town's language
	Names map[string]string // in other languages
	From  time.Time         // first day (local midnight)
	To    time.Time         // last day (local midnight)
}

// Events returns Deruta's events of the demo's months from start (the
// demo's festival weekend: the days it brings extra visitors); see
// DemoTown.Events for any demo town.
func Events(start time.Time, months int) []Event { return deruta.events(start, months) }

func (s *spec) events(start time.Time, months int) []Event {
	loc := start.Location()
	y, m, d := start.Date()
	first := time.Date(y, m, d, 0, 0, 0, 0, loc)
	var out []Event
	for _, f := range s.festivals(first, first.AddDate(0, months, 0)) {
		out = append(out, Event{Name: f.name, Names: clone(f.names), From: f.from, To: f.from.AddDate(0, 0, f.days-1)})
	}
	return out
}
