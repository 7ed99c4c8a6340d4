package signin

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/relaycast/relaycast/auth"
)

// testUser is a provider account with exactly the claims a test wants; nonce, when set,
// replaces the nonce the provider would put in the ID token (a replayed or foreign token).
type testUser struct {
	sub, name, preferred, email string
	nonce                       string
}

func (u testUser) ID() string { return u.sub }

func (u testUser) Userinfo([]string) ([]byte, error) {
	return json.Marshal(map[string]string{"sub": u.sub, "email": u.email})
}

func (u testUser) Claims(_ []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	if u.nonce != "" {
		base.Nonce = u.nonce
	}
	return &struct {
		*mockoidc.IDTokenClaims
		Name              string `json:"name,omitempty"`
		PreferredUsername string `json:"preferred_username,omitempty"`
		Email             string `json:"email,omitempty"`
	}{base, u.name, u.preferred, u.email}, nil
}

// rig is one provider (mockoidc on loopback) and one relaycast site serving the sign-in routes.
type rig struct {
	op     *mockoidc.MockOIDC
	site   *httptest.Server
	svc    *Service
	signer *auth.Signer
	skew   atomic.Int64 // added to the service's clock
}

// newRig starts the provider and the site; edit may change both before the service starts.
func newRig(t *testing.T, edit func(*mockoidc.MockOIDC, *Params)) *rig {
	t.Helper()
	op, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = op.Shutdown() })
	signer, err := auth.NewSigner([]byte("signin-test-secret-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /watch/{room}", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "watch page") })
	site := httptest.NewServer(mux)
	t.Cleanup(site.Close)
	r := &rig{op: op, site: site, signer: signer}
	p := Params{
		Issuer: op.Issuer(), ClientID: op.ClientID, ClientSecret: op.ClientSecret,
		BaseURL: func() string { return site.URL }, Signer: signer,
		Now: func() time.Time { return time.Now().Add(time.Duration(r.skew.Load())) },
	}
	if edit != nil {
		edit(op, &p)
	}
	if r.svc, err = New(p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.svc.Close() })
	r.svc.Register(mux)
	return r
}

// browser is a cookie-jar client that follows redirects (the provider approves at once) and
// stops at the callback's answer, whose Location carries the token.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(_ *http.Request, via []*http.Request) error {
		if strings.HasPrefix(via[len(via)-1].URL.Path, CallbackPath) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

