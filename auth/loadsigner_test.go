package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// LoadSigner is the one place a secret is resolved: a generated secret is kept and found again,
// a flag value wins, a weak one is refused.
func TestLoadSigner(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first, generated, err := LoadSigner("", dir)
	if err != nil || !generated {
		t.Fatalf("first: generated %v, err %v", generated, err)
	}
	again, generated, err := LoadSigner("", dir)
	if err != nil || generated {
		t.Fatalf("again: generated %v, err %v", generated, err)
	}
	tok, err := first.Issue("shop", []Grant{GrantPublish}, time.Minute, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.Authorize(tok, "shop", GrantPublish); err != nil {
		t.Errorf("the kept secret does not verify: %v", err)
	}
	flag, _, err := LoadSigner("flag-secret-0123456789", dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := flag.Verify(tok); err == nil {
		t.Error("the flag's secret should win over the file")
	}
	if _, _, err := LoadSigner("short", dir); !errors.Is(err, ErrWeakSecret) {
		t.Errorf("weak secret: %v", err)
	}
}

// DeriveKey is HMAC-SHA256(secret, purpose): the same key the upload part URLs were signed
// with before it existed, different per purpose.
func TestDeriveKey(t *testing.T) {
	secret := []byte("test-secret-0123456789abcdef")
	s, err := NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("relaycast upload part urls"))
	if got := s.DeriveKey("relaycast upload part urls"); !bytes.Equal(got, m.Sum(nil)) {
		t.Errorf("DeriveKey = %x, want %x", got, m.Sum(nil))
	}
	if bytes.Equal(s.DeriveKey("a"), s.DeriveKey("b")) {
		t.Error("two purposes, one key")
	}
}
