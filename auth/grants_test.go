package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestGrantValid(t *testing.T) {
	for _, g := range AllGrants() {
		if !g.Valid() {
			t.Errorf("%q not valid", g)
		}
	}
	for _, g := range []Grant{"", "root", "Bid", "publish ", "*"} {
		if g.Valid() {
			t.Errorf("%q valid", g)
		}
	}
	if got := len(AllGrants()); got != 6 {
		t.Fatalf("AllGrants has %d grants", got)
	}
}

// TestGrantImplies spells out the whole implication table, every pair.
func TestGrantImplies(t *testing.T) {
	want := map[Grant][]Grant{
		GrantSubscribe: {GrantSubscribe},
		GrantChat:      {GrantChat},
		GrantBid:       {GrantBid},
		GrantModerate:  {GrantModerate, GrantChat},
		GrantPublish:   {GrantPublish, GrantModerate, GrantChat},
		GrantAdmin:     AllGrants(),
	}
	for _, g := range AllGrants() {
		for _, h := range AllGrants() {
			if got, exp := g.Implies(h), slices.Contains(want[g], h); got != exp {
				t.Errorf("%s.Implies(%s) = %v, want %v", g, h, got, exp)
			}
		}
		if g.Implies("root") || Grant("root").Implies(g) {
			t.Errorf("unknown grant implied by or implying %s", g)
		}
	}
}

func TestClaimsAllowsNewGrants(t *testing.T) {
	tests := []struct {
		name   string
		grants []Grant
		room   string
		grant  Grant
		want   bool
	}{
		{"bid", []Grant{GrantBid}, "a", GrantBid, true},
		{"bid is not chat", []Grant{GrantBid}, "a", GrantChat, false},
		{"chat is not bid", []Grant{GrantChat}, "a", GrantBid, false},
		{"chat is not subscribe", []Grant{GrantChat}, "a", GrantSubscribe, false},
		{"subscribe is not chat", []Grant{GrantSubscribe}, "a", GrantChat, false},
		{"moderate implies chat", []Grant{GrantModerate}, "a", GrantChat, true},
		{"moderate is not bid", []Grant{GrantModerate}, "a", GrantBid, false},
		{"moderate is not publish", []Grant{GrantModerate}, "a", GrantPublish, false},
		{"publish implies moderate", []Grant{GrantPublish}, "a", GrantModerate, true},
		{"publish implies chat", []Grant{GrantPublish}, "a", GrantChat, true},
		{"publish is not bid", []Grant{GrantPublish}, "a", GrantBid, false},
		{"publish is still not subscribe", []Grant{GrantPublish}, "a", GrantSubscribe, false},
		{"publish moderates only its room", []Grant{GrantPublish}, "b", GrantModerate, false},
		{"admin implies bid", []Grant{GrantAdmin}, "a", GrantBid, true},
		{"admin implies moderate", []Grant{GrantAdmin}, "a", GrantModerate, true},
		{"wildcard admin moderates any room", []Grant{GrantAdmin}, "*zz", GrantModerate, true},
		{"viewer set", []Grant{GrantSubscribe, GrantChat, GrantBid}, "a", GrantBid, true},
		{"unknown grant confers nothing", []Grant{"root"}, "a", GrantChat, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			room := "a"
			if strings.HasPrefix(tt.room, "*") {
				room, tt.room = AnyRoom, tt.room[1:]
			}
			c := Claims{Room: room, Grants: tt.grants}
			if got := c.Allows(tt.room, tt.grant); got != tt.want {
				t.Fatalf("Allows(%q, %s) with %v = %v, want %v", tt.room, tt.grant, tt.grants, got, tt.want)
			}
		})
	}
}

func TestClaimsEffective(t *testing.T) {
	tests := []struct {
		grants []Grant
		want   []Grant
	}{
		{nil, nil},
		{[]Grant{GrantBid, GrantSubscribe}, []Grant{GrantSubscribe, GrantBid}},
		{[]Grant{GrantModerate}, []Grant{GrantChat, GrantModerate}},
		{[]Grant{GrantPublish}, []Grant{GrantChat, GrantModerate, GrantPublish}},
		{[]Grant{GrantAdmin}, AllGrants()},
		{[]Grant{GrantChat, GrantChat}, []Grant{GrantChat}},
	}
	for _, tt := range tests {
		if got := (Claims{Room: "a", Grants: tt.grants}).Effective(); !slices.Equal(got, tt.want) {
			t.Errorf("Effective(%v) = %v, want %v", tt.grants, got, tt.want)
		}
	}
}

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"", true},
		{"Alice", true},
		{"Zoë Ünal", true},
		{"李小龍", true},
		{"👩‍👩‍👧 family", true}, // zero-width joiners are fine
		{strings.Repeat("é", 64), true},
		{strings.Repeat("é", 65), false},
		{strings.Repeat("x", 65), false},
		{"a\nb", false},
		{"tab\there", false},
		{"nul\x00", false},
		{"del\x7f", false},
		{"c1\u0085", false},
		{"bidi\u202egnp.exe", false},
		{"isolate\u2066x\u2069", false},
		{"line\u2028sep", false},
		{"bad\xffutf8", false},
	}
	for _, tt := range tests {
		err := ValidName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrBadName) {
			t.Errorf("ValidName(%q) error %v does not wrap ErrBadName", tt.name, err)
		}
	}
}

