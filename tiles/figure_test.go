package tiles

import (
	"encoding/json"
	"testing"
)

// A figure that does not apply is left out of a row's JSON (omitzero);
// a withheld one, or one of value 0, is written.
func TestFigureJSON(t *testing.T) {
	type row struct {
		F Figure `json:"f,omitzero"`
	}
	for _, c := range []struct {
		f    Figure
		want string
	}{
		{Figure{}, `{}`},
		{Withheld(), `{"f":{"suppressed":true}}`},
		{Value(0), `{"f":{"value":0}}`},
		{Value(12.5), `{"f":{"value":12.5}}`},
		{Value(-3), `{"f":{"value":-3}}`},
	} {
		b, err := json.Marshal(row{c.f})
		if err != nil || string(b) != c.want {
			t.Errorf("%+v: %s (%v), want %s", c.f, b, err, c.want)
		}
		if c.f.Absent() != (c.want == `{}`) {
			t.Errorf("%+v: Absent %v", c.f, c.f.Absent())
		}
	}
}
