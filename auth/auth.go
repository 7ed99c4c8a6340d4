// Package auth issues and verifies relaycast access tokens: HS256 JWTs that
// grant rights (publish, subscribe, chat, bid, moderate, admin) on one room
// (or on every room, "*"), optionally with the holder's display name.
//
// A token's claims look like:
//
//	{"iss":"relaycast","sub":"alice","exp":1767225600,"iat":1767139200,
//	 "room":"shop-1","grants":["chat","bid"],"name":"Alice"}
//
// docs/AUTH.md describes every claim and grant.
package auth

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Grant is one right a token confers on its room. Some grants imply others
// (see Grant.Implies): admin implies every grant, publish implies moderate,
// moderate implies chat.
type Grant string

// The grants a token may carry.
const (
	GrantPublish   Grant = "publish"   // broadcast to the room; also moderate it and manage its lots
	GrantSubscribe Grant = "subscribe" // watch the room (needed when --viewer-auth is on)
	GrantChat      Grant = "chat"      // write in the room's chat and react
	GrantBid       Grant = "bid"       // bid on the room's lots
	GrantModerate  Grant = "moderate"  // delete messages, time out / ban users, room chat settings, pin products; implies chat
	GrantAdmin     Grant = "admin"     // everything, including ending other people's broadcasts
	// GrantRelay is node-to-node: an edge node pulling a room from its owner (docs/CLUSTER.md,
	// "Edges"). Minted by a node with the cluster's shared secret, usually for AnyRoom. Admin does
	// not imply it; it implies subscribe (a pull watches the room).
	GrantRelay Grant = "relay"
)

// Valid reports whether g is one of the known grants.
func (g Grant) Valid() bool {
	switch g {
	case GrantPublish, GrantSubscribe, GrantChat, GrantBid, GrantModerate, GrantAdmin, GrantRelay:
		return true
	}
	return false
}

// AnyRoom is the Room value of a token valid for every room.
const AnyRoom = "*"

// Issuer is the "iss" claim of every token this package issues and accepts.
const Issuer = "relaycast"

// MinSecretLen is the shortest HMAC secret NewSigner accepts.
const MinSecretLen = 16

// Claims is the verified content of a token.
type Claims struct {
	Room      string // room name, or AnyRoom
	Grants    []Grant
	Subject   string // who the token was issued to; may be empty
	Name      string // display name of the holder (JWT claim "name"); may be empty, see ValidName
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Allows reports whether the claims grant g on room: one of the token's grants
// is g or implies it (Grant.Implies: admin implies every grant, publish implies
// moderate, moderate implies chat). A Room of "*" matches any room; an empty
// room is never allowed.
func (c Claims) Allows(room string, g Grant) bool {
	if room == "" || (c.Room != AnyRoom && c.Room != room) {
		return false
	}
	return slices.ContainsFunc(c.Grants, func(have Grant) bool { return have.Implies(g) })
}

// jwtClaims is the wire form of Claims.
type jwtClaims struct {
	jwt.RegisteredClaims
	Room   string  `json:"room"`
	Grants []Grant `json:"grants"`
	Name   string  `json:"name,omitempty"`
}

// Signer issues and verifies tokens with one HMAC secret. It is safe for
// concurrent use.
type Signer struct {
	secret []byte
	now    func() time.Time // clock, replaceable in tests
	// previous secrets still verify tokens (key rotation, revoke.go); set before use.
	previous [][]byte
	// revoker, when set, refuses tokens revoked since they were issued (revoke.go).
	revoker atomic.Pointer[revokerBox]
}

// NewSigner returns a Signer for secret, which must be at least MinSecretLen bytes.
func NewSigner(secret []byte) (*Signer, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("%w: need at least %d bytes, got %d", ErrWeakSecret, MinSecretLen, len(secret))
	}
	return &Signer{secret: slices.Clone(secret), now: time.Now}, nil
}

// Issue returns a signed token granting grants on room for ttl. room may be
// AnyRoom. subject is free text identifying the holder and may be empty.
// It is IssueClaims without a display name.
func (s *Signer) Issue(room string, grants []Grant, ttl time.Duration, subject string) (string, error) {
	return s.IssueClaims(Claims{Room: room, Grants: grants, Subject: subject}, ttl)
}

