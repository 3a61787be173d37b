package tiles

import (
	"math"
	"strconv"
)

// Figure is one published number, or the mark that it was withheld. The zero
// Figure means "does not apply" and is left out of JSON (omitzero). Figures
// are made by Privacy (Publish, Visits, Typical) or derived from published
// figures only (rates, shares, changes): never from a group's true values.
type Figure struct {
	v     float64
	state figureState
}

type figureState uint8

const (
	absent figureState = iota
	hasValue
	withheld
)

// Value is a published figure. Only code that derives a figure from other
// published figures (a rate, a share) makes one directly.
func Value(v float64) Figure { return Figure{v: v, state: hasValue} }

// Withheld is a figure that is not published.
func Withheld() Figure { return Figure{state: withheld} }

// Absent reports whether the figure does not apply: the zero Figure. (It
// is not named IsZero, which encoding/json would call for omitzero through
// an interface, a copy of the figure on the heap for each of the
// thousands of a report; without it, the zero value is left out as well.)
func (f Figure) Absent() bool { return f.state == absent }

// Suppressed reports whether the figure was withheld.
func (f Figure) Suppressed() bool { return f.state == withheld }

// Value returns the number and whether there is one (false when withheld or
// absent).
func (f Figure) Value() (float64, bool) { return f.v, f.state == hasValue }

// Int returns the number rounded to an integer, and whether there is one.
func (f Figure) Int() (int64, bool) { return int64(math.Round(f.v)), f.state == hasValue }

// MarshalJSON writes {"value": v} or {"suppressed": true}.
func (f Figure) MarshalJSON() ([]byte, error) {
	switch f.state {
	case hasValue: // (one allocation: a report has thousands of figures)
		b := append(make([]byte, 0, 32), `{"value":`...)
		return append(strconv.AppendFloat(b, f.v, 'f', -1, 64), '}'), nil
	case withheld:
		return []byte(`{"suppressed":true}`), nil
	}
	return []byte(`null`), nil
}
