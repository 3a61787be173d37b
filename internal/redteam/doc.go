// Package redteam holds the red-team test suite of flowtiles' disclosure
// control (docs/PRIVACY.md): attacks by a careful outsider against the real
// HTTP endpoints of a server on seeded data whose ground truth the tests
// know, with planted groups of 1 to 14 people. Each attack subtracts
// published figures to isolate a planted group; the suite asserts that no
// group is recovered exactly more often than the noise allows by chance,
// and that the attacker's error is of the order of the noise.
//
// The package has no code of its own: it is `go test ./internal/redteam`.
package redteam
