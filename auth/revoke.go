package auth

import (
	"fmt"
	"time"
)

// Revoker says whether the tokens of a subject issued at issuedAt were revoked since (a user
// banned from the platform, a leaked token). It is asked on every Verify, so it answers from
// memory (package revocation keeps the list of every node in Redis and a copy on each node).
type Revoker interface {
	Revoked(subject string, issuedAt time.Time) bool
}

type revokerBox struct{ r Revoker }

// SetRevoker makes Verify refuse revoked tokens with ErrRevoked (nil: none are). Safe to call
// while the Signer is in use.
func (s *Signer) SetRevoker(r Revoker) {
	if r == nil {
		s.revoker.Store(nil)
		return
	}
	s.revoker.Store(&revokerBox{r})
}

// Revoked reports whether c's subject's tokens were revoked after c was issued. A token without
// a subject cannot be revoked by subject (it expires); one without an issue time counts as
// issued at the beginning of time.
func (s *Signer) Revoked(c Claims) bool {
	b := s.revoker.Load()
	if b == nil || c.Subject == "" {
		return false
	}
	return b.r.Revoked(c.Subject, c.IssuedAt)
}

// AcceptPrevious makes the Signer also verify tokens signed with the given secrets: rotating the
// signing secret without logging anyone out. New tokens are always signed with the current
// secret. Call it before the Signer is used; each secret must be at least MinSecretLen bytes.
func (s *Signer) AcceptPrevious(secrets ...[]byte) error {
	for i, p := range secrets {
		if len(p) < MinSecretLen {
			return fmt.Errorf("%w: previous secret %d: need at least %d bytes, got %d", ErrWeakSecret, i+1, MinSecretLen, len(p))
		}
		s.previous = append(s.previous, append([]byte(nil), p...))
	}
	return nil
}
