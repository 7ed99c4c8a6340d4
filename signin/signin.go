// Package signin signs viewers in with an OpenID Connect provider and turns the verified ID
// token into a relaycast token (auth grants subscribe, chat and bid on one room), for sites
// without a login of their own. It is the authorization-code flow with PKCE (S256), a nonce and
// a state bound to the browser by a short-lived signed cookie:
//
//	GET /auth/config                        → {"oidc": true, "login_url": "/auth/login"}
//	GET /auth/login?room=R&return=/watch/R  → 302 to the provider (sets the state cookie)
//	GET /auth/callback?code=…&state=…       → 302 to /watch/R#token=<relaycast JWT>
//
// The token travels in the URL fragment, which browsers never send to a server, so it shows up
// in no access log or Referer. docs/AUTH.md describes the flow, the claims and the error codes.
package signin

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/relaycast/relaycast/auth"
)

// Routes of the sign-in flow.
const (
	ConfigPath   = "/auth/config"
	LoginPath    = "/auth/login"
	CallbackPath = "/auth/callback"
)

// CookieName is the state cookie (Path /auth/callback, HttpOnly, SameSite=Lax, Secure when the
// public URL is https), set by /auth/login and cleared by /auth/callback.
const CookieName = "relaycast_signin"

// Defaults of Params.
const (
	DefaultTokenTTL = 12 * time.Hour
	DefaultStateTTL = 10 * time.Minute
	// providerTimeout bounds one call to the provider (discovery, keys, code exchange).
	providerTimeout = 15 * time.Second
	// retryDiscovery is how long a failed discovery is remembered before the next try.
	retryDiscovery = 5 * time.Second
	// maxReturn bounds the length of the return path.
	maxReturn = 2048
)

// Grants are what a signed-in viewer's token grants on its room.
func Grants() []auth.Grant { return []auth.Grant{auth.GrantSubscribe, auth.GrantChat, auth.GrantBid} }

// Params configures a Service. With Issuer empty sign-in is off: /auth/config says so and the
// other routes answer 404.
type Params struct {
	// Issuer, ClientID and ClientSecret identify the provider and this client (config.SignIn).
	Issuer, ClientID, ClientSecret string
	// BaseURL returns the server's public base URL (no trailing slash); the redirect URL
	// registered with the provider is BaseURL() + "/auth/callback". It is called per request,
	// so a server that learns its port only when it listens can pass its URL method.
	BaseURL func() string
	// Signer mints the relaycast tokens; its secret also keys the state cookie and the subjects.
	Signer *auth.Signer
	Logger *slog.Logger
	// ValidRoom checks the room parameter (server passes signaling.ValidRoom). Default: 1..64
	// letters, digits, '_' or '-'.
	ValidRoom func(string) bool
	// TokenTTL is the life of a minted token (default DefaultTokenTTL); StateTTL the time a
	// viewer has at the provider (default DefaultStateTTL).
	TokenTTL, StateTTL time.Duration
	// HTTPClient talks to the provider (default: a client with a 15 s timeout).
	HTTPClient *http.Client
	// Now is the clock of the state cookie's expiry and of discovery retries (default time.Now;
	// tests). The ID token's expiry is checked against time.Now.
	Now func() time.Time
}

// Service serves the sign-in routes. It is safe for concurrent use.
type Service struct {
	p        Params
	log      *slog.Logger
	stateKey []byte
	subKey   []byte
	now      func() time.Time

	ctx    context.Context // cancelled by Close; discovery runs under it
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	prov      *provider // nil until discovery succeeds
	lastErr   error     // the last discovery failure, kept until retryAt
	retryAt   time.Time
	discovery chan struct{} // non-nil while a discovery runs; closed when it ends
}

// provider is what discovery yields.
type provider struct {
	oauth    oauth2.Config // RedirectURL is filled per request
	verifier *oidc.IDTokenVerifier
}

