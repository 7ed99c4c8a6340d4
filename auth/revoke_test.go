package auth

import (
	"errors"
	"testing"
	"time"
)

type revokedBefore map[string]time.Time

func (r revokedBefore) Revoked(subject string, issuedAt time.Time) bool {
	t, ok := r[subject]
	return ok && !issuedAt.After(t)
}

func TestRevokedTokens(t *testing.T) {
	s, _ := NewSigner([]byte("0123456789abcdef0123"))
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return now }
	old, _ := s.Issue("shop", []Grant{GrantBid}, time.Hour, "u-1")
	other, _ := s.Issue("shop", []Grant{GrantBid}, time.Hour, "u-2")
	anon, _ := s.Issue("shop", []Grant{GrantBid}, time.Hour, "")
	r := revokedBefore{"u-1": now}
	s.SetRevoker(r)
	if _, err := s.Verify(old); !errors.Is(err, ErrRevoked) || !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a revoked subject's token: %v, want ErrRevoked (an ErrInvalidToken)", err)
	}
	if _, err := s.Authorize(old, "shop", GrantBid); !errors.Is(err, ErrRevoked) {
		t.Fatalf("Authorize of a revoked token: %v", err)
	}
	for _, tok := range []string{other, anon} {
		if _, err := s.Verify(tok); err != nil {
			t.Fatalf("another token refused: %v", err)
		}
	}
	now = now.Add(2 * time.Second)
	fresh, _ := s.Issue("shop", []Grant{GrantBid}, time.Hour, "u-1")
	if _, err := s.Verify(fresh); err != nil {
		t.Fatalf("a token issued after the revocation: %v", err)
	}
	s.SetRevoker(nil)
	if _, err := s.Verify(old); err != nil {
		t.Fatalf("without a revoker: %v", err)
	}
}

func TestAcceptPrevious(t *testing.T) {
	oldS, _ := NewSigner([]byte("old-secret-0123456789"))
	newS, _ := NewSigner([]byte("new-secret-0123456789"))
	tokOld, _ := oldS.Issue("shop", []Grant{GrantSubscribe}, time.Hour, "v")
	if _, err := newS.Verify(tokOld); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("another secret's token before rotation: %v", err)
	}
	if err := newS.AcceptPrevious([]byte("short")); !errors.Is(err, ErrWeakSecret) {
		t.Fatalf("a weak previous secret: %v", err)
	}
	if err := newS.AcceptPrevious([]byte("old-secret-0123456789")); err != nil {
		t.Fatal(err)
	}
	if c, err := newS.Verify(tokOld); err != nil || c.Subject != "v" {
		t.Fatalf("the previous secret's token during rotation: %+v %v", c, err)
	}
	tokNew, _ := newS.Issue("shop", []Grant{GrantSubscribe}, time.Hour, "w")
	if _, err := oldS.Verify(tokNew); err == nil {
		t.Fatal("new tokens are signed with a previous secret")
	}
	forged, _ := func() (string, error) {
		s, _ := NewSigner([]byte("attacker-secret-012345"))
		return s.Issue("shop", []Grant{GrantAdmin}, time.Hour, "x")
	}()
	if _, err := newS.Verify(forged); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a token of a third secret: %v", err)
	}
}
