package demo

import "time"

// Event is a named event of the town, for the planner's date presets.
type Event struct {
	Name  string            // in the town's language
	Names map[string]string // in other languages
	From  time.Time         // first day (local midnight)
	To    time.Time         // last day (local midnight)
}

// Events returns the events of the demo's months from start (the demo's
// festival weekend: the days it brings extra visitors).
func Events(start time.Time, months int) []Event {
	loc := start.Location()
	y, m, d := start.Date()
	first := time.Date(y, m, d, 0, 0, 0, 0, loc)
	fest := festivalSaturday(first, first.AddDate(0, months, 0))
	if fest.IsZero() {
		return nil
	}
	return []Event{{
		Name:  "Festa della ceramica",
		Names: map[string]string{"en": "Ceramics festival"},
		From:  fest, To: fest.AddDate(0, 0, 1),
	}}
}
