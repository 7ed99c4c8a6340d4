package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// SecretFileName is the file inside the data directory that keeps the
// generated signing secret across restarts.
const SecretFileName = "auth-secret"

// ResolveSecret picks the token signing secret:
//
//  1. flagValue, when non-empty (--auth-secret / RELAYCAST_AUTH_SECRET);
//  2. else the contents of dataDir/auth-secret (surrounding whitespace trimmed);
//  3. else 32 random bytes, hex encoded, written to dataDir/auth-secret with
//     mode 0600 (dataDir is created with 0700 if missing); generated is true.
//
// The secret is checked against MinSecretLen in every case.
func ResolveSecret(flagValue, dataDir string) (secret []byte, generated bool, err error) {
	if flagValue != "" {
		if len(flagValue) < MinSecretLen {
			return nil, false, fmt.Errorf("%w: --auth-secret needs at least %d bytes", ErrWeakSecret, MinSecretLen)
		}
		return []byte(flagValue), false, nil
	}
	if dataDir == "" {
		return nil, false, errors.New("auth: no --auth-secret and no data dir to keep a generated one")
	}
	path := filepath.Join(dataDir, SecretFileName)
	secret, err = readSecret(path)
	if err == nil {
		return secret, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}

	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, false, fmt.Errorf("auth: create data dir: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, false, fmt.Errorf("auth: generate secret: %w", err)
	}
	secret = []byte(hex.EncodeToString(raw))
	// Write a temp file, then hard-link it into place: the link fails if
	// another process won the race, and then its (complete) secret is used.
	tmp, err := os.CreateTemp(dataDir, SecretFileName+".tmp-*")
	if err != nil {
		return nil, false, fmt.Errorf("auth: write secret: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(append(secret, '\n'))
	merr := tmp.Chmod(0o600)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, merr, serr, cerr); err != nil {
		return nil, false, fmt.Errorf("auth: write secret %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			secret, err = readSecret(path)
			return secret, false, err
		}
		return nil, false, fmt.Errorf("auth: write secret %s: %w", path, err)
	}
	return secret, true, nil
}

func readSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("auth: read secret: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) < MinSecretLen {
		return nil, fmt.Errorf("%w: %s holds %d bytes, need at least %d (delete it to generate a new one)", ErrWeakSecret, path, len(b), MinSecretLen)
	}
	return b, nil
}

// LoadSigner resolves the signing secret (ResolveSecret: flagValue, else dataDir/auth-secret,
// else a new one written there; generated is then true) and returns its Signer. It is the one
// place a process turns configuration into a secret: `relaycast serve` and `relaycast token`
// call it once and pass the Signer down.
func LoadSigner(flagValue, dataDir string) (signer *Signer, generated bool, err error) {
	secret, generated, err := ResolveSecret(flagValue, dataDir)
	if err != nil {
		return nil, false, err
	}
	signer, err = NewSigner(secret)
	if err != nil {
		return nil, false, err
	}
	return signer, generated, nil
}

// DeriveKey returns a key for another use of the secret, HMAC-SHA256(secret, purpose), so that
// one secret serves everything (e.g. the signatures of upload part URLs) without being copied.
func (s *Signer) DeriveKey(purpose string) []byte {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}
