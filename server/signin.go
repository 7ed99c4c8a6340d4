package server

import (
	"github.com/relaycast/relaycast/signaling"
	"github.com/relaycast/relaycast/signin"
)

// newSignIn builds the OpenID Connect sign-in routes (/auth/config, /auth/login,
// /auth/callback) from the config. Sign-in off (no --oidc-issuer) still serves /auth/config,
// saying so. The provider's redirect URL is the server's public URL + /auth/callback.
func (s *Server) newSignIn() (*signin.Service, error) {
	return signin.New(signin.Params{
		Issuer: s.cfg.OIDCIssuer, ClientID: s.cfg.OIDCClientID, ClientSecret: s.cfg.OIDCClientSecret,
		BaseURL: s.publicBase, Signer: s.signer, Logger: s.p.Logger, ValidRoom: signaling.ValidRoom,
	})
}

// publicBase is the base URL browsers reach the server at: URL() once listening (it knows a
// port picked at start), else the configured one.
func (s *Server) publicBase() string {
	if s.ln == nil {
		return s.cfg.BaseURL()
	}
	return s.URL()
}
