package signin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// stateKeyPurpose derives the state cookie's HMAC key from the auth secret (auth.Signer.DeriveKey).
const stateKeyPurpose = "relaycast signin state v1"

// pending is one sign-in under way: what the browser must bring back to /auth/callback. It
// travels in the state cookie, signed (HMAC-SHA256) so that it cannot be forged or edited.
type pending struct {
	State    string `json:"s"` // the OAuth state parameter (CSRF): must equal the callback's
	Nonce    string `json:"n"` // must equal the ID token's nonce (replay)
	Verifier string `json:"v"` // PKCE code verifier (the provider got its S256 challenge)
	Room     string `json:"r"`
	Return   string `json:"u"` // same-site path to send the browser back to
	Expires  int64  `json:"e"` // Unix seconds
}

// randomToken returns n random bytes, base64url encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sealState encodes p as base64url(JSON) "." base64url(HMAC-SHA256(key, that)).
func sealState(key []byte, p pending) string {
	body, _ := json.Marshal(p) // a struct of strings and an int: cannot fail
	enc := base64.RawURLEncoding.EncodeToString(body)
	return enc + "." + base64.RawURLEncoding.EncodeToString(stateMAC(key, enc))
}

// openState checks the seal and expiry of a cookie value made by sealState. Errors wrap ErrState
// and say which check failed ("expired" in the text for an expired one).
func openState(key []byte, value string, now time.Time) (pending, error) {
	enc, sig, ok := strings.Cut(value, ".")
	if !ok {
		return pending{}, fmt.Errorf("%w: malformed state cookie", ErrState)
	}
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, stateMAC(key, enc)) {
		return pending{}, fmt.Errorf("%w: state cookie signature does not match", ErrState)
	}
	body, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return pending{}, fmt.Errorf("%w: malformed state cookie", ErrState)
	}
	var p pending
	if err := json.Unmarshal(body, &p); err != nil || p.State == "" || p.Nonce == "" || p.Verifier == "" || p.Room == "" || p.Return == "" {
		return pending{}, fmt.Errorf("%w: malformed state cookie", ErrState)
	}
	if now.Unix() >= p.Expires {
		return pending{}, fmt.Errorf("%w: %w", ErrState, errExpired)
	}
	return p, nil
}

func stateMAC(key []byte, enc string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(enc))
	return m.Sum(nil)
}
