package signaling

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/relaycast/relaycast/live"
	"github.com/relaycast/relaycast/sfu"
	"github.com/relaycast/relaycast/signaling/wire"
)

// fuzzLive is the live room as a message family, the way the server wires it (server/live.go).
type fuzzLive struct{ svc *live.Service }

func (f fuzzLive) Types() []string     { return f.svc.Types() }
func (f fuzzLive) Open(Socket) Handler { return nil }
func (f fuzzLive) Decode(env wire.Envelope) (wire.Message, error) {
	m, err := f.svc.Decode(env)
	if errors.Is(err, live.ErrProtocol) {
		return nil, errors.Join(ErrProtocol, err)
	}
	return m, err
}

// FuzzFamilies decodes /ws messages through the registry of every family a server has:
// session (ping), media (publish, watch, quality, candidate, stop) and the live room (join,
// chat, react, bid, lots, moderate). Properties: errors are the protocol's (ErrProtocol, a bad
// room, sfu.ErrBadOffer, sfu.ErrBadQuality); a decoded message has the envelope's type and
// belongs to the family registered for it; encoding it and decoding that again gives the same
// encoding (round trip).
func FuzzFamilies(f *testing.F) {
	for _, s := range []string{
		`{"type":"ping"}`, `{"type":"publish","room":"shop","sdp":"v=0\r\n","token":"t"}`,
		`{"type":"watch","room":"shop","quality":"low"}`, `{"type":"quality","quality":"high"}`,
		`{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0}}`,
		`{"type":"stop"}`, `{"type":"join","room":"shop","name":"Ann","after":3,"ref":"r1"}`, `{"type":"leave"}`,
		`{"type":"chat","text":"hi","ref":"2"}`, `{"type":"react","kind":"fire"}`,
		`{"type":"bid","lot_id":"l1","amount":100}`, `{"type":"lot_create","lot":{"title":"x","duration_s":60}}`,
		`{"type":"lot_start","lot_id":"l1"}`, `{"type":"lot_end","lot_id":"l1"}`, `{"type":"lot_cancel","lot_id":"l1"}`,
		`{"type":"moderate","action":"ban","subject":"u2"}`, `{"type":"hello"}`, `{"type":"publish","room":"a b"}`,
		`{"type":"ping"} {"type":"ping"}`, `{"type":1}`,
	} {
		f.Add([]byte(s))
	}
	reg, err := newRegistry(sessionFamily{}, mediaFamily{}, fuzzLive{&live.Service{}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		i, m, err := reg.decode(data)
		if err != nil {
			if !errors.Is(err, ErrProtocol) && !errors.Is(err, errBadRoom) && !errors.Is(err, sfu.ErrBadOffer) && !errors.Is(err, sfu.ErrBadQuality) {
				t.Fatalf("decode(%q) = %v: not a protocol error", data, err)
			}
			return
		}
		typ := m.MessageType()
		if j, ok := reg.byType[typ]; !ok || j != i {
			t.Fatalf("%q decoded as %s by family %d", data, typ, i)
		}
		b, err := wire.Encode(m)
		if err != nil {
			t.Fatalf("encode %T: %v", m, err)
		}
		_, m2, err := reg.decode(b)
		if err != nil {
			t.Fatalf("re-decode %s: %v", b, err)
		}
		if b2, _ := wire.Encode(m2); !bytes.Equal(b, b2) {
			t.Fatalf("round trip: %s -> %s", b, b2)
		}
	})
}

// FuzzSDPFrag parses WHIP/WHEP PATCH bodies (application/trickle-ice-sdpfrag, RFC 8840).
// Properties: every candidate is one a=candidate line's value with its m-line's index and mid;
// no more candidates than such lines; a restart request carries no candidates.
func FuzzSDPFrag(f *testing.F) {
	f.Add("a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\n" +
		"a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0\r\n" +
		"a=end-of-candidates\r\nm=video 9 RTP/AVP 0\r\na=mid:1\r\na=candidate:2 1 udp 1 192.0.2.1 9 typ host\r\n")
	f.Add("a=ice-ufrag:new\r\na=ice-pwd:newpassword0123456789012\r\n")
	f.Add("a=candidate:1 1 udp 1 ::1 9 typ host\n")
	f.Add("a=end-of-candidates\r\n")
	f.Add("garbage line\r\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, frag string) {
		cands, restart, err := parseSDPFrag(frag)
		if err != nil {
			if cands != nil || restart {
				t.Fatalf("error %v with candidates or restart", err)
			}
			return
		}
		if restart && len(cands) > 0 {
			t.Fatal("restart with candidates")
		}
		if len(cands) > strings.Count(frag, "a=candidate:") {
			t.Fatalf("%d candidates", len(cands))
		}
		mlines := strings.Count(frag, "m=")
		for _, c := range cands {
			if !strings.HasPrefix(c.Candidate, "candidate:") || strings.ContainsAny(c.Candidate, "\n") {
				t.Fatalf("candidate %q", c.Candidate)
			}
			if c.SDPMLineIndex != nil && int(*c.SDPMLineIndex) >= mlines {
				t.Fatalf("m-line index %d of %d m-lines", *c.SDPMLineIndex, mlines)
			}
			if c.SDPMid != nil && (*c.SDPMid == "" || !strings.Contains(frag, "a=mid:"+*c.SDPMid)) {
				t.Fatalf("mid %q", *c.SDPMid)
			}
		}
	})
}
