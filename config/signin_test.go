package config

import (
	"errors"
	"strings"
	"testing"
)

func TestSignInSettings(t *testing.T) {
	c, err := Load(newFS(), []string{"--oidc-client-id", "relaycast-web"}, envMap(map[string]string{
		"RELAYCAST_OIDC_ISSUER":        "https://accounts.example.com",
		"RELAYCAST_OIDC_CLIENT_ID":     "from-env",
		"RELAYCAST_OIDC_CLIENT_SECRET": "s3cret",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.OIDCIssuer != "https://accounts.example.com" || c.OIDCClientID != "relaycast-web" || c.OIDCClientSecret != "s3cret" || !c.OIDCEnabled() {
		t.Fatalf("%+v", c.SignIn)
	}
	if d := Default(); d.OIDCEnabled() || d.SignIn != (SignIn{}) {
		t.Fatalf("sign-in on by default: %+v", d.SignIn)
	}
}

func TestSignInValidate(t *testing.T) {
	full := func(issuer string) SignIn {
		return SignIn{OIDCIssuer: issuer, OIDCClientID: "id", OIDCClientSecret: "secret"}
	}
	tests := []struct {
		name    string
		s       SignIn
		wantErr string // "" = valid
	}{
		{"none", SignIn{}, ""},
		{"https", full("https://accounts.example.com"), ""},
		{"https with path", full("https://login.example.com/realms/shop"), ""},
		{"http loopback v4", full("http://127.0.0.1:5556/dex"), ""},
		{"http loopback 127/8", full("http://127.9.8.7:5556"), ""},
		{"http localhost", full("http://localhost:8081"), ""},
		{"http loopback v6", full("http://[::1]:8081/oidc"), ""},
		{"http remote", full("http://accounts.example.com"), "must use https"},
		{"http private address", full("http://10.0.0.5"), "must use https"},
		{"not a URL", full("accounts.example.com"), "not an issuer URL"},
		{"other scheme", full("ftp://accounts.example.com"), "not an issuer URL"},
		{"query", full("https://accounts.example.com?x=1"), "not an issuer URL"},
		{"user info", full("https://u:p@accounts.example.com"), "not an issuer URL"},
		{"issuer only", SignIn{OIDCIssuer: "https://a.example.com"}, "all three or none"},
		{"id and secret only", SignIn{OIDCClientID: "id", OIDCClientSecret: "s"}, "all three or none"},
		{"no secret", SignIn{OIDCIssuer: "https://a.example.com", OIDCClientID: "id"}, "all three or none"},
		{"blank secret", SignIn{OIDCIssuer: "https://a.example.com", OIDCClientID: "id", OIDCClientSecret: "  "}, "all three or none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.SignIn = tt.s
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "--oidc-issuer") {
				t.Fatalf("err = %v, want ErrInvalid naming --oidc-issuer: %s", err, tt.wantErr)
			}
		})
	}
}
