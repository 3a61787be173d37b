package stats

import (
	"math"
	"strconv"

	"github.com/flowtiles/flowtiles/tiles"
)

// Delta is the change of one figure between two periods: absolute (in the
// figure's unit) and relative to the comparison period.
type Delta struct {
	abs, rel float64
	hasRel   bool
	state    figureState
}

// Absent reports whether the change does not apply: the zero Delta (see
// tiles.Figure.Absent).
func (d Delta) Absent() bool { return d.state == absent }

// Suppressed reports whether the change was withheld.
func (d Delta) Suppressed() bool { return d.state == withheld }

// Values returns the absolute and relative change; rel is false when the
// comparison value is 0, ok false when there is no number.
func (d Delta) Values() (abs, rel float64, hasRel, ok bool) {
	return d.abs, d.rel, d.hasRel, d.state == hasValue
}

// MarshalJSON writes {"absolute": a, "relative": r} or {"suppressed": true}.
func (d Delta) MarshalJSON() ([]byte, error) {
	switch d.state {
	case hasValue:
		b := append([]byte(`{"absolute":`), formatNumber(d.abs)...)
		if d.hasRel {
			b = append(append(b, `,"relative":`...), formatNumber(d.rel)...)
		}
		return append(b, '}'), nil
	case withheld:
		return []byte(`{"suppressed":true}`), nil
	}
	return []byte(`null`), nil
}

// change returns cur minus ref: derived from published figures only. It
// applies only when the figure applies on both sides, and has a number only
// when both are published.
func change(cur, ref tiles.Figure, digits int) Delta {
	if cur.Absent() || ref.Absent() {
		return Delta{}
	}
	c, ok1 := cur.Value()
	r, ok2 := ref.Value()
	if !ok1 || !ok2 {
		return Delta{state: withheld}
	}
	d := Delta{abs: round(c-r, digits), state: hasValue}
	if r != 0 {
		d.rel, d.hasRel = round((c-r)/r, 4), true
	}
	return d
}

// Delta states, as tiles.Figure's.
type figureState uint8

const (
	absent figureState = iota
	hasValue
	withheld
)

func formatNumber(v float64) []byte {
	return strconv.AppendFloat(nil, v, 'f', -1, 64)
}

// round rounds v to digits decimals.
func round(v float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(v*p) / p
}
