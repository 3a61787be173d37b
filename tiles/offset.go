package tiles

import "strings"

// plusOffset restores the "+" of a timestamp's UTC offset that arrived as a
// space: an unencoded "+" in a query string means a space, so
// from=2025-03-01T08:00:00+01:00 typed into a URL reaches the server as
// "2025-03-01T08:00:00 01:00". Anything else is returned as it is.
func plusOffset(s string) string {
	i := strings.LastIndexByte(s, ' ')
	if i < len("2006-01-02T15:04:05") || len(s)-i != len(" 07:00") || !strings.Contains(s[:i], "T") {
		return s
	}
	return s[:i] + "+" + s[i+1:]
}
