package server

import (
	"strings"
	"testing"
)

func TestTokens(t *testing.T) {
	tok := ParseTokens("s3cret, other ,", "")
	if !tok.Enabled() || ParseTokens("", " , ").Enabled() {
		t.Fatal("Enabled")
	}
	for h, want := range map[string]bool{
		"Bearer s3cret": true, "bearer other": true, "Bearer  s3cret ": true,
		"Bearer s3cre": false, "Bearer s3cret1": false, "Basic s3cret": false, "s3cret": false, "": false, "Bearer ": false,
	} {
		if got := tok.Allow(h); got != want {
			t.Errorf("Allow(%q) = %v", h, got)
		}
	}
	if (Tokens{}).Allow("Bearer ") {
		t.Error("no tokens must allow nobody")
	}
}

func TestTokenScopes(t *testing.T) {
	tok := ParseTokens("alpha-secret,beta-secret")
	a, okA := tok.Grant("Bearer alpha-secret")
	b, okB := tok.Grant("bearer  beta-secret")
	a2, _ := tok.Grant("Bearer alpha-secret")
	if !okA || !okB || a == b || a != a2 || !strings.HasPrefix(a.Scope, "token:") || strings.Contains(a.Scope, "alpha") || a.Town != "" {
		t.Fatalf("grants %+v %+v %+v", a, b, a2)
	}
	if _, ok := tok.Grant("Bearer gamma"); ok {
		t.Error("unknown token has a scope")
	}
}

// A configured token is read at its first ':': TOWN:SECRET is a token of
// one town, *:SECRET or a text without ':' a token of every town; the
// secret (everything after the first ':') is what clients send. Anything
// else is an error that names the entry by number, never by its text.
func TestTownTokens(t *testing.T) {
	tok := ParseTokens("deruta:der-secret,torgiano:tor:with:colons", "*:any:town,plain-secret, deruta:der-secret")
	if err := tok.Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		header, town, scope string
		ok                  bool
	}{
		{"Bearer der-secret", "deruta", "town:deruta", true},
		{"Bearer tor:with:colons", "torgiano", "town:torgiano", true},
		{"Bearer any:town", "", "token:", true},
		{"Bearer plain-secret", "", "token:", true},
		{"Bearer deruta:der-secret", "", "", false}, // the prefix is the server's, not the client's
		{"Bearer *:any:town", "", "", false},
		{"Bearer tor", "", "", false},
	} {
		t.Run(c.header, func(t *testing.T) {
			g, ok := tok.Grant(c.header)
			if ok != c.ok || g.Town != c.town || !strings.HasPrefix(g.Scope, c.scope) {
				t.Errorf("Grant = %+v %v, want town %q scope %q… %v", g, ok, c.town, c.scope, c.ok)
			}
		})
	}
	if got := strings.Join(tok.Towns(), ","); got != "deruta,torgiano" {
		t.Errorf("Towns() = %q", got)
	}
	// the keys of a town's tokens are its town's, whichever token
	both := ParseTokens("deruta:old-secret,deruta:new-secret")
	o, _ := both.Grant("Bearer old-secret")
	n, _ := both.Grant("Bearer new-secret")
	if o != n || o.Scope != "town:deruta" {
		t.Errorf("two tokens of one town: %+v %+v", o, n)
	}

	for _, c := range []struct{ name, list, want string }{
		{"empty secret", "deruta:", "token 1: a token of town deruta with an empty secret"},
		{"empty secret of every town", "ok-secret,*: ", "token 2: a token of every town with an empty secret"},
		{"upper-case town", "Deruta:hidden-secret", "token 1: the text before its first ':' is not a town code"},
		{"digit first", "1deruta:hidden-secret", "not a town code"},
		{"no town", ":hidden-secret", "not a town code"},
		{"space in the town", "de ruta:hidden-secret", "not a town code"},
		{"one secret, two towns", "deruta:hidden-secret,torgiano:hidden-secret", "token 2: its secret is another token's, of town deruta"},
		{"one secret, a town and every town", "hidden-secret,deruta:hidden-secret", "token 2: its secret is another token's, of every town"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tok := ParseTokens(c.list)
			err := tok.Err()
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "hidden") {
				t.Fatalf("Err() = %v, want %q (and no secret)", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "--ingest-token: ") {
				t.Errorf("%v: does not name the flag", err)
			}
			// tokens that could not all be read allow nobody
			if tok.Allow("Bearer hidden-secret") || tok.Allow("Bearer ok-secret") {
				t.Error("allowed with an unreadable token configured")
			}
		})
	}
}
