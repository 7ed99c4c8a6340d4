package live

import "github.com/relaycast/relaycast/auth"

// claimName is the token's display name claim.
func claimName(c auth.Claims) string { return "" }