// noFollow is a cookie-jar client that never follows a redirect.
func noFollow(t *testing.T) *http.Client {
	c := browser(t)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

func get(t *testing.T, c *http.Client, u string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// refused checks a JSON error answer.
func refused(t *testing.T, resp *http.Response, status int, code string) {
	t.Helper()
	var body struct{ Error, Code string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("status %d, body not JSON: %v", resp.StatusCode, err)
	}
	if resp.StatusCode != status || body.Code != code || body.Error == "" {
		t.Fatalf("got %d %+v, want %d code %q", resp.StatusCode, body, status, code)
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		t.Fatalf("refusal redirects to %q", loc)
	}
}

// tokenFrom checks the callback's redirect to wantPath and returns the token in its fragment.
func tokenFrom(t *testing.T, resp *http.Response, wantPath string) string {
	t.Helper()
	if resp.StatusCode != http.StatusFound {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("callback answered %d: %s", resp.StatusCode, b)
	}
	loc := resp.Header.Get("Location")
	path, frag, ok := strings.Cut(loc, "#")
	if !ok || path != wantPath || !strings.HasPrefix(frag, "token=") {
		t.Fatalf("Location = %q, want %s#token=…", loc, wantPath)
	}
	tok, err := url.QueryUnescape(strings.TrimPrefix(frag, "token="))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestSignInFlow(t *testing.T) {
	r := newRig(t, nil)
	r.op.QueueUser(testUser{sub: "user-1", name: "Zoë Ünal", preferred: "zoe", email: "zoe@example.com"})
	start := time.Now().Truncate(time.Second)
	resp := get(t, browser(t), r.site.URL+LoginPath+"?room=shop&return="+url.QueryEscape("/watch/shop?quality=low"))
	tok := tokenFrom(t, resp, "/watch/shop?quality=low")

	c, err := r.signer.Verify(tok)
	if err != nil {
		t.Fatalf("minted token does not verify: %v", err)
	}
	if c.Room != "shop" || c.Name != "Zoë Ünal" || !slices.Equal(c.Grants, []auth.Grant{auth.GrantSubscribe, auth.GrantChat, auth.GrantBid}) {
		t.Fatalf("claims = %+v", c)
	}
	if !strings.HasPrefix(c.Subject, SubjectPrefix) || len(c.Subject) != len(SubjectPrefix)+22 || strings.Contains(c.Subject, "user-1") {
		t.Fatalf("subject = %q, want oidc:<22 chars> hiding the provider's sub", c.Subject)
	}
	if got := c.ExpiresAt.Sub(c.IssuedAt); got != DefaultTokenTTL || c.IssuedAt.Before(start) {
		t.Fatalf("token lives %s from %s", got, c.IssuedAt)
	}
	for _, g := range []auth.Grant{auth.GrantSubscribe, auth.GrantChat, auth.GrantBid} {
		if _, err := r.signer.Authorize(tok, "shop", g); err != nil {
			t.Errorf("%s on shop: %v", g, err)
		}
	}
	for _, g := range []auth.Grant{auth.GrantModerate, auth.GrantPublish} {
		if _, err := r.signer.Authorize(tok, "shop", g); !errors.Is(err, auth.ErrForbidden) {
			t.Errorf("%s on shop: %v, want forbidden", g, err)
		}
	}
	if _, err := r.signer.Authorize(tok, "other", auth.GrantChat); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("token works on another room: %v", err)
	}

	// The same account signs in again (another room, default return): the same subject.
	// Another account: another subject.
	r.op.QueueUser(testUser{sub: "user-1", preferred: "zoe"})
	again, err := r.signer.Verify(tokenFrom(t, get(t, browser(t), r.site.URL+LoginPath+"?room=garage-2"), "/watch/garage-2"))
	if err != nil {
		t.Fatal(err)
	}
	r.op.QueueUser(testUser{sub: "user-2", preferred: "zoe"})
	other, err := r.signer.Verify(tokenFrom(t, get(t, browser(t), r.site.URL+LoginPath+"?room=shop"), "/watch/shop"))
	if err != nil {
		t.Fatal(err)
	}
	if again.Subject != c.Subject || again.Room != "garage-2" || again.Name != "zoe" {
		t.Fatalf("second sign-in: %+v, want subject %s", again, c.Subject)
	}
	if other.Subject == c.Subject {
		t.Fatal("two accounts share a subject")
	}
}

// TestLoginRequest checks what /auth/login hands the provider and the browser: PKCE S256, a
// nonce, the state, the registered redirect URL; a signed, HttpOnly, SameSite=Lax cookie.
func TestLoginRequest(t *testing.T) {
	r := newRig(t, func(_ *mockoidc.MockOIDC, p *Params) { p.StateTTL = 3 * time.Minute })
	resp := get(t, noFollow(t), r.site.URL+LoginPath+"?room=shop")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	if loc.Scheme+"://"+loc.Host+loc.Path != r.op.AuthorizationEndpoint() {
		t.Fatalf("redirects to %s, want the provider's authorization endpoint", loc)
	}
	if q.Get("client_id") != r.op.ClientID || q.Get("response_type") != "code" ||
		q.Get("redirect_uri") != r.site.URL+CallbackPath || q.Get("code_challenge_method") != "S256" ||
		len(q.Get("code_challenge")) != 43 || len(q.Get("state")) < 40 || len(q.Get("nonce")) < 40 ||
		!slices.Contains(strings.Fields(q.Get("scope")), "openid") || q.Get("state") == q.Get("nonce") {
		t.Fatalf("authorization request %v", q)
	}
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == CookieName {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != CallbackPath || ck.MaxAge != 180 || ck.Secure {
		t.Fatalf("state cookie %+v", ck)
	}
	for _, secret := range []string{q.Get("code_challenge"), r.op.ClientSecret} {
		if strings.Contains(ck.Value, secret) {
			t.Fatal("cookie carries something it should not")
		}
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
}

// step runs the flow up to the provider's redirect back: the callback URL (code and state)
// and the browser holding the state cookie.
func step(t *testing.T, r *rig, query string) (*http.Client, *url.URL) {
	t.Helper()
	c := noFollow(t)
	resp := get(t, c, r.site.URL+LoginPath+"?"+query)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	resp = get(t, c, resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("provider: %d", resp.StatusCode)
	}
	cb, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || cb.Path != CallbackPath {
		t.Fatalf("provider redirects to %q", resp.Header.Get("Location"))
	}
	return c, cb
}

func withQuery(u *url.URL, key, value string) string {
	v := *u
	q := v.Query()
	q.Set(key, value)
	v.RawQuery = q.Encode()
	return v.String()
}

func TestCallbackRefusals(t *testing.T) {
	r := newRig(t, nil)

	t.Run("forged state", func(t *testing.T) {
		c, cb := step(t, r, "room=shop")
		refused(t, get(t, c, withQuery(cb, "state", strings.Repeat("A", 43))), 400, "bad_state")
		// The cookie is gone with the refusal: the genuine callback cannot be played after it.
		refused(t, get(t, c, cb.String()), 400, "no_state")
	})
	t.Run("missing cookie", func(t *testing.T) {
		_, cb := step(t, r, "room=shop")
		refused(t, get(t, noFollow(t), cb.String()), 400, "no_state")
	})
	t.Run("another browser's cookie", func(t *testing.T) {
		c1, _ := step(t, r, "room=shop")
		_, cb2 := step(t, r, "room=shop")
		refused(t, get(t, c1, cb2.String()), 400, "bad_state")
	})
	t.Run("tampered cookie", func(t *testing.T) {
		c, cb := step(t, r, "room=shop")
		u, _ := url.Parse(r.site.URL + CallbackPath)
		ck := c.Jar.Cookies(u)[0]
		enc, sig, _ := strings.Cut(ck.Value, ".")
		raw, err := base64.RawURLEncoding.DecodeString(enc)
		if err != nil {
			t.Fatal(err)
		}
		var st map[string]any
		if err := json.Unmarshal(raw, &st); err != nil || st["r"] != "shop" || st["s"] != cb.Query().Get("state") {
			t.Fatalf("cookie payload %s", raw)
		}
		st["r"] = "admin-room" // same signature, another room
		raw, _ = json.Marshal(st)
		ck.Value, ck.Path = base64.RawURLEncoding.EncodeToString(raw)+"."+sig, CallbackPath
		c.Jar.SetCookies(u, []*http.Cookie{ck})
		if got := c.Jar.Cookies(u); len(got) != 1 || got[0].Value != ck.Value {
			t.Fatalf("jar holds %v", got)
		}
		refused(t, get(t, c, cb.String()), 400, "bad_state")
	})
	t.Run("expired state", func(t *testing.T) {
		c, cb := step(t, r, "room=shop")
		r.skew.Store(int64(DefaultStateTTL + time.Second))
		defer r.skew.Store(0)
		refused(t, get(t, c, cb.String()), 400, "state_expired")
	})
	t.Run("wrong nonce", func(t *testing.T) {
		r.op.QueueUser(testUser{sub: "user-1", name: "Mallory", nonce: "a-nonce-from-another-sign-in"})
		c, cb := step(t, r, "room=shop")
		refused(t, get(t, c, cb.String()), 401, "bad_nonce")
	})
	t.Run("code replayed", func(t *testing.T) {
		c, cb := step(t, r, "room=shop")
		tokenFrom(t, get(t, c, cb.String()), "/watch/shop")
		refused(t, get(t, c, cb.String()), 400, "no_state")
	})
	t.Run("provider error", func(t *testing.T) {
		c, cb := step(t, r, "room=shop")
		v := *cb
		v.RawQuery = url.Values{"state": {cb.Query().Get("state")}, "error": {"access_denied"}, "error_description": {"<b>no</b>"}}.Encode()
		resp := get(t, c, v.String())
		var body struct{ Error, Code string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		if resp.StatusCode != 401 || body.Code != "provider_error" || !strings.Contains(body.Error, "access_denied") {
			t.Fatalf("%d %+v", resp.StatusCode, body)
		}
	})
	t.Run("no code", func(t *testing.T) {
		c, cb := step(t, r, "room=shop")
		v := *cb
		v.RawQuery = url.Values{"state": {cb.Query().Get("state")}}.Encode()
		refused(t, get(t, c, v.String()), 400, "bad_request")
	})
	t.Run("expired ID token", func(t *testing.T) {
		// The provider's clock is an hour behind: its ID tokens are stale on arrival.
		r := newRig(t, func(op *mockoidc.MockOIDC, _ *Params) { op.FastForward(-time.Hour) })
		c, cb := step(t, r, "room=shop")
		refused(t, get(t, c, cb.String()), 401, "bad_id_token")
	})
}

func TestLoginRefusals(t *testing.T) {
	r := newRig(t, nil)
	tests := []struct {
		name, query, code string
	}{
		{"no room", "", "bad_room"},
		{"every room", "room=*", "bad_room"},
		{"bad room", "room=" + url.QueryEscape("../x"), "bad_room"},
		{"long room", "room=" + strings.Repeat("r", 65), "bad_room"},
		{"absolute URL", "room=shop&return=" + url.QueryEscape("https://evil.example/watch/shop"), "bad_return"},
		{"scheme-relative", "room=shop&return=" + url.QueryEscape("//evil.example/x"), "bad_return"},
		{"backslash", "room=shop&return=" + url.QueryEscape(`/\evil.example`), "bad_return"},
		{"backslashes", "room=shop&return=" + url.QueryEscape(`\\evil.example`), "bad_return"},
		{"javascript", "room=shop&return=" + url.QueryEscape("javascript:alert(1)"), "bad_return"},
		{"relative", "room=shop&return=" + url.QueryEscape("evil.example"), "bad_return"},
		{"dot segment to //", "room=shop&return=" + url.QueryEscape("/.//evil.example"), "bad_return"},
		{"encoded dot segments", "room=shop&return=" + url.QueryEscape("/%2e%2e/admin"), "bad_return"},
		{"empty segment", "room=shop&return=" + url.QueryEscape("/watch//shop"), "bad_return"},
		{"tab", "room=shop&return=" + url.QueryEscape("/\t/evil.example"), "bad_return"},
		{"newline", "room=shop&return=" + url.QueryEscape("/watch/shop\r\nSet-Cookie: x=1"), "bad_return"},
		{"fragment", "room=shop&return=" + url.QueryEscape("/watch/shop#token=forged"), "bad_return"},
		{"user info", "room=shop&return=" + url.QueryEscape("https://a@evil.example"), "bad_return"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, noFollow(t), r.site.URL+LoginPath+"?"+tt.query)
			refused(t, resp, http.StatusBadRequest, tt.code)
			if len(resp.Cookies()) != 0 {
				t.Fatal("refusal sets a cookie")
			}
		})
	}
	for _, ok := range []string{"/watch/shop", "/watch/shop?quality=low&x=%2F", "/", "/studio/shop/", "/watch/caf%C3%A9"} {
		if got, valid := safeReturn(ok, "shop"); !valid || got != ok {
			t.Errorf("safeReturn(%q) = %q, %v", ok, got, valid)
		}
	}
}

func TestErrorPageIsHTML(t *testing.T) {
	r := newRig(t, nil)
	resp, err := http.Get(r.site.URL + CallbackPath + "?state=x&code=y")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(b), "Sign-in failed") || !strings.Contains(string(b), "no_state") {
		t.Fatalf("%d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}

	// Provider text is escaped, never markup.
	c, cb := step(t, r, "room=shop")
	v := *cb
	v.RawQuery = url.Values{"state": {cb.Query().Get("state")}, "error": {"<script>alert(1)</script>"}}.Encode()
	req, _ := http.NewRequest("GET", v.String(), nil)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ = io.ReadAll(resp.Body)
	if strings.Contains(string(b), "<script>") || !strings.Contains(string(b), "&lt;script&gt;") {
		t.Fatalf("provider error not escaped: %s", b)
	}
}

func TestProviderProblems(t *testing.T) {
	t.Run("wrong client secret", func(t *testing.T) {
		r := newRig(t, func(_ *mockoidc.MockOIDC, p *Params) { p.ClientSecret = "not-the-secret" })
		c, cb := step(t, r, "room=shop")
		refused(t, get(t, c, cb.String()), http.StatusBadGateway, "exchange_failed")
	})
	t.Run("issuer mismatch", func(t *testing.T) {
		r := newRig(t, func(_ *mockoidc.MockOIDC, p *Params) { p.Issuer += "/" })
		refused(t, get(t, noFollow(t), r.site.URL+LoginPath+"?room=shop"), http.StatusBadGateway, "provider_unavailable")
	})
	t.Run("unreachable provider", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		r := newRig(t, func(_ *mockoidc.MockOIDC, p *Params) { p.Issuer = dead.URL })
		refused(t, get(t, noFollow(t), r.site.URL+LoginPath+"?room=shop"), http.StatusBadGateway, "provider_unavailable")
	})
	t.Run("provider comes back", func(t *testing.T) {
		// The first discovery (at start) meets a 500; logins within retryDiscovery get the
		// remembered failure without asking again; after it, discovery is tried again and works.
		r := newRig(t, func(op *mockoidc.MockOIDC, _ *Params) {
			op.QueueError(&mockoidc.ServerError{Code: http.StatusInternalServerError, Error: "server_error"})
		})
		refused(t, get(t, noFollow(t), r.site.URL+LoginPath+"?room=shop"), http.StatusBadGateway, "provider_unavailable")
		r.skew.Store(int64(retryDiscovery))
		tokenFrom(t, get(t, browser(t), r.site.URL+LoginPath+"?room=shop"), "/watch/shop")
	})
}

func TestDisabled(t *testing.T) {
	signer, _ := auth.NewSigner([]byte("signin-test-secret-0123456789"))
	svc, err := New(Params{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	mux := http.NewServeMux()
	svc.Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", ConfigPath, nil))
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"oidc":false}` {
		t.Fatalf("config: %d %s", rec.Code, rec.Body)
	}
	for _, p := range []string{LoginPath + "?room=shop", CallbackPath + "?code=x&state=y"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", p, nil)
		req.Header.Set("Accept", "application/json")
		mux.ServeHTTP(rec, req)
		if rec.Code != 404 || !strings.Contains(rec.Body.String(), `"not_configured"`) {
			t.Fatalf("%s: %d %s", p, rec.Code, rec.Body)
		}
	}
	if _, err := New(Params{Signer: signer, Issuer: "https://x.example"}); !errors.Is(err, ErrConfig) {
		t.Fatalf("issuer without client: %v", err)
	}
	if _, err := New(Params{}); !errors.Is(err, ErrConfig) {
		t.Fatalf("no signer: %v", err)
	}
}

func TestEnabledConfig(t *testing.T) {
	r := newRig(t, nil)
	resp := get(t, noFollow(t), r.site.URL+ConfigPath)
	var c map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || c["oidc"] != true || c["login_url"] != LoginPath || len(c) != 2 {
		t.Fatalf("%d %v", resp.StatusCode, c)
	}
}