// New returns the sign-in service. When sign-in is on it starts the provider's discovery in the
// background (logging a failure; the first login retries it), so a misconfigured issuer shows
// up in the log at start; it never blocks on the provider.
func New(p Params) (*Service, error) {
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.Signer == nil {
		return nil, fmt.Errorf("%w: no signer", ErrConfig)
	}
	if p.Issuer != "" && (p.ClientID == "" || p.ClientSecret == "" || p.BaseURL == nil) {
		return nil, fmt.Errorf("%w: an issuer needs a client id, a client secret and a base URL", ErrConfig)
	}
	if p.ValidRoom == nil {
		p.ValidRoom = defaultValidRoom
	}
	if p.TokenTTL <= 0 {
		p.TokenTTL = DefaultTokenTTL
	}
	if p.StateTTL <= 0 {
		p.StateTTL = DefaultStateTTL
	}
	if p.HTTPClient == nil {
		p.HTTPClient = &http.Client{Timeout: providerTimeout}
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		p: p, log: p.Logger.With("component", "signin"),
		stateKey: p.Signer.DeriveKey(stateKeyPurpose), subKey: p.Signer.DeriveKey(subjectKeyPurpose),
		now: p.Now, ctx: ctx, cancel: cancel,
	}
	if s.Enabled() {
		s.wg.Go(func() {
			if _, err := s.provider(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("OpenID Connect discovery failed; sign-in retries it on the next login", "issuer", p.Issuer, "err", err)
			}
		})
	}
	return s, nil
}

// Enabled reports whether OpenID Connect sign-in is configured.
func (s *Service) Enabled() bool { return s.p.Issuer != "" }

// Close stops a discovery under way and waits for it. It is idempotent, and does nothing on a
// nil *Service (a server that failed before building it).
func (s *Service) Close() error {
	if s == nil {
		return nil
	}
	s.cancel()
	s.wg.Wait()
	s.p.HTTPClient.CloseIdleConnections()
	return nil
}

// Register mounts GET /auth/config, /auth/login and /auth/callback on mux.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+ConfigPath, s.handleConfig)
	mux.HandleFunc("GET "+LoginPath, s.handleLogin)
	mux.HandleFunc("GET "+CallbackPath, s.handleCallback)
}

// ClientConfig is the answer of GET /auth/config.
type ClientConfig struct {
	OIDC     bool   `json:"oidc"`
	LoginURL string `json:"login_url,omitempty"` // only when OIDC is true
}

func (s *Service) handleConfig(w http.ResponseWriter, _ *http.Request) {
	c := ClientConfig{OIDC: s.Enabled()}
	if c.OIDC {
		c.LoginURL = LoginPath
	}
	writeJSON(w, http.StatusOK, c)
}

// notConfigured is the answer of the login and callback routes while sign-in is off.
func notConfigured() failure {
	return failure{http.StatusNotFound, "not_configured", "Sign-in is not configured on this server."}
}

func (s *Service) handleLogin(w http.ResponseWriter, r *http.Request) {
	if !s.Enabled() {
		writeFailure(w, r, notConfigured(), "")
		return
	}
	q := r.URL.Query()
	room := q.Get("room")
	if !s.p.ValidRoom(room) {
		writeFailure(w, r, failure{http.StatusBadRequest, "bad_room", "The room name is missing or not valid."}, "")
		return
	}
	ret, ok := safeReturn(q.Get("return"), room)
	if !ok {
		writeFailure(w, r, failure{http.StatusBadRequest, "bad_return",
			"The return address must be a path on this site, like /watch/" + room + "."}, "")
		return
	}
	prov, err := s.provider(r.Context())
	if err != nil {
		s.log.Warn("sign-in provider unavailable", "err", err)
		writeFailure(w, r, failure{http.StatusBadGateway, "provider_unavailable",
			"The sign-in provider cannot be reached right now. Try again in a moment."}, ret)
		return
	}
	st := pending{
		State: randomToken(32), Nonce: randomToken(32), Verifier: oauth2.GenerateVerifier(),
		Room: room, Return: ret, Expires: s.now().Add(s.p.StateTTL).Unix(),
	}
	http.SetCookie(w, s.cookie(sealState(s.stateKey, st), int(s.p.StateTTL/time.Second)))
	oc := s.oauthConfig(prov)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, oc.AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)), http.StatusFound)
}

