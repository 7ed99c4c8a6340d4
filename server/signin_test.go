package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/signin"
)

func authConfig(t *testing.T, base string) map[string]any {
	t.Helper()
	resp, err := http.Get(base + signin.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	return c
}

// TestSignInWired runs the OpenID Connect sign-in through a whole node: its redirect URL is the
// node's own, and the token it mints is one the node's signer accepts.
func TestSignInWired(t *testing.T) {
	if c := authConfig(t, start(t, nil).url); c["oidc"] != false {
		t.Fatalf("sign-in on without --oidc-issuer: %v", c)
	}

	op, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = op.Shutdown() })
	s := start(t, func(c *config.Config) {
		c.Record = false
		c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret = op.Issuer(), op.ClientID, op.ClientSecret
	})
	if c := authConfig(t, s.url); c["oidc"] != true || c["login_url"] != "/auth/login" {
		t.Fatalf("auth config %v", c)
	}

	jar, _ := cookiejar.New(nil)
	var redirectURI string
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Path == "/oidc/authorize" {
			redirectURI = req.URL.Query().Get("redirect_uri")
		}
		if via[len(via)-1].URL.Path == signin.CallbackPath {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := browser.Get(s.url + "/auth/login?room=shop-1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if redirectURI != s.url+"/auth/callback" {
		t.Fatalf("redirect_uri %q, want %s/auth/callback", redirectURI, s.url)
	}
	loc := resp.Header.Get("Location")
	frag, ok := strings.CutPrefix(loc, "/watch/shop-1#token=")
	if resp.StatusCode != http.StatusFound || !ok {
		t.Fatalf("%d Location %q", resp.StatusCode, loc)
	}
	tok, _ := url.QueryUnescape(frag)
	c, err := s.Signer().Authorize(tok, "shop-1", auth.GrantBid)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "jane.doe" || !strings.HasPrefix(c.Subject, signin.SubjectPrefix) ||
		!slices.Equal(c.Grants, signin.Grants()) {
		t.Fatalf("claims %+v", c)
	}

	// The node's room rule applies: a name signaling refuses is refused here too.
	req, _ := http.NewRequest("GET", s.url+"/auth/login?room=a.b", nil)
	req.Header.Set("Accept", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("room a.b: %d", resp.StatusCode)
	}
}
