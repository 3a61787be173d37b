package tiles

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// MaxQuoted is how many bytes of a bad value an error message quotes.
const MaxQuoted = 40

// Truncate returns s, or, when it is longer than n bytes, its first n bytes
// (cut on a rune boundary) followed by "…" and its length. Error messages
// show a bad value this way, so that their size does not grow with the input.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("…(%d bytes)", len(s))
}

// Quote is %q of a bad value, at most MaxQuoted bytes of it: the quoted
// prefix followed by "…" and the length when it is longer.
func Quote(s string) string {
	if len(s) <= MaxQuoted {
		return strconv.Quote(s)
	}
	cut := MaxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + fmt.Sprintf("…(%d bytes)", len(s))
}
