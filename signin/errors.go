package signin

import "errors"

// Sentinel errors. The handlers turn each into an error page with its code (docs/AUTH.md);
// New's errors wrap ErrConfig.
var (
	// ErrConfig means New was given parameters it cannot work with.
	ErrConfig = errors.New("signin: bad configuration")
	// ErrProvider means the provider could not be reached or answered nonsense (discovery, code
	// exchange): code "provider_unavailable" or "exchange_failed", 502.
	ErrProvider = errors.New("signin: provider failed")
	// ErrState means the state cookie is missing, forged, expired or not the one the provider
	// returned: codes "no_state", "bad_state", "state_expired", 400.
	ErrState = errors.New("signin: bad sign-in state")
	// ErrIDToken means the ID token failed verification (signature, issuer, audience, expiry,
	// nonce) or names no usable subject: codes "bad_id_token", "bad_nonce", 401.
	ErrIDToken = errors.New("signin: bad ID token")
)

// errExpired marks (inside ErrState) a state cookie past its lifetime: code "state_expired".
var errExpired = errors.New("the sign-in took too long and expired")
