package udpsend

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// sealerSeqs is a sending order of sequence numbers that crosses the 16-bit wrap twice, with
// retransmissions of older packets (from before the wrap too), gaps, and a long jump back.
func sealerSeqs(start uint16, rng *rand.Rand) []uint16 {
	var seqs []uint16
	s := start
	for i := 0; i < 3000; i++ {
		seqs = append(seqs, s)
		switch r := rng.IntN(100); {
		case r < 5: // a retransmission of one of the last 500 packets
			seqs = append(seqs, s-uint16(1+rng.IntN(500)))
		case r < 7: // a gap (lost at the publisher)
			s += uint16(2 + rng.IntN(50))
			continue
		case r < 8: // a far retransmission (outside the window: a NACK answered late)
			seqs = append(seqs, s-uint16(20000+rng.IntN(10000)))
		}
		s++
	}
	// A jump forward by more than half the sequence space (srtp.Context takes it as a step back),
	// then on through another wrap.
	s += 40000
	for i := 0; i < 70000; i += 7 {
		seqs = append(seqs, s)
		s += 7
	}
	return seqs
}

// TestRTPSealerMatchesSRTP: the direct path's own AEAD sealing gives exactly srtp.Context's bytes,
// for every profile the DTLS key capture yields, across sequence-number wraps, retransmissions,
// header extensions and CSRCs, an SSRC change, and payloads of every size class.
func TestRTPSealerMatchesSRTP(t *testing.T) {
	profiles := []srtp.ProtectionProfile{
		srtp.ProtectionProfileAeadAes128Gcm,
		srtp.ProtectionProfileAeadAes256Gcm,
		srtp.ProtectionProfileAes128CmHmacSha1_80,
	}
	for _, profile := range profiles {
		for _, start := range []uint16{0, 1, 32767, 32768, 65000, 65535} {
			t.Run(profile.String()+"/"+strconv.Itoa(int(start)), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(profile), uint64(start)))
				kl, _ := profile.KeyLen()
				sl, _ := profile.SaltLen()
				key, salt := make([]byte, kl), make([]byte, sl)
				for i := range key {
					key[i] = byte(rng.Uint32())
				}
				for i := range salt {
					salt[i] = byte(rng.Uint32())
				}
				seal, err := NewSealer(profile, key, salt)
				if err != nil {
					t.Fatal(err)
				}
				if aead := profile != srtp.ProtectionProfileAes128CmHmacSha1_80; aead != (seal.aead != nil) {
					t.Fatalf("AEAD profile %v: own sealing %v", profile, seal.aead != nil)
				}
				ref, err := srtp.CreateContext(key, salt, profile)
				if err != nil {
					t.Fatal(err)
				}
				seqs := sealerSeqs(start, rng)
				got := make([]byte, 1500)
				var plain, want []byte
				for i, seq := range seqs {
					ssrc := uint32(0x11223344)
					if i >= len(seqs)-500 {
						ssrc = 0x55667788 // a new SSRC: a new index
					}
					h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(i) * 3000,
						SSRC: ssrc, Marker: i%6 == 5}
					switch i % 5 {
					case 1:
						_ = h.SetExtension(3, []byte{byte(i), byte(i >> 8), 1})
					case 2:
						h.CSRC = []uint32{1, uint32(i)}
					case 3:
						h.Extension, h.ExtensionProfile = true, rtp.ExtensionProfileTwoByte
						_ = h.SetExtension(5, bytes.Repeat([]byte{byte(i)}, 1+i%20))
					}
					payload := make([]byte, []int{0, 1, 15, 16, 17, 160, 1100, 1200}[i%8])
					for j := range payload {
						payload[j] = byte(rng.Uint32())
					}
					plain, err = (&rtp.Packet{Header: h, Payload: payload}).Marshal()
					if err != nil {
						t.Fatal(err)
					}
					want, err = ref.EncryptRTP(want[:0], plain, nil)
					if err != nil {
						t.Fatal(err)
					}
					n, err := seal.Seal(got[:0], &h, payload)
					if err != nil {
						t.Fatalf("packet %d (seq %d): %v", i, seq, err)
					}
					if !bytes.Equal(got[:n], want) {
						t.Fatalf("packet %d (seq %d, %d bytes): differs from srtp.Context", i, seq, len(payload))
					}
				}
			})
		}
	}
}

// TestRTPSealerDecrypts: a stream sealed by Sealer in sending order decrypts with
// srtp.Context (what the viewer runs), across a wrap, for each AEAD profile.
func TestRTPSealerDecrypts(t *testing.T) {
	for _, profile := range []srtp.ProtectionProfile{srtp.ProtectionProfileAeadAes128Gcm, srtp.ProtectionProfileAeadAes256Gcm} {
		kl, _ := profile.KeyLen()
		sl, _ := profile.SaltLen()
		key, salt := bytes.Repeat([]byte{7}, kl), bytes.Repeat([]byte{9}, sl)
		seal, err := NewSealer(profile, key, salt)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := srtp.CreateContext(key, salt, profile)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1500)
		for i := 0; i < 2000; i++ {
			seq := uint16(64535 + i)
			h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(i), SSRC: 42}
			payload := bytes.Repeat([]byte{byte(i)}, 100+i%900)
			n, err := seal.Seal(buf[:0], &h, payload)
			if err != nil {
				t.Fatal(err)
			}
			out, err := dec.DecryptRTP(nil, buf[:n], nil)
			if err != nil {
				t.Fatalf("%v seq %d: %v", profile, seq, err)
			}
			var p rtp.Packet
			if err := p.Unmarshal(out); err != nil || p.SequenceNumber != seq || !bytes.Equal(p.Payload, payload) {
				t.Fatalf("%v seq %d: decrypted to something else (%v)", profile, seq, err)
			}
		}
	}
}

