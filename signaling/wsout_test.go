package signaling_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/relaycast/relaycast/sfu"
	"github.com/relaycast/relaycast/signaling"
	"github.com/relaycast/relaycast/signaling/wire"
)

// floodFamily: `flood` {text: "N"} makes the handler Offer N echo messages of about 1 KiB,
// numbered, from its own goroutine (as the live room's dispatcher does), and report how many
// the socket took before it said its queue was full.
type floodFamily struct{ took chan int }

func (floodFamily) Types() []string { return []string{"flood"} }
func (floodFamily) Decode(env wire.Envelope) (wire.Message, error) {
	var m echoMsg
	err := env.Decode(&m)
	return m, err
}
func (f floodFamily) Open(s signaling.Socket) signaling.Handler { return floodHandler{s, f.took} }

type floodHandler struct {
	s    signaling.Socket
	took chan int
}

func (h floodHandler) Handle(m wire.Message) {
	var n int
	_, _ = fmt.Sscan(m.(echoMsg).Text, &n)
	pad := strings.Repeat("x", 1000)
	go func() {
		i := 0
		for ; i < n; i++ {
			if !h.s.Offer(echoMsg{Text: fmt.Sprintf("%06d %s", i, pad)}) {
				break
			}
		}
		h.took <- i
	}()
}
func (floodHandler) Close() {}

// Offer writes into an idle socket at once and queues behind what the kernel did not take: a
// client that reads gets every offered message once and in order; one that reads nothing makes
// Offer say no once about 1 MiB is queued (plus what the kernel buffers), and still gets, in
// order, every message Offer said yes to.
func TestOfferOrderAndLimit(t *testing.T) {
	fam := floodFamily{took: make(chan int, 1)}
	_, base := startSignaling(t, sfu.Config{Loopback: true}, fam)
	for _, c := range []struct {
		name  string
		n     int
		stall bool
	}{
		{"reading", 2000, false},
		{"stalled", 100000, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := websocket.Dialer{ReadBufferSize: 4096}
			conn, _, err := d.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, _, err := conn.ReadMessage(); err != nil { // hello
				t.Fatal(err)
			}
			if err := conn.WriteJSON(map[string]string{"type": "flood", "text": fmt.Sprint(c.n)}); err != nil {
				t.Fatal(err)
			}
			took := -1
			if c.stall {
				took = <-fam.took // nothing read until Offer said no
				if took >= c.n {
					t.Fatalf("a socket that reads nothing took all %d messages", took)
				}
				t.Logf("the stalled socket took %d messages (%.1f MiB) before its queue was full", took, float64(took)*1030/(1<<20))
			}
			want := c.n
			if c.stall {
				want = took
			}
			for i := 0; i < want; i++ {
				_, b, err := conn.ReadMessage()
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				var m struct{ Type, Text string }
				if err := json.Unmarshal(b, &m); err != nil || m.Type != "echo" || !strings.HasPrefix(m.Text, fmt.Sprintf("%06d ", i)) {
					t.Fatalf("message %d: %.40s (%v)", i, b, err)
				}
			}
			if !c.stall {
				if got := <-fam.took; got != c.n {
					t.Fatalf("a reading socket took %d of %d", got, c.n)
				}
			}
		})
	}
}