func TestIssueClaimsRoundTrip(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := newTestSigner(t, now)
	tok, err := s.IssueClaims(Claims{
		Room: "shop", Grants: []Grant{GrantChat, GrantBid}, Subject: "u-42", Name: "Zoë",
		IssuedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Minute), // ignored
	}, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var wire map[string]any
	if err := json.Unmarshal(payload, &wire); err != nil {
		t.Fatal(err)
	}
	if wire["name"] != "Zoë" || wire["sub"] != "u-42" || wire["exp"] != float64(now.Add(2*time.Hour).Unix()) {
		t.Fatalf("wire claims = %v", wire)
	}
	c, err := s.Authorize(tok, "shop", GrantBid)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "Zoë" || c.Subject != "u-42" || c.Room != "shop" ||
		!slices.Equal(c.Grants, []Grant{GrantChat, GrantBid}) ||
		!c.IssuedAt.Equal(now) || !c.ExpiresAt.Equal(now.Add(2*time.Hour)) {
		t.Fatalf("claims = %+v", c)
	}
	if _, err := s.Authorize(tok, "shop", GrantModerate); !errors.Is(err, ErrForbidden) {
		t.Fatalf("bid+chat token moderates: %v", err)
	}
}

func TestIssueClaimsRejects(t *testing.T) {
	s := newTestSigner(t, time.Now())
	tests := []struct {
		name string
		c    Claims
		ttl  time.Duration
	}{
		{"empty room", Claims{Grants: []Grant{GrantChat}}, time.Hour},
		{"no grants", Claims{Room: "r"}, time.Hour},
		{"unknown grant", Claims{Room: "r", Grants: []Grant{GrantChat, "superuser"}}, time.Hour},
		{"long name", Claims{Room: "r", Grants: []Grant{GrantChat}, Name: strings.Repeat("n", 65)}, time.Hour},
		{"control char in name", Claims{Room: "r", Grants: []Grant{GrantChat}, Name: "a\x1bb"}, time.Hour},
		{"zero ttl", Claims{Room: "r", Grants: []Grant{GrantChat}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := s.IssueClaims(tt.c, tt.ttl)
			if !errors.Is(err, ErrBadClaims) || tok != "" {
				t.Fatalf("IssueClaims = %q, %v; want ErrBadClaims", tok, err)
			}
		})
	}
}

// TestVerifyNameClaim: tokens minted elsewhere (a shop backend's JWT library) are held to the
// same name rules; tokens without a name (every token before the claim existed) stay valid.
func TestVerifyNameClaim(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := newTestSigner(t, now)
	mint := minter(t, now, "bid")
	tests := []struct {
		name     string
		token    string
		wantErr  error
		wantName string
	}{
		{"no name (old token)", mint(func(jwt.MapClaims) {}), nil, ""},
		{"name", mint(func(c jwt.MapClaims) { c["name"] = "Bob" }), nil, "Bob"},
		{"empty name", mint(func(c jwt.MapClaims) { c["name"] = "" }), nil, ""},
		{"extra unknown claim kept working", mint(func(c jwt.MapClaims) { c["email"] = "b@example.com"; c["name"] = "Bob" }), nil, "Bob"},
		{"name not a string", mint(func(c jwt.MapClaims) { c["name"] = 7 }), ErrInvalidToken, ""},
		{"name too long", mint(func(c jwt.MapClaims) { c["name"] = strings.Repeat("b", 65) }), ErrInvalidToken, ""},
		{"name with newline", mint(func(c jwt.MapClaims) { c["name"] = "Bob\nAdmin: hi" }), ErrInvalidToken, ""},
		{"new grants from a backend", mint(func(c jwt.MapClaims) { c["grants"] = []string{"chat", "moderate", "bid"} }), nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := s.Verify(tt.token)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && c.Name != tt.wantName {
				t.Fatalf("name = %q, want %q", c.Name, tt.wantName)
			}
			if tt.wantErr != nil && errors.Is(err, ErrInvalidToken) && !strings.Contains(err.Error(), "name") {
				t.Errorf("error %q does not say the name is the problem", err)
			}
		})
	}
}
