package sfu

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/prf"
	"github.com/pion/dtls/v3/pkg/protocol/extension"
	"github.com/pion/dtls/v3/pkg/protocol/handshake"
	"github.com/pion/srtp/v3"
)

// keyCapture learns a viewer's SRTP keys from its DTLS handshake, so the SFU can encrypt that
// viewer's RTP itself. Pion does not expose the DTLS connection or its keying-material exporter,
// but its SettingEngine offers two per-API observers, and each viewer's connection gets its own
// API (so they see one handshake only):
//   - the ServerHello hook (the SFU answers as DTLS server) gives the server random, the cipher
//     suite and the negotiated SRTP protection profile;
//   - the key log writer (NSS key log format) gives the client random and the master secret.
//
// With these, the RFC 5705 exporter ("EXTRACTOR-dtls_srtp", RFC 5764) is computed exactly as the
// DTLS library computes it for Pion's own SRTP session, so both hold the same keys. Anything
// unexpected (the SFU ended up DTLS client, an unknown suite or profile) leaves the capture
// incomplete and the viewer on Pion's send path.
type keyCapture struct {
	mu           sync.Mutex
	serverRandom []byte
	clientRandom []byte
	master       []byte
	suite        dtls.CipherSuiteID
	profile      dtls.SRTPProtectionProfile
}

// serverHello observes the ServerHello the SFU sends (dtls ServerHelloMessageHook); it does not
// change it.
func (k *keyCapture) serverHello(m handshake.MessageServerHello) handshake.Message {
	r := m.Random.MarshalFixed()
	k.mu.Lock()
	k.serverRandom = append(k.serverRandom[:0], r[:]...)
	if m.CipherSuiteID != nil {
		k.suite = dtls.CipherSuiteID(*m.CipherSuiteID)
	}
	for _, e := range m.Extensions {
		if u, ok := e.(*extension.UseSRTP); ok && len(u.ProtectionProfiles) == 1 {
			k.profile = dtls.SRTPProtectionProfile(u.ProtectionProfiles[0])
		}
	}
	k.mu.Unlock()
	return &m
}

// Write takes key log lines ("CLIENT_RANDOM <client random> <master secret>").
func (k *keyCapture) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(p, []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) != 3 || f[0] != "CLIENT_RANDOM" {
			continue
		}
		cr, err1 := hex.DecodeString(f[1])
		ms, err2 := hex.DecodeString(f[2])
		if err1 != nil || err2 != nil {
			continue
		}
		k.mu.Lock()
		k.clientRandom, k.master = cr, ms
		k.mu.Unlock()
	}
	return len(p), nil
}

var errNoKeys = errors.New("DTLS keys not captured")

// ExportKeyingMaterial is the TLS 1.2 exporter (srtp.KeyingMaterialExporter).
func (k *keyCapture) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.master) == 0 || len(k.clientRandom) != 32 || len(k.serverRandom) != 32 || len(context) != 0 {
		return nil, errNoKeys
	}
	h := prfHash(k.suite)
	if h == nil {
		return nil, fmt.Errorf("%w: cipher suite %s", errNoKeys, dtls.CipherSuiteName(k.suite))
	}
	seed := append(append([]byte(label), k.clientRandom...), k.serverRandom...)
	return prf.PHash(k.master, seed, length, h)
}

// prfHash is the PRF hash of the DTLS 1.2 cipher suites Pion offers: SHA-384 for the *_SHA384
// suites, SHA-256 for all others.
func prfHash(id dtls.CipherSuiteID) prf.HashFunc {
	name := dtls.CipherSuiteName(id)
	switch {
	case !strings.HasPrefix(name, "TLS_"):
		return nil
	case strings.HasSuffix(name, "_SHA384"):
		return func() hash.Hash { return sha512.New384() }
	default:
		return sha256.New
	}
}

// localSRTP builds the context that encrypts what the SFU (the DTLS server) sends.
func (k *keyCapture) localSRTP() (*srtp.Context, error) {
	k.mu.Lock()
	var profile srtp.ProtectionProfile
	switch k.profile {
	case dtls.SRTP_AES128_CM_HMAC_SHA1_80:
		profile = srtp.ProtectionProfileAes128CmHmacSha1_80
	case dtls.SRTP_AEAD_AES_128_GCM:
		profile = srtp.ProtectionProfileAeadAes128Gcm
	case dtls.SRTP_AEAD_AES_256_GCM:
		profile = srtp.ProtectionProfileAeadAes256Gcm
	}
	k.mu.Unlock()
	if profile == 0 {
		return nil, fmt.Errorf("%w: SRTP profile %#x", errNoKeys, uint16(k.profile))
	}
	cfg := srtp.Config{Profile: profile}
	if err := cfg.ExtractSessionKeysFromDTLS(k, false); err != nil {
		return nil, err
	}
	return srtp.CreateContext(cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt, profile)
}