// IssueClaims returns a signed token for c.Room (or AnyRoom) with c.Grants,
// c.Subject and c.Name, valid for ttl from now. c.IssuedAt and c.ExpiresAt are
// ignored (the signer's clock sets them). Errors wrap ErrBadClaims: empty room,
// no or unknown grants, a name ValidName refuses, or a non-positive ttl.
func (s *Signer) IssueClaims(c Claims, ttl time.Duration) (string, error) {
	if c.Room == "" {
		return "", fmt.Errorf("%w: empty room", ErrBadClaims)
	}
	if len(c.Grants) == 0 {
		return "", fmt.Errorf("%w: no grants", ErrBadClaims)
	}
	for _, g := range c.Grants {
		if !g.Valid() {
			return "", fmt.Errorf("%w: unknown grant %q", ErrBadClaims, g)
		}
	}
	if err := ValidName(c.Name); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadClaims, err)
	}
	if ttl <= 0 {
		return "", fmt.Errorf("%w: ttl must be positive, got %s", ErrBadClaims, ttl)
	}
	now := s.now().Truncate(time.Second)
	claims := jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   c.Subject,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Room:   c.Room,
		Grants: slices.Clone(c.Grants),
		Name:   c.Name,
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.secret)
	if err != nil {
		return "", fmt.Errorf("auth: sign token: %w", err)
	}
	return tok, nil
}

// Verify checks token's signature (HS256 only), issuer and expiry and returns
// its claims. Errors wrap ErrNoToken (empty token), ErrExpired or ErrInvalidToken.
func (s *Signer) Verify(token string) (Claims, error) {
	if token == "" {
		return Claims{}, ErrNoToken
	}
	var wire jwtClaims
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(Issuer),
		jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(s.now),
	)
	keys := func(t *jwt.Token) (any, error) {
		if t.Method != jwt.SigningMethodHS256 {
			return nil, fmt.Errorf("unexpected signing method %v", t.Header["alg"])
		}
		if len(s.previous) == 0 {
			return s.secret, nil
		}
		// The current secret first, then the ones being rotated out (jwt tries each in turn).
		set := jwt.VerificationKeySet{Keys: []jwt.VerificationKey{s.secret}}
		for _, p := range s.previous {
			set.Keys = append(set.Keys, p)
		}
		return set, nil
	}
	_, err := parser.ParseWithClaims(token, &wire, keys)
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired):
		return Claims{}, fmt.Errorf("%w: %v", ErrExpired, err)
	default:
		return Claims{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if wire.Room == "" {
		return Claims{}, fmt.Errorf("%w: missing room", ErrInvalidToken)
	}
	if len(wire.Grants) == 0 {
		return Claims{}, fmt.Errorf("%w: no grants", ErrInvalidToken)
	}
	for _, g := range wire.Grants {
		if !g.Valid() {
			return Claims{}, fmt.Errorf("%w: unknown grant %q", ErrInvalidToken, g)
		}
	}
	if err := ValidName(wire.Name); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	c := Claims{
		Room:      wire.Room,
		Grants:    wire.Grants,
		Subject:   wire.Subject,
		Name:      wire.Name,
		ExpiresAt: wire.ExpiresAt.Time,
	}
	if wire.IssuedAt != nil {
		c.IssuedAt = wire.IssuedAt.Time
	}
	if s.Revoked(c) {
		return Claims{}, fmt.Errorf("%w: subject %q", ErrRevoked, c.Subject)
	}
	return c, nil
}

// Authorize verifies token and checks that it grants g on room. On failure it
// returns zero Claims and an error wrapping ErrNoToken, ErrInvalidToken,
// ErrExpired or ErrForbidden.
func (s *Signer) Authorize(token, room string, g Grant) (Claims, error) {
	c, err := s.Verify(token)
	if err != nil {
		return Claims{}, err
	}
	if !c.Allows(room, g) {
		return Claims{}, fmt.Errorf("%w: token for room %q does not grant %q on room %q", ErrForbidden, c.Room, g, room)
	}
	return c, nil
}

// TokenFromRequest returns the bearer token of r: the "Authorization: Bearer X"
// header if present, else the "token" query parameter, else "".
func TokenFromRequest(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			if tok = strings.TrimSpace(tok); tok != "" {
				return tok
			}
		}
	}
	if r.URL == nil {
		return ""
	}
	return r.URL.Query().Get("token")
}
