package udpsend

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// Sealer encrypts a viewer's RTP packets for the direct send path. For the AEAD profiles
// (AEAD_AES_128_GCM, AEAD_AES_256_GCM, RFC 7714) it seals with crypto/cipher's AES-GCM and the
// session keys itself: the header is marshalled into the datagram and the payload is encrypted
// from the shared packet straight behind it, so there is no copy of the payload, no re-parse of
// the header and no per-SSRC map lookup per packet, which srtp.Context.EncryptRTP costs (≈ 20 %
// of the user-space instructions per packet besides AES-GCM itself; docs/PERFORMANCE.md, "User-space
// send cost"). The output is byte for byte what srtp.Context produces (TestRTPSealerMatchesSRTP):
// same session keys (RFC 3711 §4.3 key derivation with the AES-CM PRF), same IV (RFC 7714 §8.1),
// same rollover counter (RFC 3711 §3.3.1 index estimate, as srtp.Context keeps it for a sender).
// Other profiles (AES_CM_128_HMAC_SHA1_80) go through srtp.Context.
type Sealer struct {
	aead cipher.AEAD // nil: ctx
	salt [12]byte    // SRTP session salt (AEAD)
	iv   [12]byte    // scratch (a local array would escape through cipher.AEAD)
	roc  rocState    // of ssrc
	ssrc uint32
	has  bool // ssrc is set

	ctx *srtp.Context // the other profiles
	hdr rtp.Header    // scratch for ctx
}

// aeadTagLen is the authentication tag AEAD_AES_*_GCM appends.
const aeadTagLen = 16

// NewSealer builds the sealer of a sending side from its master key and salt.
func NewSealer(profile srtp.ProtectionProfile, key, salt []byte) (*Sealer, error) {
	switch profile {
	case srtp.ProtectionProfileAeadAes128Gcm, srtp.ProtectionProfileAeadAes256Gcm:
		kl, err := profile.KeyLen()
		if err != nil {
			return nil, err
		}
		sl, err := profile.SaltLen()
		if err != nil {
			return nil, err
		}
		if len(key) != kl || len(salt) != sl || sl != len(Sealer{}.salt) {
			return nil, fmt.Errorf("%w: SRTP master key %d, salt %d bytes for %v", errBadKeys, len(key), len(salt), profile)
		}
		sk, err := srtpKDF(0x00, key, salt, kl) // SRTP encryption key
		if err != nil {
			return nil, err
		}
		ss, err := srtpKDF(0x02, key, salt, sl) // SRTP salting key
		if err != nil {
			return nil, err
		}
		block, err := aes.NewCipher(sk)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		s := &Sealer{aead: aead}
		copy(s.salt[:], ss)
		return s, nil
	}
	ctx, err := srtp.CreateContext(key, salt, profile)
	if err != nil {
		return nil, err
	}
	return &Sealer{ctx: ctx}, nil
}

// Fork returns a sealer for another SSRC of the same SRTP session (another track of one viewer):
// it shares this one's AES-GCM context, which Seal only reads (crypto/cipher's GCM keeps no state
// between calls, so two tracks' writers may seal at once), and has its own rollover counter and
// scratch. ok is false for a nil sealer and the non-AEAD profiles, whose srtp.Context is not shared: use NewSealer.
func (s *Sealer) Fork() (f *Sealer, ok bool) {
	if s == nil || s.aead == nil {
		return nil, false
	}
	return &Sealer{aead: s.aead, salt: s.salt}, true
}

// srtpKDF derives a session key of n bytes (RFC 3711 §4.3.1 and B.3, key derivation rate 0): AES
// in counter mode under the master key, from the master salt XORed with the label at the
// position srtp.Context puts it (octet 7 of the 16-octet block).
func srtpKDF(label byte, key, salt []byte, n int) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	var in [16]byte
	copy(in[:], salt)
	in[7] ^= label
	out := make([]byte, (n+15)/16*16)
	for i := 0; i*16 < n; i++ {
		binary.BigEndian.PutUint16(in[14:], uint16(i))
		block.Encrypt(out[i*16:], in[:])
	}
	return out[:n], nil
}

// Seal writes h and payload, encrypted, into buf (whose capacity must leave room for the
// overhead) and returns the datagram's length.
func (s *Sealer) Seal(buf []byte, h *rtp.Header, payload []byte) (int, error) {
	n, err := h.MarshalTo(buf[:cap(buf)])
	if err != nil {
		return 0, err
	}
	if s.aead == nil {
		size := n + len(payload)
		if size > cap(buf) {
			return 0, ErrTooLarge
		}
		buf = buf[:size]
		copy(buf[n:], payload)
		out, err := s.ctx.EncryptRTP(buf, buf, &s.hdr)
		if err != nil {
			return 0, err
		}
		if len(out) > cap(buf) {
			return 0, ErrTooLarge
		}
		if &out[0] != &buf[0] { // not in place (it should be: the room is there)
			copy(buf[:len(out)], out)
		}
		return len(out), nil
	}
	if n+len(payload)+aeadTagLen > cap(buf) {
		return 0, ErrTooLarge
	}
	// A writer sends one SSRC (its binding's). A different one starts a new index, as a new SSRC
	// does in srtp.Context; unlike srtp.Context, going back to the first SSRC would not find its
	// old index again, which the direct writers never do.
	if !s.has || h.SSRC != s.ssrc {
		s.ssrc, s.has, s.roc = h.SSRC, true, rocState{}
	}
	roc, ok := s.roc.next(h.SequenceNumber)
	if !ok {
		return 0, errSRTPIndex
	}
	// RFC 7714 §8.1: IV = (0x0000 || SSRC || ROC || SEQ) XOR salt.
	iv := &s.iv
	binary.BigEndian.PutUint16(iv[0:], binary.BigEndian.Uint16(s.salt[0:]))
	binary.BigEndian.PutUint32(iv[2:], h.SSRC^binary.BigEndian.Uint32(s.salt[2:]))
	binary.BigEndian.PutUint32(iv[6:], roc^binary.BigEndian.Uint32(s.salt[6:]))
	binary.BigEndian.PutUint16(iv[10:], h.SequenceNumber^binary.BigEndian.Uint16(s.salt[10:]))
	out := s.aead.Seal(buf[n:n], iv[:], payload, buf[:n])
	return n + len(out), nil
}

// rocState is a sender's SRTP packet index (ROC << 16 | SEQ) of the highest sequence number sent,
// from which the rollover counter of each packet (a retransmission may be older) is estimated as
// in RFC 3711 §3.3.1 and srtp.Context.
type rocState struct {
	index   uint64
	started bool
}

const maxROC = 1<<32 - 1

// next returns the rollover counter of a packet with sequence number seq and advances the index;
// false when the index is exhausted (2^48 packets).
func (r *rocState) next(seq uint16) (uint32, bool) {
	if !r.started {
		r.started = true
		r.index |= uint64(seq)
		return uint32(r.index >> 16), true
	}
	local := uint32(r.index >> 16)
	localSeq := int32(r.index & 0xffff)
	s := int32(seq)
	roc, diff := local, s-localSeq
	if r.index > 1<<15 {
		switch {
		case localSeq < 1<<15 && s-localSeq > 1<<15:
			roc, diff = local-1, s-localSeq-1<<16
		case localSeq >= 1<<15 && localSeq-1<<15 > s:
			roc, diff = local+1, s-localSeq+1<<16
		}
	}
	if roc == 0 && local == maxROC {
		return 0, false
	}
	if diff > 0 {
		r.index += uint64(diff)
	}
	return roc, true
}
