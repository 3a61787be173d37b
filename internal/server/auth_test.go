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
	a, okA := tok.Scope("Bearer alpha-secret")
	b, okB := tok.Scope("bearer  beta-secret")
	a2, _ := tok.Scope("Bearer alpha-secret")
	if !okA || !okB || a == b || a != a2 || !strings.HasPrefix(a, "token:") || strings.Contains(a, "alpha") {
		t.Fatalf("scopes %q %q %q", a, b, a2)
	}
	if _, ok := tok.Scope("Bearer gamma"); ok {
		t.Error("unknown token has a scope")
	}
}
