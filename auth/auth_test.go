package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func newTestSigner(t *testing.T, now time.Time) *Signer {
	t.Helper()
	s, err := NewSigner(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return now }
	return s
}

func TestNewSigner(t *testing.T) {
	tests := []struct {
		name    string
		secret  []byte
		wantErr error
	}{
		{"nil", nil, ErrWeakSecret},
		{"15 bytes", []byte("0123456789abcde"), ErrWeakSecret},
		{"16 bytes", []byte("0123456789abcdef"), nil},
		{"64 bytes", []byte(strings.Repeat("x", 64)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSigner(tt.secret)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestIssueRejectsBadClaims(t *testing.T) {
	s := newTestSigner(t, time.Now())
	tests := []struct {
		name   string
		room   string
		grants []Grant
		ttl    time.Duration
	}{
		{"empty room", "", []Grant{GrantPublish}, time.Hour},
		{"no grants", "r", nil, time.Hour},
		{"unknown grant", "r", []Grant{"root"}, time.Hour},
		{"zero ttl", "r", []Grant{GrantPublish}, 0},
		{"negative ttl", "r", []Grant{GrantPublish}, -time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Issue(tt.room, tt.grants, tt.ttl, ""); !errors.Is(err, ErrBadClaims) {
				t.Fatalf("err = %v, want ErrBadClaims", err)
			}
		})
	}
}

func TestIssueClaimsJSON(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := newTestSigner(t, now)
	tok, err := s.Issue("shop", []Grant{GrantPublish, GrantSubscribe}, time.Hour, "alice")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if !strings.Contains(string(hdr), `"alg":"HS256"`) {
		t.Errorf("header = %s", hdr)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(payload, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"iss":    "relaycast",
		"sub":    "alice",
		"room":   "shop",
		"grants": []any{"publish", "subscribe"},
		"iat":    float64(1_700_000_000),
		"exp":    float64(1_700_003_600),
	}
	if len(got) != len(want) {
		t.Errorf("claims = %v, want keys of %v", got, want)
	}
	for k, w := range want {
		gb, _ := json.Marshal(got[k])
		wb, _ := json.Marshal(w)
		if string(gb) != string(wb) {
			t.Errorf("claim %q = %s, want %s", k, gb, wb)
		}
	}
}

// signRaw signs arbitrary claims with method and key, bypassing Issue.
func signRaw(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// minter returns a function that signs (HS256, testSecret) a valid token for room "shop" with
// grant, expiring an hour after now, after edit has changed its claims.
func minter(t *testing.T, now time.Time, grant string) func(edit func(jwt.MapClaims)) string {
	return func(edit func(jwt.MapClaims)) string {
		c := jwt.MapClaims{"iss": "relaycast", "room": "shop", "grants": []string{grant}, "exp": now.Add(time.Hour).Unix()}
		edit(c)
		return signRaw(t, jwt.SigningMethodHS256, testSecret, c)
	}
}

func TestVerifyAndAuthorize(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := newTestSigner(t, now)
	issue := func(room string, grants []Grant, ttl time.Duration, sub string) string {
		tok, err := s.Issue(room, grants, ttl, sub)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	other, err := NewSigner([]byte("another-secret-of-enough-length"))
	if err != nil {
		t.Fatal(err)
	}
	other.now = s.now
	forged, err := other.Issue("shop", []Grant{GrantPublish}, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	good := issue("shop", []Grant{GrantPublish}, time.Hour, "alice")
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(
		[]byte(`{"iss":"relaycast","room":"*","grants":["admin"],"exp":1800000000}`)) + "." + parts[2]
	noneTok := signRaw(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{
		"iss": "relaycast", "room": "shop", "grants": []string{"publish"}, "exp": now.Add(time.Hour).Unix(),
	})
	hs512 := signRaw(t, jwt.SigningMethodHS512, testSecret, jwt.MapClaims{
		"iss": "relaycast", "room": "shop", "grants": []string{"publish"}, "exp": now.Add(time.Hour).Unix(),
	})
	validMap := minter(t, now, "publish")

	tests := []struct {
		name    string
		token   string
		room    string
		grant   Grant
		wantErr error // for Authorize
		verify  error // for Verify; defaults to wantErr unless wantErr is ErrForbidden
	}{
		{name: "publish ok", token: good, room: "shop", grant: GrantPublish},
		{name: "wrong grant", token: good, room: "shop", grant: GrantSubscribe, wantErr: ErrForbidden},
		{name: "admin grant needed", token: good, room: "shop", grant: GrantAdmin, wantErr: ErrForbidden},
		{name: "wrong room", token: good, room: "other", grant: GrantPublish, wantErr: ErrForbidden},
		{name: "empty room asked", token: good, room: "", grant: GrantPublish, wantErr: ErrForbidden},
		{name: "subscribe ok", token: issue("shop", []Grant{GrantSubscribe}, time.Hour, ""), room: "shop", grant: GrantSubscribe},
		{name: "admin implies publish", token: issue("shop", []Grant{GrantAdmin}, time.Hour, ""), room: "shop", grant: GrantPublish},
		{name: "admin implies subscribe", token: issue("shop", []Grant{GrantAdmin}, time.Hour, ""), room: "shop", grant: GrantSubscribe},
		{name: "admin still room bound", token: issue("shop", []Grant{GrantAdmin}, time.Hour, ""), room: "x", grant: GrantSubscribe, wantErr: ErrForbidden},
		{name: "wildcard room admin", token: issue(AnyRoom, []Grant{GrantAdmin}, time.Hour, ""), room: "anything", grant: GrantPublish},
		{name: "wildcard room subscribe", token: issue(AnyRoom, []Grant{GrantSubscribe}, time.Hour, ""), room: "anything", grant: GrantSubscribe},
		{name: "wildcard room lacks grant", token: issue(AnyRoom, []Grant{GrantSubscribe}, time.Hour, ""), room: "anything", grant: GrantPublish, wantErr: ErrForbidden},
		{name: "empty token", token: "", room: "shop", grant: GrantPublish, wantErr: ErrNoToken},
		{name: "garbage", token: "not-a-jwt", room: "shop", grant: GrantPublish, wantErr: ErrInvalidToken},
		{name: "expired", token: validMap(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Second).Unix() }), room: "shop", grant: GrantPublish, wantErr: ErrExpired},
		{name: "no exp", token: validMap(func(c jwt.MapClaims) { delete(c, "exp") }), room: "shop", grant: GrantPublish, wantErr: ErrInvalidToken},
		{name: "wrong issuer", token: validMap(func(c jwt.MapClaims) { c["iss"] = "someone" }), room: "shop", grant: GrantPublish, wantErr: ErrInvalidToken},
		{name: "no issuer", token: validMap(func(c jwt.MapClaims) { delete(c, "iss") }), room: "shop", grant: GrantPublish, wantErr: ErrInvalidToken},
		{name: "no room claim", token: validMap(func(c jwt.MapClaims) { delete(c, "room") }), room: "shop", grant: GrantPublish, wantErr: ErrInvalidToken},
		{name: "unknown grant claim", token: validMap(func(c jwt.MapClaims) { c["grants"] = []string{"root"} }), room: "shop", grant: GrantPublish, wantErr: ErrInvalidToken},
		{name: "not yet valid", token: validMap(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() }), room: "shop", grant: GrantPublish, wantErr: ErrInvalidToken},
		{name: "forged signature (other key)", token: forged, room: "shop", grant: GrantPublish, wantErr: ErrInvalidToken},
		{name: "tampered payload", token: tampered, room: "shop", grant: GrantPublish, wantErr: ErrInvalidToken},
		{name: "alg none", token: noneTok, room: "shop", grant: GrantPublish, wantErr: ErrInvalidToken},
		{name: "alg HS512", token: hs512, room: "shop", grant: GrantPublish, wantErr: ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := s.Authorize(tt.token, tt.room, tt.grant)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Authorize err = %v, want %v", err, tt.wantErr)
			}
			if err != nil && (c.Room != "" || c.Grants != nil) {
				t.Errorf("Authorize returned claims %+v with error", c)
			}
			wantVerify := tt.wantErr
			if errors.Is(wantVerify, ErrForbidden) {
				wantVerify = nil
			}
			if _, err := s.Verify(tt.token); !errors.Is(err, wantVerify) {
				t.Fatalf("Verify err = %v, want %v", err, wantVerify)
			}
		})
	}
}

func TestVerifyRoundTrip(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := newTestSigner(t, now)
	tok, err := s.Issue("shop", []Grant{GrantPublish}, 90*time.Minute, "alice")
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Room != "shop" || c.Subject != "alice" || len(c.Grants) != 1 || c.Grants[0] != GrantPublish ||
		!c.IssuedAt.Equal(now) || !c.ExpiresAt.Equal(now.Add(90*time.Minute)) {
		t.Fatalf("claims = %+v", c)
	}
	// Just before and just after expiry.
	s.now = func() time.Time { return now.Add(90*time.Minute - time.Second) }
	if _, err := s.Verify(tok); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	s.now = func() time.Time { return now.Add(90*time.Minute + time.Second) }
	if _, err := s.Verify(tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("after expiry: err = %v, want ErrExpired", err)
	}
}

func TestClaimsAllows(t *testing.T) {
	tests := []struct {
		name   string
		claims Claims
		room   string
		grant  Grant
		want   bool
	}{
		{"exact", Claims{Room: "a", Grants: []Grant{GrantPublish}}, "a", GrantPublish, true},
		{"other room", Claims{Room: "a", Grants: []Grant{GrantPublish}}, "b", GrantPublish, false},
		{"missing grant", Claims{Room: "a", Grants: []Grant{GrantPublish}}, "a", GrantSubscribe, false},
		{"admin implies", Claims{Room: "a", Grants: []Grant{GrantAdmin}}, "a", GrantSubscribe, true},
		{"wildcard", Claims{Room: "*", Grants: []Grant{GrantSubscribe}}, "zz", GrantSubscribe, true},
		{"empty room never", Claims{Room: "*", Grants: []Grant{GrantAdmin}}, "", GrantAdmin, false},
		{"zero claims", Claims{}, "a", GrantSubscribe, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.claims.Allows(tt.room, tt.grant); got != tt.want {
				t.Fatalf("Allows = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTokenFromRequest(t *testing.T) {
	tests := []struct {
		name   string
		url    string
		header string
		want   string
	}{
		{"none", "/ws", "", ""},
		{"bearer", "/whip/a", "Bearer abc.def.ghi", "abc.def.ghi"},
		{"bearer lowercase scheme", "/whip/a", "bearer tok", "tok"},
		{"bearer wins over query", "/whip/a?token=q", "Bearer h", "h"},
		{"query", "/ws?token=q.r.s", "", "q.r.s"},
		{"basic auth ignored", "/ws?token=q", "Basic dXNlcjpwYXNz", "q"},
		{"empty bearer falls back", "/ws?token=q", "Bearer ", "q"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tt.url, nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			if got := TokenFromRequest(r); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestResolveSecret(t *testing.T) {
	t.Run("flag wins", func(t *testing.T) {
		dir := t.TempDir()
		sec, gen, err := ResolveSecret("flag-secret-0123456789", dir)
		if err != nil || gen || string(sec) != "flag-secret-0123456789" {
			t.Fatalf("got %q %v %v", sec, gen, err)
		}
		if _, err := os.Stat(filepath.Join(dir, SecretFileName)); !os.IsNotExist(err) {
			t.Fatalf("flag secret must not write a file: %v", err)
		}
	})
	t.Run("short flag rejected", func(t *testing.T) {
		if _, _, err := ResolveSecret("short", t.TempDir()); !errors.Is(err, ErrWeakSecret) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("generate then reuse", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "nested", "data")
		sec, gen, err := ResolveSecret("", dir)
		if err != nil || !gen || len(sec) != 64 {
			t.Fatalf("got %q %v %v", sec, gen, err)
		}
		fi, err := os.Stat(filepath.Join(dir, SecretFileName))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("secret file mode = %v, want 0600", fi.Mode().Perm())
		}
		di, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if di.Mode().Perm() != 0o700 {
			t.Errorf("data dir mode = %v, want 0700", di.Mode().Perm())
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Errorf("data dir holds %d entries, want only the secret", len(entries))
		}
		again, gen, err := ResolveSecret("", dir)
		if err != nil || gen || string(again) != string(sec) {
			t.Fatalf("second call: %q %v %v", again, gen, err)
		}
		if _, err := NewSigner(sec); err != nil {
			t.Fatalf("generated secret unusable: %v", err)
		}
	})
	t.Run("existing file trimmed", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, SecretFileName), []byte("  kept-secret-0123456789\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		sec, gen, err := ResolveSecret("", dir)
		if err != nil || gen || string(sec) != "kept-secret-0123456789" {
			t.Fatalf("got %q %v %v", sec, gen, err)
		}
	})
	t.Run("short file rejected, not overwritten", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, SecretFileName)
		if err := os.WriteFile(path, []byte("tiny"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ResolveSecret("", dir); !errors.Is(err, ErrWeakSecret) {
			t.Fatalf("err = %v", err)
		}
		if b, _ := os.ReadFile(path); string(b) != "tiny" {
			t.Fatalf("file overwritten: %q", b)
		}
	})
	t.Run("no data dir", func(t *testing.T) {
		if _, _, err := ResolveSecret("", ""); err == nil {
			t.Fatal("want error")
		}
	})
}
