package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzVerify checks that Verify never panics, always returns one of the
// package's sentinel errors, and only accepts tokens whose signature is the
// HMAC-SHA256 of their signing input under the signer's secret.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	s, err := NewSigner(testSecret)
	if err != nil {
		f.Fatal(err)
	}
	s.now = func() time.Time { return now }
	good, err := s.Issue("shop", []Grant{GrantPublish, GrantAdmin}, time.Hour, "alice")
	if err != nil {
		f.Fatal(err)
	}
	wild, err := s.Issue(AnyRoom, []Grant{GrantSubscribe}, time.Minute, "")
	if err != nil {
		f.Fatal(err)
	}
	named, err := s.IssueClaims(Claims{Room: "shop", Grants: []Grant{GrantChat, GrantBid}, Subject: "u1", Name: "Zoë"}, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		"", ".", "..", "a.b.c", good, wild, named,
		good[:len(good)-2],
		strings.Replace(good, "eyJhbGciOiJIUzI1NiIs", "eyJhbGciOiJub25lIiwi", 1),
		"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpc3MiOiJyZWxheWNhc3QiLCJyb29tIjoiKiIsImdyYW50cyI6WyJhZG1pbiJdLCJleHAiOjk5OTk5OTk5OTl9.",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := s.Verify(token)
		if err != nil {
			if !errors.Is(err, ErrNoToken) && !errors.Is(err, ErrInvalidToken) && !errors.Is(err, ErrExpired) {
				t.Fatalf("Verify(%q) error %v wraps no sentinel", token, err)
			}
			return
		}
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted token with %d parts: %q", len(parts), token)
		}
		sig, derr := base64.RawURLEncoding.DecodeString(parts[2])
		mac := hmac.New(sha256.New, testSecret)
		mac.Write([]byte(parts[0] + "." + parts[1]))
		if derr != nil || !hmac.Equal(sig, mac.Sum(nil)) {
			t.Fatalf("accepted token not signed with the secret: %q", token)
		}
		if c.Room == "" || len(c.Grants) == 0 || !c.ExpiresAt.After(now) {
			t.Fatalf("accepted token with bad claims %+v", c)
		}
		for _, g := range c.Grants {
			if !g.Valid() {
				t.Fatalf("accepted unknown grant %q", g)
			}
		}
		if err := ValidName(c.Name); err != nil {
			t.Fatalf("accepted a bad name: %v", err)
		}
	})
}
