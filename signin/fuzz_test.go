package signin

import (
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
)

// FuzzReturn is the sign-in's return parameter (/auth/login?return=…), the open-redirect
// guard. Property: an accepted return, resolved the way a browser resolves a Location header
// against the site, stays on the site, and is the same path after cleaning.
func FuzzReturn(f *testing.F) {
	for _, s := range []string{"", "/watch/shop?x=1", "/watch/shop/", "https://evil.example/", "//evil.example", "/\\evil", "/.//evil",
		"/%2e%2e/x", "/%2F%2Fevil", "/a/../b", "/ok#frag", "/\tx", "/@evil", "/x?next=//evil"} {
		f.Add(s)
	}
	site, _ := url.Parse("https://shop.example/auth/callback")
	f.Fuzz(func(t *testing.T, ret string) {
		got, ok := safeReturn(ret, "shop")
		if !ok {
			return
		}
		u, err := site.Parse(got)
		if err != nil || u.Scheme != "https" || u.Host != "shop.example" || u.User != nil {
			t.Fatalf("return %q leaves the site: %v %v", ret, u, err)
		}
		if strings.Contains(u.Path, "/../") || strings.Contains(u.Path, "//") {
			t.Fatalf("return %q has dot or empty segments: %q", ret, u.Path)
		}
	})
}

// FuzzState is the sign-in's state cookie as the browser brings it back (signed JSON).
// Properties: errors wrap ErrState; only a value with the key's MAC opens, and only with every
// field set and not expired.
func FuzzState(f *testing.F) {
	key := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_700_000_000, 0)
	good := pending{State: "s", Nonce: "n", Verifier: "v", Room: "shop", Return: "/watch/shop", Expires: now.Unix() + 600}
	f.Add(sealState(key, good))
	f.Add(sealState(key, pending{State: "s", Expires: now.Unix() + 600}))
	f.Add(sealState([]byte("other"), good))
	f.Add("eyJzIjoicyJ9.")
	f.Add(".")
	f.Add("")
	f.Fuzz(func(t *testing.T, value string) {
		p, err := openState(key, value, now)
		if err != nil {
			if !errors.Is(err, ErrState) {
				t.Fatalf("openState = %v: not ErrState", err)
			}
			return
		}
		enc, sig, _ := strings.Cut(value, ".")
		if mac, err := base64.RawURLEncoding.DecodeString(sig); err != nil || !hmac.Equal(mac, stateMAC(key, enc)) {
			t.Fatalf("%q opened without the key's MAC", value)
		}
		if p.State == "" || p.Nonce == "" || p.Verifier == "" || p.Room == "" || p.Return == "" || now.Unix() >= p.Expires {
			t.Fatalf("opened %+v", p)
		}
	})
}

// FuzzProfileName makes the display name from an OIDC provider's claims (name,
// preferred_username, email). Property: the result is always a valid auth name.
func FuzzProfileName(f *testing.F) {
	f.Add("Ann Lee", "ann", "ann@example.com")
	f.Add("\u202eevil\u0000", "", "")
	f.Add("", "", "@example.com")
	f.Add(strings.Repeat("長", 100), "x", "y@z")
	f.Add("\xff\xfe", "  a \t b  ", "")
	f.Fuzz(func(t *testing.T, name, user, email string) {
		n := displayName(profile{Name: name, PreferredUsername: user, Email: email})
		if err := auth.ValidName(n); err != nil || n == "" {
			t.Fatalf("display name %q: %v", n, err)
		}
	})
}
