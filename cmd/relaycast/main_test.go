package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
)

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

const testSecret = "cli-test-secret-0123456789"

// runTokenCase runs `relaycast token args` in a fresh data dir with env added; it fails the
// test unless it exits with wantCode, its stderr contains wantStderr and a failure prints
// nothing. It returns what it printed.
func runTokenCase(t *testing.T, args []string, env map[string]string, wantCode int, wantStderr string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	all := map[string]string{"RELAYCAST_DATA_DIR": t.TempDir()}
	for k, v := range env {
		all[k] = v
	}
	code := runToken(args, envMap(all), &stdout, &stderr)
	if code != wantCode {
		t.Fatalf("exit %d, want %d; stderr: %s", code, wantCode, stderr.String())
	}
	if !strings.Contains(stderr.String(), wantStderr) {
		t.Fatalf("stderr %q does not contain %q", stderr.String(), wantStderr)
	}
	if wantCode != 0 && stdout.Len() > 0 {
		t.Fatalf("stdout on failure: %q", stdout.String())
	}
	return stdout.String()
}

// verifyPrinted returns the claims of a printed token (signed with testSecret).
func verifyPrinted(t *testing.T, out string) auth.Claims {
	t.Helper()
	signer, err := auth.NewSigner([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	c, err := signer.Verify(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("printed token does not verify: %v", err)
	}
	return c
}

func TestTokenCommand(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantCode   int
		wantStderr string // substring
		room       string // expected room claim when wantCode == 0
		grants     []auth.Grant
		ttl        time.Duration
		subject    string
	}{
		{name: "publish", args: []string{"--room", "shop", "--publish", "--auth-secret", testSecret},
			room: "shop", grants: []auth.Grant{auth.GrantPublish}, ttl: 24 * time.Hour},
		{name: "subscribe with ttl and subject", args: []string{"--room", "shop", "--subscribe", "--ttl", "30m", "--subject", "bob", "--auth-secret", testSecret},
			room: "shop", grants: []auth.Grant{auth.GrantSubscribe}, ttl: 30 * time.Minute, subject: "bob"},
		{name: "combined grants", args: []string{"--room", "r", "--publish", "--subscribe", "--auth-secret", testSecret},
			room: "r", grants: []auth.Grant{auth.GrantPublish, auth.GrantSubscribe}, ttl: 24 * time.Hour},
		{name: "admin without room is every room", args: []string{"--admin", "--auth-secret", testSecret},
			room: "*", grants: []auth.Grant{auth.GrantAdmin}, ttl: 24 * time.Hour},
		{name: "admin with room", args: []string{"--admin", "--room", "x", "--auth-secret", testSecret},
			room: "x", grants: []auth.Grant{auth.GrantAdmin}, ttl: 24 * time.Hour},
		{name: "secret from env", args: []string{"--room", "shop", "--publish"}, env: map[string]string{"RELAYCAST_AUTH_SECRET": testSecret},
			room: "shop", grants: []auth.Grant{auth.GrantPublish}, ttl: 24 * time.Hour},
		{name: "no grant", args: []string{"--room", "shop", "--auth-secret", testSecret}, wantCode: 2, wantStderr: "--publish"},
		{name: "no room", args: []string{"--publish", "--auth-secret", testSecret}, wantCode: 2, wantStderr: "--room is required"},
		{name: "star room without admin", args: []string{"--room", "*", "--subscribe", "--auth-secret", testSecret}, wantCode: 2, wantStderr: "--admin"},
		{name: "bad ttl", args: []string{"--room", "r", "--publish", "--ttl", "-1h", "--auth-secret", testSecret}, wantCode: 2, wantStderr: "--ttl"},
		{name: "unparsable ttl", args: []string{"--room", "r", "--publish", "--ttl", "forever"}, wantCode: 2, wantStderr: "ttl"},
		{name: "unknown flag", args: []string{"--room", "r", "--root"}, wantCode: 2, wantStderr: "root"},
		{name: "extra arg", args: []string{"--room", "r", "--publish", "junk"}, wantCode: 2, wantStderr: "junk"},
		{name: "short secret", args: []string{"--room", "r", "--publish", "--auth-secret", "short"}, wantCode: 2, wantStderr: "16 bytes"},
		{name: "help", args: []string{"-h"}, wantCode: 0, wantStderr: "Usage: relaycast token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := runTokenCase(t, tt.args, tt.env, tt.wantCode, tt.wantStderr)
			if tt.wantCode != 0 || tt.room == "" {
				return
			}
			c := verifyPrinted(t, out)
			if c.Room != tt.room || c.Subject != tt.subject || !equalGrants(c.Grants, tt.grants) {
				t.Fatalf("claims = %+v", c)
			}
			if got := c.ExpiresAt.Sub(c.IssuedAt); got != tt.ttl {
				t.Fatalf("ttl = %s, want %s", got, tt.ttl)
			}
		})
	}
}

