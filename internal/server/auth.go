package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/flowtiles/flowtiles/tiles"
)

// Tokens are the bearer tokens that may ingest. The zero value allows
// nobody: ingest is off.
//
// A configured token (--ingest-token, comma-separated) is read at its
// first ':':
//   - no ':': a token of every town; the whole text is its secret;
//   - TOWN:SECRET, TOWN a town code (tiles.ValidTownCode): a token of that
//     town only;
//   - *:SECRET: a token of every town (how to write a secret of every town
//     that contains ':');
//   - anything else before the first ':' (an upper-case letter, a space, a
//     digit first, nothing) is an error, never a token of every town, so a
//     mistyped town never widens a token.
//
// The SECRET is everything after the first ':' (it may hold more ':'), must
// not be empty, and is what a client sends: "Authorization: Bearer SECRET".
// One secret cannot be given to two towns, or to a town and to every town.
type Tokens struct {
	sums  [][sha256.Size]byte
	towns []string // by token: its town's code, "" for every town
	err   error
}

// ParseTokens reads comma-separated tokens (blanks ignored). Entries it
// cannot read are reported by Err, and then no token is allowed: check Err
// at start.
func ParseTokens(list ...string) Tokens {
	var (
		t    Tokens
		errs []error
		n    int
	)
	for _, l := range list {
		for _, entry := range strings.Split(l, ",") {
			if entry = strings.TrimSpace(entry); entry == "" {
				continue
			}
			n++
			town, secret, err := splitToken(entry)
			if err != nil {
				// the entry's number, never its text: it holds a secret
				errs = append(errs, fmt.Errorf("--ingest-token: token %d: %w", n, err))
				continue
			}
			sum := sha256.Sum256([]byte(secret))
			if i := t.index(sum); i >= 0 {
				if t.towns[i] != town {
					errs = append(errs, fmt.Errorf("--ingest-token: token %d: its secret is another token's, of %s: give each town its own secret", n, townName(t.towns[i])))
				}
				continue
			}
			t.sums = append(t.sums, sum)
			t.towns = append(t.towns, town)
		}
	}
	t.err = errors.Join(errs...)
	return t
}

// splitToken reads one configured token into its town ("" for every town)
// and its secret.
func splitToken(entry string) (town, secret string, err error) {
	prefix, secret, ok := strings.Cut(entry, ":")
	switch {
	case !ok:
		return "", entry, nil
	case prefix == "*":
	case tiles.ValidTownCode(prefix):
		town = prefix
	default:
		return "", "", errors.New("the text before its first ':' is not a town code (lower-case letters, digits and hyphens, starting with a letter): write TOWN:SECRET for a token of one town, *:SECRET for a token of every town whose secret holds ':'")
	}
	if secret = strings.TrimSpace(secret); secret == "" {
		return "", "", fmt.Errorf("a token of %s with an empty secret", townName(town))
	}
	return town, secret, nil
}

func townName(code string) string {
	if code == "" {
		return "every town"
	}
	return "town " + code
}

// index returns the token whose secret has digest sum, or -1.
func (t Tokens) index(sum [sha256.Size]byte) int {
	for i := range t.sums {
		if t.sums[i] == sum {
			return i
		}
	}
	return -1
}

// Err reports the configured tokens that could not be read (without their
// secrets), nil when all could.
func (t Tokens) Err() error { return t.err }

// Towns lists the codes of the towns that tokens are restricted to, each
// once, for the server to check at start that it has them.
func (t Tokens) Towns() []string {
	var out []string
	for _, town := range t.towns {
		if town != "" && !slices.Contains(out, town) {
			out = append(out, town)
		}
	}
	return out
}

// Enabled reports whether any token is configured.
func (t Tokens) Enabled() bool { return len(t.sums) > 0 }

// Allow reports whether an Authorization header value carries a configured
// bearer token.
func (t Tokens) Allow(authorization string) bool {
	_, ok := t.Grant(authorization)
	return ok
}

// Grant is what a bearer token may do.
type Grant struct {
	// Town is the code of the one town the token writes ("" for every
	// town).
	Town string
	// Scope names the token without revealing it, and is where its
	// idempotency keys are kept: "town:" and the code for a town's token
	// (every token of a town shares its keys, so a retry under a rotated
	// token is still a retry; two towns' keys never meet), "token:" and
	// 16 hex digits of a hash of its digest for a token of every town.
	Scope string
}

// Grant returns what the configured bearer token that an Authorization
// header value carries may do. It compares fixed-length digests in constant
// time and looks at every token, so timing tells nothing about how much
// matched or which. With tokens that could not be read (Err) it allows
// nobody.
func (t Tokens) Grant(authorization string) (Grant, bool) {
	scheme, tok, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || len(t.sums) == 0 || t.err != nil {
		return Grant{}, false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	match := -1
	for i := range t.sums {
		match = subtle.ConstantTimeSelect(subtle.ConstantTimeCompare(sum[:], t.sums[i][:]), i, match)
	}
	if match < 0 {
		return Grant{}, false
	}
	if town := t.towns[match]; town != "" {
		return Grant{Town: town, Scope: "town:" + town}, true
	}
	scope := sha256.Sum256(append([]byte("flowtiles ingest scope\x00"), sum[:]...))
	return Grant{Scope: "token:" + hex.EncodeToString(scope[:8])}, true
}