func (s *Service) handleCallback(w http.ResponseWriter, r *http.Request) {
	if !s.Enabled() {
		writeFailure(w, r, notConfigured(), "")
		return
	}
	w.Header().Set("Referrer-Policy", "no-referrer") // the URL holds the code and state
	// The cookie is for one callback only: clear it whatever happens next.
	http.SetCookie(w, s.cookie("", -1))
	st, f := s.checkState(r)
	if f != nil {
		writeFailure(w, r, *f, "")
		return
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		msg := "The sign-in provider refused: " + clip(e, 64)
		if d := q.Get("error_description"); d != "" {
			msg += " (" + clip(d, 200) + ")"
		}
		writeFailure(w, r, failure{http.StatusUnauthorized, "provider_error", msg + "."}, st.Return)
		return
	}
	code := q.Get("code")
	if code == "" {
		writeFailure(w, r, failure{http.StatusBadRequest, "bad_request", "The provider's answer carries no code."}, st.Return)
		return
	}
	tok, f := s.mint(r.Context(), st, code)
	if f != nil {
		writeFailure(w, r, *f, st.Return)
		return
	}
	// The fragment never reaches a server: the page reads it and removes it from the address bar.
	// (Set by hand: http.Redirect would path.Clean the fragment along with the path.)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", st.Return+"#token="+url.QueryEscape(tok))
	w.WriteHeader(http.StatusFound)
}

// checkState returns the sign-in the request's cookie holds if it is genuine, unexpired and the
// one whose state the provider sent back.
func (s *Service) checkState(r *http.Request) (pending, *failure) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return pending{}, &failure{http.StatusBadRequest, "no_state",
			"This sign-in was not started in this browser, or its cookie was blocked. Start the sign-in again."}
	}
	st, err := openState(s.stateKey, c.Value, s.now())
	switch {
	case errors.Is(err, errExpired):
		return pending{}, &failure{http.StatusBadRequest, "state_expired", "The sign-in took too long. Start it again."}
	case err != nil:
		s.log.Info("sign-in refused", "reason", err)
		return pending{}, &failure{http.StatusBadRequest, "bad_state", "The sign-in state is not valid. Start the sign-in again."}
	}
	if got := r.URL.Query().Get("state"); subtle.ConstantTimeCompare([]byte(got), []byte(st.State)) != 1 {
		s.log.Info("sign-in refused", "reason", "state parameter does not match the cookie")
		return pending{}, &failure{http.StatusBadRequest, "bad_state", "The sign-in state does not match this browser's. Start the sign-in again."}
	}
	return st, nil
}

// mint exchanges the code, verifies the ID token and returns the relaycast token.
func (s *Service) mint(ctx context.Context, st pending, code string) (string, *failure) {
	prov, err := s.provider(ctx)
	if err != nil {
		s.log.Warn("sign-in provider unavailable", "err", err)
		return "", &failure{http.StatusBadGateway, "provider_unavailable", "The sign-in provider cannot be reached right now. Try again in a moment."}
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, s.p.HTTPClient), providerTimeout)
	defer cancel()
	oc := s.oauthConfig(prov)
	ot, err := oc.Exchange(ctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		s.log.Warn("sign-in code exchange failed", "err", fmt.Errorf("%w: %w", ErrProvider, err))
		return "", &failure{http.StatusBadGateway, "exchange_failed", "The sign-in provider did not accept the sign-in. Start it again."}
	}
	raw, _ := ot.Extra("id_token").(string)
	if raw == "" {
		s.log.Warn("sign-in: the provider returned no ID token (is the openid scope allowed for this client?)")
		return "", &failure{http.StatusBadGateway, "exchange_failed", "The sign-in provider returned no ID token."}
	}
	idt, err := prov.verifier.Verify(ctx, raw) // signature, issuer, audience, expiry
	if err != nil {
		s.log.Info("sign-in refused", "reason", fmt.Errorf("%w: %w", ErrIDToken, err))
		return "", &failure{http.StatusUnauthorized, "bad_id_token", "The provider's ID token did not verify. Start the sign-in again."}
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		s.log.Info("sign-in refused", "reason", "ID token nonce does not match")
		return "", &failure{http.StatusUnauthorized, "bad_nonce", "The provider's ID token is not for this sign-in. Start the sign-in again."}
	}
	subject, err := subjectFor(s.subKey, s.p.Issuer, idt.Subject)
	if err != nil {
		s.log.Info("sign-in refused", "reason", err)
		return "", &failure{http.StatusUnauthorized, "bad_id_token", "The provider's ID token names no usable account."}
	}
	var prof profile
	if err := idt.Claims(&prof); err != nil {
		prof = profile{} // a claim of the wrong type: no name from it
	}
	name := displayName(prof)
	tok, err := s.p.Signer.IssueClaims(auth.Claims{Room: st.Room, Grants: Grants(), Subject: subject, Name: name}, s.p.TokenTTL)
	if err != nil {
		s.log.Error("sign-in: cannot mint token", "err", err)
		return "", &failure{http.StatusInternalServerError, "internal", "The server could not finish the sign-in."}
	}
	// The provider's account id goes to the operator's log only, so the hashed subject can be
	// traced back to an account when needed.
	s.log.Info("signed in", "room", st.Room, "subject", subject, "provider_sub", idt.Subject)
	return tok, nil
}