func equalGrants(a, b []auth.Grant) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestTokenSharesGeneratedSecret checks that `token` and `serve` resolve the
// same generated secret from the data dir.
func TestTokenSharesGeneratedSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var stdout, stderr bytes.Buffer
	if code := runToken([]string{"--room", "a", "--publish", "--data-dir", dir}, envMap(nil), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "generated") {
		t.Errorf("stderr should mention the generated secret: %q", stderr.String())
	}
	_, _, signer, err := loadServe([]string{"--data-dir", dir}, envMap(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signer.Authorize(strings.TrimSpace(stdout.String()), "a", auth.GrantPublish); err != nil {
		t.Fatalf("serve's secret does not verify token's token: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, auth.SecretFileName)); err != nil {
		t.Fatal(err)
	}
}

func TestLoadServe(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantErr  error // nil, flag.ErrHelp, errSetup, or errUsage for any other error
		checkLog string
		prepare  func(t *testing.T, dataDir string)
	}{
		{name: "defaults", args: nil},
		{name: "json debug", args: []string{"--log-format", "json", "--log-level", "debug"}, checkLog: `"level":"DEBUG"`},
		{name: "env", env: map[string]string{"RELAYCAST_LOG_LEVEL": "warn"}},
		{name: "help", args: []string{"-h"}, wantErr: flag.ErrHelp},
		{name: "bad flag", args: []string{"--ice-udp-port", "x"}, wantErr: errUsage},
		{name: "bad env", env: map[string]string{"RELAYCAST_PUBLIC_IP": "nope"}, wantErr: errUsage},
		{name: "unusable secret file", wantErr: errSetup, prepare: func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, auth.SecretFileName), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.prepare != nil {
				tt.prepare(t, dir)
			}
			args := append([]string{"--data-dir", dir}, tt.args...)
			var stderr bytes.Buffer
			_, logger, signer, err := loadServe(args, envMap(tt.env), &stderr)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr == errUsage:
				if err == nil || errors.Is(err, errSetup) || errors.Is(err, flag.ErrHelp) {
					t.Fatalf("err = %v, want usage error", err)
				}
				return
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if signer == nil {
				t.Fatal("secret not resolved: no signer")
			}
			logger.Debug("probe")
			if tt.checkLog != "" && !strings.Contains(stderr.String(), tt.checkLog) {
				t.Fatalf("log output %q lacks %q", stderr.String(), tt.checkLog)
			}
		})
	}
}

var errUsage = errors.New("usage error (test marker)")

func TestRunDispatch(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"no args", nil, 2, "", "Usage:"},
		{"unknown", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"help", []string{"help"}, 0, "relaycast serve", ""},
		{"--help", []string{"--help"}, 0, "relaycast token", ""},
		{"help token", []string{"help", "token"}, 0, "", "--publish"},
		{"help serve", []string{"help", "serve"}, 0, "", "RELAYCAST_ICE_UDP_PORT"},
		{"help worker", []string{"help", "worker"}, 0, "", "Usage: relaycast worker --redis-url"},
		{"help unknown", []string{"help", "frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"version", []string{"version"}, 0, "relaycast dev", ""},
		{"--version", []string{"--version"}, 0, "relaycast ", ""},
		{"serve help", []string{"serve", "--help"}, 0, "", "RELAYCAST_ICE_UDP_PORT"},
		{"serve bad flag", []string{"serve", "--nope"}, 2, "", "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, envMap(nil), &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout %q lacks %q", stdout.String(), tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}