// TestRTPSealerFork: two tracks of one viewer, one sealer and its fork, sealing at once from two
// goroutines (as two writer groups do), give exactly what one srtp.Context per track gives; the
// non-AEAD profile and a nil sealer do not fork.
func TestRTPSealerFork(t *testing.T) {
	for _, profile := range []srtp.ProtectionProfile{srtp.ProtectionProfileAeadAes128Gcm, srtp.ProtectionProfileAeadAes256Gcm} {
		kl, _ := profile.KeyLen()
		sl, _ := profile.SaltLen()
		key, salt := bytes.Repeat([]byte{3}, kl), bytes.Repeat([]byte{5}, sl)
		first, err := NewSealer(profile, key, salt)
		if err != nil {
			t.Fatal(err)
		}
		second, ok := first.Fork()
		if !ok || second.aead != first.aead {
			t.Fatalf("%v: no fork sharing the AEAD", profile)
		}
		errs := make(chan error, 2)
		for k, seal := range []*Sealer{first, second} {
			go func() {
				ref, err := srtp.CreateContext(key, salt, profile)
				if err != nil {
					errs <- err
					return
				}
				buf := make([]byte, 1500)
				var want []byte
				for i := 0; i < 20000; i++ {
					h := rtp.Header{Version: 2, PayloadType: 96 + uint8(k), SequenceNumber: uint16(60000 + i), Timestamp: uint32(i), SSRC: uint32(100 + k)}
					payload := bytes.Repeat([]byte{byte(i + k)}, 50+i%1100)
					plain, _ := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
					if want, err = ref.EncryptRTP(want[:0], plain, nil); err != nil {
						errs <- err
						return
					}
					n, err := seal.Seal(buf[:0], &h, payload)
					if err != nil || !bytes.Equal(buf[:n], want) {
						errs <- fmt.Errorf("%v track %d packet %d: differs from srtp.Context (%v)", profile, k, i, err)
						return
					}
				}
				errs <- nil
			}()
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	cm, err := NewSealer(srtp.ProtectionProfileAes128CmHmacSha1_80, make([]byte, 16), make([]byte, 14))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cm.Fork(); ok {
		t.Fatal("AES-CM sealer forked: its srtp.Context would be shared")
	}
	if _, ok := (*Sealer)(nil).Fork(); ok {
		t.Fatal("nil sealer forked")
	}
}

// TestRTPSealerRefuses: a buffer without room for the tag, and an exhausted index, are errors,
// never a short or reused-IV datagram.
func TestRTPSealerRefuses(t *testing.T) {
	seal, err := NewSealer(srtp.ProtectionProfileAeadAes128Gcm, make([]byte, 16), make([]byte, 12))
	if err != nil {
		t.Fatal(err)
	}
	h := rtp.Header{Version: 2, SSRC: 1, SequenceNumber: 5}
	if _, err := seal.Seal(make([]byte, 0, 12+100+15), &h, make([]byte, 100)); err == nil {
		t.Fatal("sealed into a buffer without room for the tag")
	}
	r := rocState{index: maxROC<<16 | 0xffff, started: true}
	if _, ok := r.next(0); ok {
		t.Fatal("index past 2^48 accepted")
	}
	if _, err := NewSealer(srtp.ProtectionProfileAeadAes128Gcm, make([]byte, 16), make([]byte, 14)); err == nil {
		t.Fatal("wrong salt length accepted")
	}
}

// BenchmarkSeal is the SRTP sealing of one 1,100-byte packet per profile: Sealer (the direct
// path) against srtp.Context (marshal, copy, EncryptRTP in place), 0 allocations.
func BenchmarkSeal(b *testing.B) {
	for _, profile := range []srtp.ProtectionProfile{srtp.ProtectionProfileAeadAes128Gcm, srtp.ProtectionProfileAeadAes256Gcm, srtp.ProtectionProfileAes128CmHmacSha1_80} {
		kl, _ := profile.KeyLen()
		sl, _ := profile.SaltLen()
		key, salt := make([]byte, kl), make([]byte, sl)
		p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SSRC: 1234}, Payload: make([]byte, 1100)}
		buf := make([]byte, 1500)
		b.Run(profile.String()+"/sealer", func(b *testing.B) {
			s, err := NewSealer(profile, key, salt)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(p.Payload)))
			for i := 0; i < b.N; i++ {
				p.SequenceNumber = uint16(i)
				if _, err := s.Seal(buf[:0], &p.Header, p.Payload); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(profile.String()+"/context", func(b *testing.B) {
			ctx, err := srtp.CreateContext(key, salt, profile)
			if err != nil {
				b.Fatal(err)
			}
			var hdr rtp.Header
			b.ReportAllocs()
			b.SetBytes(int64(len(p.Payload)))
			for i := 0; i < b.N; i++ {
				p.SequenceNumber = uint16(i)
				n, _ := p.Header.MarshalTo(buf)
				n += copy(buf[n:], p.Payload)
				if _, err := ctx.EncryptRTP(buf[:n], buf[:n], &hdr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
