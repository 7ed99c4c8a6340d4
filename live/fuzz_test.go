package live

import (
	"errors"
	"log/slog"
	"testing"
	"unicode/utf8"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/signaling/wire"
)

// refusingAuth refuses every token (a fuzzed token is never a valid one).
type refusingAuth struct{}

func (refusingAuth) Verify(string) (auth.Claims, error) { return auth.Claims{}, auth.ErrInvalidToken }

// fuzzSocket records what a Conn answers.
type fuzzSocket struct{ sent []wire.Message }

func (s *fuzzSocket) Send(m wire.Message)                             { s.sent = append(s.sent, m) }
func (s *fuzzSocket) SendWait(m wire.Message, _ <-chan struct{}) bool { s.Send(m); return true }
func (s *fuzzSocket) Offer(ms ...wire.Message) bool {
	for _, m := range ms {
		s.Send(m)
	}
	return true
}
func (s *fuzzSocket) Close(string)          {}
func (s *fuzzSocket) Token() string         { return "" }
func (s *fuzzSocket) RemoteIP() string      { return "192.0.2.1" }
func (s *fuzzSocket) Done() <-chan struct{} { return nil }

// FuzzLiveMessage decodes client messages of the live family (join, leave, chat, react, bid,
// lot_create/start/end/cancel, moderate: PROTOCOL.md "Live room") and handles each on a socket
// that has not joined, with a service that has no Redis: every message must be answered (an
// error with a known code, or ok for leave) without touching the room. Properties: a decode
// error wraps ErrProtocol; a decoded message has the envelope's type; each handled message gets
// exactly one answer, of a documented code, echoing a ref of at most 64 bytes.
func FuzzLiveMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"join","room":"shop","name":"Ann","after":0,"ref":"1"}`,
		`{"type":"join","room":"shop","token":"eyJ.x.y","ref":"2"}`,
		`{"type":"join","room":"-bad","name":"Ann"}`,
		`{"type":"join","room":"shop","name":"","guest_key":"k"}`,
		`{"type":"leave","ref":"3"}`,
		`{"type":"chat","text":"hello https://example.com","ref":"4"}`,
		`{"type":"react","kind":"heart"}`,
		`{"type":"bid","lot_id":"lot1","amount":1500,"ref":"5"}`,
		`{"type":"bid","lot_id":"lot1","max_amount":9223372036854775807}`,
		`{"type":"lot_create","ref":"6","lot":{"title":"Sneakers","start_price":1000,"duration_s":60,"increments":[{"from":0,"step":100}]}}`,
		`{"type":"lot_start","lot_id":"lot1"}`, `{"type":"lot_end","lot_id":"lot1"}`, `{"type":"lot_cancel","lot_id":"lot1"}`,
		`{"type":"moderate","action":"timeout","subject":"u1","seconds":60,"ref":"7"}`,
		`{"type":"moderate","action":"settings","settings":{"slow_mode_s":5,"links":false}}`,
		`{"type":"moderate","action":"pin","product":{"title":"Hat","price":"9.99","url":"https://shop.example/hat"}}`,
		`{"type":"moderate","action":"delete","id":42}`,
		`{"type":"chat","text":"\xff\xfe"}`, `{"type":"bid","amount":"1"}`, `{"type":"join","ref":"` + string(make([]byte, 80)) + `"}`,
	} {
		f.Add([]byte(s))
	}
	svc := &Service{p: Params{Auth: refusingAuth{}}, log: slog.New(slog.DiscardHandler), guests: newGuestKeys(nil), bids: newLimiter(bidRate, bidBurst)}
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := wire.Open(data)
		if err != nil {
			return
		}
		m, err := svc.Decode(env)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("decode error %v is not ErrProtocol", err)
			}
			return
		}
		if m.MessageType() != env.Type {
			t.Fatalf("type %q decoded as %q", env.Type, m.MessageType())
		}
		if j, ok := m.(wire.Join); ok && len(j.Ref) <= maxRef {
			if _, err := svc.Identify(j.Room, j.Token, j.Name); err == nil {
				return // a valid guest join goes on to Redis: covered by the live tests
			}
		}
		sock := &fuzzSocket{}
		svc.Open(sock).Handle(m)
		if len(sock.sent) != 1 {
			t.Fatalf("%s answered with %d messages", env.Type, len(sock.sent))
		}
		switch a := sock.sent[0].(type) {
		case wire.OK:
			if env.Type != wire.TypeLeave {
				t.Fatalf("%s answered ok before join", env.Type)
			}
		case wire.Error:
			if len(a.Ref) > maxRef || a.Code == CodeInternal || a.Code == "" || !utf8.ValidString(a.Message) && utf8.Valid(data) {
				t.Fatalf("%s answered %+v", env.Type, a)
			}
		default:
			t.Fatalf("%s answered %T", env.Type, a)
		}
	})
}
