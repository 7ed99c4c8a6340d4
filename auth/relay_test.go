package auth

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// The relay grant is node-to-node: only relay implies it (admin does not), it implies subscribe
// and nothing else, and a token for every room works for any room.
func TestGrantRelay(t *testing.T) {
	if !GrantRelay.Valid() {
		t.Fatal("relay is not a valid grant")
	}
	for _, g := range AllGrants() {
		if g.Implies(GrantRelay) {
			t.Errorf("%s implies relay", g)
		}
		if got, want := GrantRelay.Implies(g), g == GrantSubscribe; got != want {
			t.Errorf("relay.Implies(%s) = %v, want %v", g, got, want)
		}
	}
	if !GrantRelay.Implies(GrantRelay) {
		t.Error("relay does not imply itself")
	}
	s, err := NewSigner([]byte("0123456789abcdef0123"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Issue(AnyRoom, []Grant{GrantRelay}, time.Minute, "node:a")
	if err != nil {
		t.Fatal(err)
	}
	for _, room := range []string{"shop-1", "other"} {
		if _, err := s.Authorize(tok, room, GrantRelay); err != nil {
			t.Errorf("relay token refused for %s: %v", room, err)
		}
		if _, err := s.Authorize(tok, room, GrantSubscribe); err != nil {
			t.Errorf("relay token cannot subscribe to %s: %v", room, err)
		}
		if _, err := s.Authorize(tok, room, GrantChat); !errors.Is(err, ErrForbidden) {
			t.Errorf("relay token chats in %s: %v", room, err)
		}
	}
	admin, err := s.Issue(AnyRoom, []Grant{GrantAdmin}, time.Minute, "root")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authorize(admin, "shop-1", GrantRelay); !errors.Is(err, ErrForbidden) {
		t.Errorf("an admin token relays: %v", err)
	}
	c, err := s.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Effective(); !slices.Equal(got, []Grant{GrantSubscribe, GrantRelay}) {
		t.Errorf("effective grants of a relay token: %v", got)
	}
}
