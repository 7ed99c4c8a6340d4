package signaling_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/sfu"
	"github.com/relaycast/relaycast/signaling"
	"github.com/relaycast/relaycast/signaling/wire"
)

// echoMsg is a test family's message (as a chat message will be).
type echoMsg struct {
	Text string `json:"text"`
}

func (echoMsg) MessageType() string { return "echo" }

// echoFamily answers `echo` with the same text and refuses an empty one; it counts closes.
type echoFamily struct{ closed chan struct{} }

func (echoFamily) Types() []string { return []string{"echo"} }

func (echoFamily) Decode(env wire.Envelope) (wire.Message, error) {
	var m echoMsg
	if err := env.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", signaling.ErrProtocol, err)
	}
	if m.Text == "" {
		return nil, errors.New("echo needs text")
	}
	return m, nil
}

func (f echoFamily) Open(s signaling.Socket) signaling.Handler { return &echoHandler{s: s, f: f} }

type echoHandler struct {
	s signaling.Socket
	f echoFamily
}

func (h *echoHandler) Handle(m wire.Message) { h.s.Send(m) }
func (h *echoHandler) Close()                { close(h.f.closed) }

// A family registered through Params.Families gets its message types on a real socket beside the
// built-in ones (which still answer), its decoding errors become `error` messages, its handler is
// closed with the socket, and unknown types still close the socket as before.
func TestExtraFamily(t *testing.T) {
	fam := echoFamily{closed: make(chan struct{})}
	_, base := startSignaling(t, sfu.Config{Loopback: true}, fam)

	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	read := func() string {
		t.Helper()
		_, b, err := conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	if got := read(); got != `{"type":"hello","version":1}` {
		t.Fatalf("hello = %s", got)
	}
	for _, c := range []struct{ send, want string }{
		{`{"type":"echo","text":"hi"}`, `{"type":"echo","text":"hi"}`},
		{`{"type":"ping"}`, `{"type":"pong"}`},
		{`{"type":"echo","text":""}`, `{"type":"error","code":"internal","message":"echo needs text"}`},
		{`{"type":"quality","quality":"ultra"}`, `{"type":"error","code":"bad_request","message":"invalid quality: quality needs one of auto, high, medium, low"}`},
	} {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(c.send)); err != nil {
			t.Fatal(err)
		}
		if got := read(); got != c.want {
			t.Errorf("%s: got %s, want %s", c.send, got, c.want)
		}
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"shout"}`)); err != nil {
		t.Fatal(err)
	}
	_, _, err = conn.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseInvalidFramePayloadData || !strings.Contains(ce.Text, `unknown type "shout"`) {
		t.Fatalf("unknown type: %v, want close 1007", err)
	}
	select {
	case <-fam.closed:
	case <-time.After(5 * time.Second):
		t.Error("the family's handler was not closed with the socket")
	}
}

// Two families claiming one message type is a wiring mistake caught at construction.
func TestFamilyTypeClash(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), `"ping"`) {
			t.Errorf("recover() = %v, want a panic naming the type", r)
		}
	}()
	signaling.New(signaling.Params{Families: []signaling.Family{clash{}}})
}

type clash struct{ echoFamily }

func (clash) Types() []string { return []string{"ping"} }

// The Go client (client/ws.go, on the wire types) publishes and watches over /ws: the answer
// reaches both, media flows, a watch of a room that is not live is `waiting` (not_found), and a
// bad quality is the server's bad_request.
func TestGoClientOverWS(t *testing.T) {
	s, base := startSignaling(t, sfu.Config{Loopback: true, LiveGrace: 500 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	vs, err := client.DialWS(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer vs.Close()
	var wsErr *client.WSError
	if _, err := vs.Watch("nobody", "")(ctx, "v=0"); !errors.As(err, &wsErr) || wsErr.Code != "not_found" {
		t.Errorf("watch of a room that is not live: %v", err)
	}
	if _, err := vs.WatchQuality("nobody", "", "4k")(ctx, "v=0"); !errors.As(err, &wsErr) || wsErr.Code != "bad_request" {
		t.Errorf("bad quality: %v", err)
	}

	ps, err := client.DialWS(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	pub, err := client.NewPublisher(client.PublisherParams{Config: client.Config{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.Connect(ctx, ps.Publish("shop", "tok")); err != nil {
		t.Fatal(err)
	}
	for !live(s, "shop") {
		if ctx.Err() != nil {
			t.Fatal("room not live")
		}
		time.Sleep(10 * time.Millisecond)
	}
	v, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.Connect(ctx, vs.WatchQuality("shop", "", "auto")); err != nil {
		t.Fatal(err)
	}
	for v.Stats().VideoPackets < 30 {
		if ctx.Err() != nil {
			t.Fatalf("viewer got %+v", v.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func live(s *sfu.SFU, room string) bool {
	_, ok := s.Room(room)
	return ok
}

// featureFamily announces a feature; its `echo` waits with SendWait and `bye` closes the socket
// with a reason.
type featureFamily struct{ echoFamily }

func (featureFamily) Feature() string { return "echoes" }
func (featureFamily) Types() []string { return []string{"echo", "bye"} }

func (f featureFamily) Decode(env wire.Envelope) (wire.Message, error) {
	if env.Type == "bye" {
		return byeMsg{}, nil
	}
	return f.echoFamily.Decode(env)
}

func (f featureFamily) Open(s signaling.Socket) signaling.Handler { return featureHandler{s} }

type byeMsg struct{}

func (byeMsg) MessageType() string { return "bye" }

type featureHandler struct{ s signaling.Socket }

func (h featureHandler) Handle(m wire.Message) {
	if _, ok := m.(byeMsg); ok {
		h.s.Close("bye now")
		return
	}
	h.s.SendWait(m, nil)
}
func (featureHandler) Close() {}

// A Featurer family is named in hello's features; SendWait queues its answer; Close closes the
// socket with 1008 and the reason.
func TestFamilyFeatureSendWaitClose(t *testing.T) {
	_, base := startSignaling(t, sfu.Config{Loopback: true}, featureFamily{echoFamily{closed: make(chan struct{})}})
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, c := range []struct{ send, want string }{
		{"", `{"type":"hello","version":1,"features":["echoes"]}`},
		{`{"type":"echo","text":"hi"}`, `{"type":"echo","text":"hi"}`},
	} {
		if c.send != "" {
			if err := conn.WriteMessage(websocket.TextMessage, []byte(c.send)); err != nil {
				t.Fatal(err)
			}
		}
		_, b, err := conn.ReadMessage()
		if err != nil || strings.TrimSpace(string(b)) != c.want {
			t.Fatalf("got %s, %v; want %s", b, err, c.want)
		}
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"bye"}`)); err != nil {
		t.Fatal(err)
	}
	_, _, err = conn.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || ce.Text != "bye now" {
		t.Fatalf("bye: %v, want close 1008 bye now", err)
	}
}
