package stats

import (
	"math"
	"strconv"
)

// Figure is one published number, or the mark that it was withheld. The zero
// Figure means "does not apply" and is left out of JSON (omitzero).
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

// Value is a published figure.
func Value(v float64) Figure { return Figure{v: v, state: hasValue} }

// Suppressed is a withheld figure.
func Suppressed() Figure { return Figure{state: withheld} }

// valueIf is Value(v) when ok, else Suppressed().
func valueIf(ok bool, v float64) Figure {
	if ok {
		return Value(v)
	}
	return Suppressed()
}

// IsZero reports whether the figure does not apply.
func (f Figure) IsZero() bool { return f.state == absent }

// Suppressed reports whether the figure was withheld.
func (f Figure) Suppressed() bool { return f.state == withheld }

// Value returns the number and whether there is one (false when withheld or
// absent).
func (f Figure) Value() (float64, bool) { return f.v, f.state == hasValue }

// MarshalJSON writes {"value": v} or {"suppressed": true}.
func (f Figure) MarshalJSON() ([]byte, error) {
	switch f.state {
	case hasValue:
		return append(append([]byte(`{"value":`), formatNumber(f.v)...), '}'), nil
	case withheld:
		return []byte(`{"suppressed":true}`), nil
	}
	return []byte(`null`), nil
}

// Delta is the change of one figure between two periods: absolute (in the
// figure's unit) and relative to the comparison period.
type Delta struct {
	abs, rel float64
	hasRel   bool
	state    figureState
}

// IsZero reports whether the change does not apply.
func (d Delta) IsZero() bool { return d.state == absent }

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

// change returns cur minus ref. It applies only when the figure applies on
// both sides, and has a number only when both are published.
func change(cur, ref Figure, digits int) Delta {
	if cur.state == absent || ref.state == absent {
		return Delta{}
	}
	if cur.state != hasValue || ref.state != hasValue {
		return Delta{state: withheld}
	}
	d := Delta{abs: round(cur.v-ref.v, digits), state: hasValue}
	if ref.v != 0 {
		d.rel, d.hasRel = round((cur.v-ref.v)/ref.v, 4), true
	}
	return d
}

func formatNumber(v float64) []byte {
	return strconv.AppendFloat(nil, v, 'f', -1, 64)
}

// round rounds v to digits decimals.
func round(v float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(v*p) / p
}
