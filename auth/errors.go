package auth

import (
	"errors"
	"fmt"
)

// Sentinel errors. Functions in this package wrap them with %w; check with errors.Is.
var (
	// ErrNoToken means the request carried no token at all.
	ErrNoToken = errors.New("auth: no token")
	// ErrInvalidToken means the token is malformed, forged, signed with another
	// algorithm or key, or carries claims this server does not accept.
	ErrInvalidToken = errors.New("auth: invalid token")
	// ErrExpired means the token was valid but its exp time has passed.
	ErrExpired = errors.New("auth: token expired")
	// ErrForbidden means the token is valid but does not grant the requested
	// action on the requested room.
	ErrForbidden = errors.New("auth: forbidden")
	// ErrWeakSecret means the signing secret is shorter than MinSecretLen bytes.
	ErrWeakSecret = errors.New("auth: secret too short")
	// ErrBadClaims means Issue was asked for a token it must not produce
	// (empty room, no or unknown grants, a bad name, non-positive ttl).
	ErrBadClaims = errors.New("auth: bad claims")
	// ErrRevoked means the token is valid but its subject's tokens were revoked after it was
	// issued (revoke.go). It wraps ErrInvalidToken: every caller treats it as a bad token.
	ErrRevoked = fmt.Errorf("%w: revoked", ErrInvalidToken)
	// ErrBadName means a display name breaks the rules of ValidName. IssueClaims
	// wraps it in ErrBadClaims, Verify in ErrInvalidToken.
	ErrBadName = errors.New("auth: bad name")
)
