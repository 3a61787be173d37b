package tiles

import (
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"abc", `"abc"`},
		{strings.Repeat("x", MaxQuoted), `"` + strings.Repeat("x", MaxQuoted) + `"`},
		{strings.Repeat("x", 1000), `"` + strings.Repeat("x", MaxQuoted) + `"…(1000 bytes)`},
		// cut on a rune boundary: "é" is two bytes
		{strings.Repeat("x", MaxQuoted-1) + "é" + "yyy", `"` + strings.Repeat("x", MaxQuoted-1) + `"…(44 bytes)`},
	} {
		t.Run(c.in, func(t *testing.T) {
			if got := Quote(c.in); got != c.want {
				t.Errorf("Quote(%.50q) = %s, want %s", c.in, got, c.want)
			}
		})
	}
	if got := Truncate("hello world", 5); got != "hello…(11 bytes)" {
		t.Errorf("Truncate: %s", got)
	}
}

func TestPlusOffset(t *testing.T) {
	for in, want := range map[string]string{
		"2025-03-01T08:00:00 01:00":   "2025-03-01T08:00:00+01:00",
		"2025-03-01T08:00:00.5 02:00": "2025-03-01T08:00:00.5+02:00",
		"2025-03-01T08:00:00+01:00":   "2025-03-01T08:00:00+01:00",
		"2025-03-01T08:00:00Z":        "2025-03-01T08:00:00Z",
		"2025-03-01 08:00":            "2025-03-01 08:00",
		"2025-03-01":                  "2025-03-01",
		"tomorrow 12:00":              "tomorrow 12:00",
	} {
		if got := plusOffset(in); got != want {
			t.Errorf("plusOffset(%q) = %q, want %q", in, got, want)
		}
	}
}
