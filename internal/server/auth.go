package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

// Tokens are the bearer tokens that may ingest. The zero value allows
// nobody: ingest is off.
type Tokens struct {
	sums [][sha256.Size]byte
}

// ParseTokens reads comma-separated tokens (blanks ignored).
func ParseTokens(list ...string) Tokens {
	var t Tokens
	for _, l := range list {
		for _, tok := range strings.Split(l, ",") {
			if tok = strings.TrimSpace(tok); tok != "" {
				t.sums = append(t.sums, sha256.Sum256([]byte(tok)))
			}
		}
	}
	return t
}

// Enabled reports whether any token is configured.
func (t Tokens) Enabled() bool { return len(t.sums) > 0 }

// Allow reports whether an Authorization header value carries a configured
// bearer token.
func (t Tokens) Allow(authorization string) bool {
	_, ok := t.Scope(authorization)
	return ok
}

// Scope returns the scope of the configured bearer token that an
// Authorization header value carries: a name of the token that does not
// reveal it ("token:" and 16 hex digits of a hash of its digest), under
// which its idempotency keys are kept. It compares fixed-length digests in
// constant time and looks at every token, so timing tells nothing about
// how much matched or which.
func (t Tokens) Scope(authorization string) (string, bool) {
	scheme, tok, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || len(t.sums) == 0 {
		return "", false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	match := 0
	for i := range t.sums {
		match |= subtle.ConstantTimeCompare(sum[:], t.sums[i][:])
	}
	if match != 1 {
		return "", false
	}
	scope := sha256.Sum256(append([]byte("flowtiles ingest scope\x00"), sum[:]...))
	return "token:" + hex.EncodeToString(scope[:8]), true
}
