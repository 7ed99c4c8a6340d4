package signaling

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/relaycast/relaycast/sfu"
	"github.com/relaycast/relaycast/signaling/wire"
)

func TestValidRoom(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"shop1", true}, {"A_b-9", true}, {strings.Repeat("a", 64), true},
		{"", false}, {"-x", false}, {"_x", false}, {"a/b", false}, {"..", false}, {"a b", false},
		{strings.Repeat("a", 65), false}, {"ünï", false}, {"a%2F", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ValidRoom(tc.name); got != tc.ok {
				t.Errorf("ValidRoom(%q) = %v", tc.name, got)
			}
		})
	}
}

func TestDecodeMessage(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		protocol bool // a protocol violation (socket closed)
		err      error
	}{
		{"publish", `{"type":"publish","room":"r","sdp":"v=0"}`, false, nil},
		{"watch without sdp", `{"type":"watch","room":"r"}`, false, nil},
		{"candidate", `{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0"}}`, false, nil},
		{"end of candidates", `{"type":"candidate","candidate":null}`, false, nil},
		{"not json", `{`, true, nil},
		{"two objects", `{"type":"ping"}{"type":"ping"}`, true, nil},
		{"no type", `{"room":"r"}`, true, nil},
		{"unknown type", `{"type":"rm -rf"}`, true, nil},
		{"wrong field type", `{"type":123}`, true, nil},
		{"bad room", `{"type":"watch","room":"../etc"}`, false, errBadRoom},
		{"publish without sdp", `{"type":"publish","room":"r"}`, false, sfu.ErrBadOffer},
		{"quality", `{"type":"quality","quality":"low"}`, false, nil},
		{"watch with quality", `{"type":"watch","room":"r","quality":"high"}`, false, nil},
		{"unknown quality", `{"type":"quality","quality":"ultra"}`, false, sfu.ErrBadQuality},
		{"quality missing", `{"type":"quality"}`, false, sfu.ErrBadQuality},
		{"watch with bad quality", `{"type":"watch","room":"r","quality":"4k"}`, false, sfu.ErrBadQuality},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeMessage([]byte(tc.in))
			switch {
			case tc.protocol:
				if !errors.Is(err, ErrProtocol) {
					t.Errorf("err = %v, want a protocol violation", err)
				}
			case tc.err != nil:
				if !errors.Is(err, tc.err) || errors.Is(err, ErrProtocol) {
					t.Errorf("err = %v, want %v", err, tc.err)
				}
			case err != nil:
				t.Errorf("err = %v", err)
			}
		})
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"publish","room":"r","sdp":"v=0","token":"x"}`, `{"type":"watch","room":"r"}`,
		`{"type":"candidate","candidate":{"candidate":"c","sdpMid":"0","sdpMLineIndex":0}}`,
		`{"type":"stop"}`, `{"type":"ping"}`, `{"type":"quality","quality":"auto"}`, `{}`, `[]`, `null`, `{"type":"watch","room":"` + strings.Repeat("a", 70) + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeMessage(data)
		if err != nil {
			return
		}
		var room string
		switch m := m.(type) {
		case wire.Publish:
			room = m.Room
			if !ValidRoom(m.Room) || m.SDP == "" {
				t.Fatalf("accepted %q with bad room %q or no sdp", data, m.Room)
			}
		case wire.Watch:
			room = m.Room
			if !ValidRoom(m.Room) {
				t.Fatalf("accepted %q with bad room %q", data, m.Room)
			}
		case wire.SetQuality:
			if _, err := sfu.ParseQuality(m.Quality); err != nil || m.Quality == "" {
				t.Fatalf("accepted quality %q", m.Quality)
			}
		case wire.Candidate, wire.Stop, wire.Ping:
		default:
			t.Fatalf("accepted unknown message %T from %q", m, data)
		}
		if !utf8.ValidString(room) {
			t.Fatalf("room not UTF-8")
		}
	})
}

func TestParseSDPFrag(t *testing.T) {
	frag := "a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\n" +
		"a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0\r\n" +
		"a=end-of-candidates\r\nm=video 9 RTP/AVP 0\r\na=mid:1\r\na=candidate:2 1 udp 1 192.0.2.1 9 typ host\r\n"
	cands, restart, err := parseSDPFrag(frag)
	if err != nil || restart || len(cands) != 2 {
		t.Fatalf("cands=%v restart=%v err=%v", cands, restart, err)
	}
	if *cands[0].SDPMid != "0" || *cands[1].SDPMid != "1" || *cands[1].SDPMLineIndex != 1 {
		t.Errorf("mids/indices wrong: %+v %+v", cands[0], cands[1])
	}
	if !strings.HasPrefix(cands[0].Candidate, "candidate:") {
		t.Errorf("candidate = %q", cands[0].Candidate)
	}
	if _, restart, _ := parseSDPFrag("a=ice-ufrag:new\r\na=ice-pwd:newpassword0123456789012\r\n"); !restart {
		t.Error("credentials alone should be an ICE restart request")
	}
	if _, _, err := parseSDPFrag("garbage line\r\n"); err == nil {
		t.Error("garbage accepted")
	}
}

func TestLimiter(t *testing.T) {
	l := &limiter{max: 3, perIP: 2, byIP: map[string]int{}}
	r1, ok1 := l.acquire("a")
	_, ok2 := l.acquire("a")
	_, ok3 := l.acquire("a")
	_, ok4 := l.acquire("b")
	_, ok5 := l.acquire("c")
	if !ok1 || !ok2 || ok3 || !ok4 || ok5 {
		t.Fatalf("got %v %v %v %v %v", ok1, ok2, ok3, ok4, ok5)
	}
	r1()
	r1() // releasing twice is harmless
	if _, ok := l.acquire("c"); !ok {
		t.Error("slot not released")
	}
	if _, ok := l.acquire("d"); ok {
		t.Error("double release freed two slots")
	}
}
