package server

import (
	"github.com/relaycast/relaycast/archive"
	"github.com/relaycast/relaycast/revocation"
)

// openRevocations keeps the deployment's revoked token subjects (package revocation) on this
// node and makes the signer refuse their tokens; a new revocation closes the sockets opened
// with such a token at once (the live room refuses their actions on its own). It also accepts
// the signing secrets being rotated out (--auth-previous-secrets).
func (s *Server) openRevocations() error {
	for _, p := range s.cfg.AuthPreviousSecrets {
		if err := s.signer.AcceptPrevious([]byte(p)); err != nil {
			return err
		}
	}
	st, err := revocation.New(revocation.Params{
		Redis: s.rdb, Key: archive.ChannelFor("relaycast:revoked", s.redisOpt), Logger: s.p.Logger,
		OnChange: func() {
			if sig := s.sig; sig != nil {
				sig.Revalidate()
			}
		},
	})
	if err != nil {
		return err
	}
	s.revoked = st
	s.signer.SetRevoker(st)
	return nil
}

func (s *Server) closeRevocations() {
	if s.revoked != nil {
		_ = s.revoked.Close()
	}
}
