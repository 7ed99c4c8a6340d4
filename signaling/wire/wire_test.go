package wire

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// The encoding every message had before the wire package (one struct of optional fields):
// type first, the same fields present or omitted.
func TestEncode(t *testing.T) {
	since := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	mid := "0"
	for _, c := range []struct {
		m    Message
		want string
	}{
		{Hello{Version: 1}, `{"type":"hello","version":1}`},
		{Hello{Version: 1, ICEServers: []ICEServer{{URLs: []string{"stun:x"}}}}, `{"type":"hello","version":1,"ice_servers":[{"urls":["stun:x"]}]}`},
		{Answer{SDP: "v=0"}, `{"type":"answer","sdp":"v=0"}`},
		{Waiting{Room: "r"}, `{"type":"waiting","room":"r"}`},
		{Live{Room: "r"}, `{"type":"live","room":"r"}`},
		{Status{Room: "r", Live: true, Viewers: 0, Since: since}, `{"type":"status","room":"r","live":true,"viewers":0,"since":"2026-11-25T10:00:00Z"}`},
		{Ended{Room: "r", Reason: "publisher left"}, `{"type":"ended","room":"r","reason":"publisher left"}`},
		{Error{Code: "busy", Message: "full"}, `{"type":"error","code":"busy","message":"full"}`},
		{Pong{}, `{"type":"pong"}`},
		{Layer{Quality: "auto", Layer: "", Layers: []string{"low", "high"}}, `{"type":"layer","quality":"auto","layer":"","layers":["low","high"],"audio_only":false}`},
		{Layer{Quality: "low", Layer: "", AudioOnly: true}, `{"type":"layer","quality":"low","layer":"","audio_only":true}`},
		{Candidate{Candidate: &webrtc.ICECandidateInit{Candidate: "c", SDPMid: &mid}}, `{"type":"candidate","candidate":{"candidate":"c","sdpMid":"0","sdpMLineIndex":null,"usernameFragment":null}}`},
		{Stop{}, `{"type":"stop"}`},
	} {
		got, err := Encode(c.m)
		if err != nil || string(got) != c.want {
			t.Errorf("Encode(%#v) = %s, %v; want %s", c.m, got, err, c.want)
		}
	}
}

func TestOpen(t *testing.T) {
	for _, c := range []struct {
		in, typ string
		ok      bool
	}{
		{`{"type":"ping"}`, "ping", true},
		{`{"type":"watch","room":"r"}`, "watch", true},
		{`{}`, "", false}, {`null`, "", false}, {`[]`, "", false}, {`{`, "", false},
		{`{"type":1}`, "", false}, {`{"type":"ping"}{"type":"ping"}`, "", false},
	} {
		env, err := Open([]byte(c.in))
		if (err == nil) != c.ok || (c.ok && env.Type != c.typ) {
			t.Errorf("Open(%s) = %q, %v", c.in, env.Type, err)
		}
	}
}

// tsMessages parses web/ui/src/wire.ts simply: each `export interface X {` block with a
// `type: "name";` line, and its field names (one a line, `name?: ...;` or `name: ...;`).
func tsMessages(t *testing.T) (map[string][]string, string) {
	t.Helper()
	src, err := os.ReadFile("../../web/ui/src/wire.ts")
	if err != nil {
		t.Fatal(err)
	}
	typeRe := regexp.MustCompile(`^type:\s*"([a-z_]+)";$`)
	fieldRe := regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\??:`)
	out := map[string][]string{}
	var typ string
	var fields []string
	in := false
	version := ""
	for _, line := range strings.Split(string(src), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "export const PROTOCOL_VERSION = "):
			version = strings.TrimSuffix(strings.TrimPrefix(line, "export const PROTOCOL_VERSION = "), ";")
		case strings.HasPrefix(line, "export interface ") && strings.HasSuffix(line, "{"):
			in, typ, fields = true, "", nil
		case in && line == "}":
			in = false
			if typ != "" {
				out[typ] = fields
			}
		case in:
			if m := typeRe.FindStringSubmatch(line); m != nil {
				typ = m[1]
			} else if m := fieldRe.FindStringSubmatch(line); m != nil {
				fields = append(fields, m[1])
			}
		}
	}
	return out, version
}

// goFields are the JSON field names of a message struct.
func goFields(m Message) []string {
	var out []string
	rt := reflect.TypeOf(m)
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// web/ui/src/wire.ts declares every message type of this package with the same fields, and the
// same protocol version, so the pages and the server cannot drift apart.
func TestWireTSMatches(t *testing.T) {
	ts, version := tsMessages(t)
	if version != strconv.Itoa(Version) {
		t.Errorf("wire.ts PROTOCOL_VERSION = %q, want %d", version, Version)
	}
	all := append(append([]Message(nil), ClientMessages...), ServerMessages...)
	seen := map[string]bool{}
	for _, m := range all {
		typ := m.MessageType()
		seen[typ] = true
		fields, ok := ts[typ]
		if !ok {
			t.Errorf("wire.ts has no interface with type %q (%T)", typ, m)
			continue
		}
		want := goFields(m)
		slices.Sort(want)
		slices.Sort(fields)
		if !slices.Equal(fields, want) {
			t.Errorf("%q: wire.ts fields %v, Go %T fields %v", typ, fields, m, want)
		}
	}
	for typ := range ts {
		if !seen[typ] {
			t.Errorf("wire.ts declares %q, which the Go wire package does not have", typ)
		}
	}
	if len(ts) < 15 {
		t.Errorf("parsed only %d messages from wire.ts", len(ts))
	}
}

// An Encoded message is sent as NewEncoded encoded it, and appending to it never writes into
// the shared encoding.
func TestEncoded(t *testing.T) {
	e, err := NewEncoded(Event{Room: "r", Seq: 3, Kind: "chat", At: 7, Data: []byte(`{"id":3}`)})
	if err != nil || e.MessageType() != TypeEvent {
		t.Fatal(e, err)
	}
	want := `{"type":"event","room":"r","seq":3,"kind":"chat","at":7,"data":{"id":3}}`
	a, _ := Encode(e)
	b, _ := Encode(e)
	if string(a) != want {
		t.Fatalf("Encode(encoded) = %s", a)
	}
	a = append(a, '\n')
	b = append(b, 'x')
	if string(a) != want+"\n" || string(b) != want+"x" {
		t.Fatalf("appends share memory: %q %q", a, b)
	}
}
