// Package srtpkeys learns the SRTP keys of a DTLS-SRTP handshake that Pion runs, from the two
// observers Pion's SettingEngine offers (the DTLS key log and, on the server, the ServerHello
// hook) or, on the client, from the ServerHello datagram itself. The SFU uses it to encrypt
// viewers' packets itself (sfu/direct.go); the lean load-test viewer to decrypt only the packets
// it must look into (client/lean.go).
package srtpkeys

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
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

// Capture learns the SRTP keys of one DTLS handshake. Pion does not expose the DTLS connection
// or its keying-material exporter, but its SettingEngine offers two per-API observers (so give
// each connection its own API to see one handshake only):
//   - the ServerHello hook (when Pion is the DTLS server) gives the server random, the cipher
//     suite and the negotiated SRTP protection profile; a client reads the same from the
//     ServerHello datagram (ServerHelloDatagram);
//   - the key log writer (NSS key log format) gives the client random and the master secret.
//
// With these, the RFC 5705 exporter ("EXTRACTOR-dtls_srtp", RFC 5764) is computed exactly as the
// DTLS library computes it for Pion's own SRTP session, so both hold the same keys. Anything
// unexpected (an unknown suite or profile, a missing observation) is an error, never wrong keys.
type Capture struct {
	mu           sync.Mutex
	serverRandom []byte
	clientRandom []byte
	master       []byte
	suite        dtls.CipherSuiteID
	profile      dtls.SRTPProtectionProfile
}

// ServerHello observes the ServerHello Pion sends (SettingEngine.SetDTLSServerHelloMessageHook);
// it does not change it.
func (k *Capture) ServerHello(m handshake.MessageServerHello) handshake.Message {
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
func (k *Capture) Write(p []byte) (int, error) {
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

// ErrNoKeys: the handshake was not (fully) observed, or used something this package does not know.
var ErrNoKeys = errors.New("DTLS keys not captured")

// ExportKeyingMaterial is the TLS 1.2 exporter (srtp.KeyingMaterialExporter).
func (k *Capture) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.master) == 0 || len(k.clientRandom) != 32 || len(k.serverRandom) != 32 || len(context) != 0 {
		return nil, ErrNoKeys
	}
	h := prfHash(k.suite)
	if h == nil {
		return nil, fmt.Errorf("%w: cipher suite %s", ErrNoKeys, dtls.CipherSuiteName(k.suite))
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

// Context builds an SRTP context for what one side sends: the server's (fromServer) or the
// client's keys.
func (k *Capture) Context(fromServer bool, opts ...srtp.ContextOption) (*srtp.Context, error) {
	profile, key, salt, err := k.MasterKeys(fromServer)
	if err != nil {
		return nil, err
	}
	return srtp.CreateContext(key, salt, profile, opts...)
}

// MasterKeys returns the negotiated SRTP profile and the master key and salt of what one side
// sends: the server's (fromServer) or the client's.
func (k *Capture) MasterKeys(fromServer bool) (profile srtp.ProtectionProfile, key, salt []byte, err error) {
	k.mu.Lock()
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
		return 0, nil, nil, fmt.Errorf("%w: SRTP profile %#x", ErrNoKeys, uint16(k.profile))
	}
	cfg := srtp.Config{Profile: profile}
	if err := cfg.ExtractSessionKeysFromDTLS(k, false); err != nil { // as server: Local = server's
		return 0, nil, nil, err
	}
	if fromServer {
		return profile, cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt, nil
	}
	return profile, cfg.Keys.RemoteMasterKey, cfg.Keys.RemoteMasterSalt, nil
}

// ServerHelloDatagram looks for a ServerHello in a DTLS datagram a client received (handshake
// records are in the clear at epoch 0) and records its random, cipher suite and SRTP profile.
// It reports whether it found one.
func (k *Capture) ServerHelloDatagram(b []byte) bool {
	for len(b) >= 13 {
		typ, epoch, n := b[0], binary.BigEndian.Uint16(b[3:5]), int(binary.BigEndian.Uint16(b[11:13]))
		if len(b) < 13+n {
			return false
		}
		rec := b[13 : 13+n]
		b = b[13+n:]
		// Handshake header: type 2 (server_hello), length(3), message_seq(2), fragment offset(3)
		// and length(3); then version(2), random(32), session id, suite(2), compression(1),
		// extensions.
		if typ != 22 || epoch != 0 || len(rec) < 12+35 || rec[0] != 2 || rec[6] != 0 || rec[7] != 0 || rec[8] != 0 {
			continue
		}
		body := rec[12:]
		random := body[2:34]
		p := 35 + int(body[34])
		if len(body) < p+5 {
			return false
		}
		suite := binary.BigEndian.Uint16(body[p:])
		p += 3
		ext := body[p+2:]
		if l := int(binary.BigEndian.Uint16(body[p:])); l < len(ext) {
			ext = ext[:l]
		}
		var profile uint16
		for len(ext) >= 4 {
			et, el := binary.BigEndian.Uint16(ext), int(binary.BigEndian.Uint16(ext[2:]))
			if len(ext) < 4+el {
				break
			}
			if et == 14 && el >= 4 { // use_srtp: profiles length(2), profile(2), mki
				profile = binary.BigEndian.Uint16(ext[6:8])
			}
			ext = ext[4+el:]
		}
		k.mu.Lock()
		k.serverRandom = append(k.serverRandom[:0], random...)
		k.suite = dtls.CipherSuiteID(suite)
		k.profile = dtls.SRTPProtectionProfile(profile)
		k.mu.Unlock()
		return true
	}
	return false
}