// provider returns the discovered provider, running discovery when there is none yet (one at a
// time; a failure is remembered for retryDiscovery so a dead provider is not hammered).
func (s *Service) provider(ctx context.Context) (*provider, error) {
	for {
		s.mu.Lock()
		if s.prov != nil {
			p := s.prov
			s.mu.Unlock()
			return p, nil
		}
		if s.lastErr != nil && s.now().Before(s.retryAt) {
			err := s.lastErr
			s.mu.Unlock()
			return nil, err
		}
		if wait := s.discovery; wait != nil {
			s.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("%w: %w", ErrProvider, ctx.Err())
			}
		}
		done := make(chan struct{})
		s.discovery = done
		s.mu.Unlock()

		p, err := s.discover()
		s.mu.Lock()
		s.prov, s.discovery = p, nil
		if err != nil {
			s.lastErr, s.retryAt = err, s.now().Add(retryDiscovery)
		} else {
			s.lastErr = nil
		}
		s.mu.Unlock()
		close(done)
		return p, err
	}
}

// discover fetches the provider's discovery document (under the service's own context, so a
// cancelled request does not waste a discovery others wait for).
func (s *Service) discover() (*provider, error) {
	ctx, cancel := context.WithTimeout(oidc.ClientContext(s.ctx, s.p.HTTPClient), providerTimeout)
	defer cancel()
	op, err := oidc.NewProvider(ctx, s.p.Issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: discovery of %s: %w", ErrProvider, s.p.Issuer, err)
	}
	return &provider{
		oauth: oauth2.Config{
			ClientID: s.p.ClientID, ClientSecret: s.p.ClientSecret, Endpoint: op.Endpoint(),
			Scopes: []string{oidc.ScopeOpenID, "profile", "email"},
		},
		// Keys are fetched with the service's client, not bound to one request.
		verifier: op.VerifierContext(oidc.ClientContext(context.Background(), s.p.HTTPClient), &oidc.Config{ClientID: s.p.ClientID}),
	}, nil
}

// oauthConfig is the provider's OAuth2 config with this server's redirect URL.
func (s *Service) oauthConfig(p *provider) *oauth2.Config {
	oc := p.oauth
	oc.RedirectURL = strings.TrimRight(s.p.BaseURL(), "/") + CallbackPath
	return &oc
}

// cookie is the state cookie with value, living maxAge seconds (-1: delete it).
func (s *Service) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: CookieName, Value: value, Path: CallbackPath, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: strings.HasPrefix(s.p.BaseURL(), "https://"),
	}
}

// safeReturn checks the return parameter: a clean path on this site ("/watch/shop?x=1"), never
// an absolute or scheme-relative URL ("https://evil", "//evil", "/\evil", "/.//evil"), without
// a fragment, dot segments, empty segments, white space or control characters. Empty means
// "/watch/" + room.
func safeReturn(ret, room string) (string, bool) {
	if ret == "" {
		return "/watch/" + url.PathEscape(room), true
	}
	if len(ret) > maxReturn || !strings.HasPrefix(ret, "/") || strings.HasPrefix(ret, "//") ||
		strings.ContainsAny(ret, `\#`) || strings.ContainsFunc(ret, func(r rune) bool { return r <= ' ' || r == 0x7f || unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return "", false
	}
	u, err := url.Parse(ret)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "", false
	}
	// No "//", "/./" or "/../" in the path, decoded or not: what the browser resolves is what was checked.
	for _, p := range []string{u.Path, u.EscapedPath()} {
		clean := path.Clean(p)
		if strings.HasSuffix(p, "/") && clean != "/" {
			clean += "/"
		}
		if clean != p || strings.Contains(p, "//") {
			return "", false
		}
	}
	return ret, true
}

// defaultValidRoom accepts 1..64 letters, digits, '_' and '-', not starting with a symbol.
func defaultValidRoom(room string) bool {
	if room == "" || len(room) > 64 {
		return false
	}
	for i, r := range room {
		ok := r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || (i > 0 && (r == '_' || r == '-')))
		if !ok {
			return false
		}
	}
	return true
}

// clip cuts s to n bytes of printable text for an error page (html/template escapes it).
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}
