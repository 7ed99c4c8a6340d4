package signaling_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/sfu"
)

type layerMsg struct {
	Type      string   `json:"type"`
	SDP       string   `json:"sdp"`
	Code      string   `json:"code"`
	Quality   string   `json:"quality"`
	Layer     *string  `json:"layer"`
	Layers    []string `json:"layers"`
	AudioOnly *bool    `json:"audio_only"`
}

// allowAll grants everything (the tokens themselves are tested in auth and server).
type allowAll struct{}

func (allowAll) Authorize(_, room string, g auth.Grant) (auth.Claims, error) {
	return auth.Claims{Room: room, Grants: []auth.Grant{g}, Subject: "test"}, nil
}

// A simulcast publisher over WHIP goes live with three layers. A viewer of the room is told its layer over /ws, switches with a `quality` message, and
// gets `bad_request` for an unknown quality; WHEP takes ?quality= and refuses a bad one.
func TestQualityMessages(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for several seconds")
	}
	s, base := startSignaling(t, sfu.Config{Loopback: true, LiveGrace: time.Second})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub, err := client.NewPublisher(client.PublisherParams{Config: client.Config{Loopback: true}, Simulcast: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	// The simulcast offer goes through WHIP, as OBS would send it.
	if err := pub.Connect(ctx, client.WHIP(nil, base+"/whip/sc", "any-token", nil)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, ok := s.Room("sc"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("room not live")
		}
	}

	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan layerMsg, 64)
	go func() {
		defer close(msgs)
		for {
			var m layerMsg
			if conn.ReadJSON(&m) != nil {
				return
			}
			msgs <- m
		}
	}()
	next := func(typ string, ok func(layerMsg) bool) layerMsg {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case m, open := <-msgs:
				if !open {
					t.Fatalf("socket closed waiting for %s", typ)
				}
				if m.Type == typ && (ok == nil || ok(m)) {
					return m
				}
			case <-timeout:
				t.Fatalf("no %s message", typ)
			}
		}
	}
	next("hello", nil)

	v, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.Connect(ctx, func(ctx context.Context, offer string) (string, error) {
		if err := conn.WriteJSON(map[string]string{"type": "watch", "room": "sc", "sdp": offer, "quality": "high"}); err != nil {
			return "", err
		}
		return next("answer", nil).SDP, nil
	}); err != nil {
		t.Fatal(err)
	}
	m := next("layer", func(m layerMsg) bool { return m.Layer != nil && *m.Layer == "high" && len(m.Layers) == 3 })
	if m.Quality != "high" || len(m.Layers) != 3 || m.AudioOnly == nil || *m.AudioOnly {
		t.Errorf("layer message %+v", m)
	}
	if err := conn.WriteJSON(map[string]string{"type": "quality", "quality": "low"}); err != nil {
		t.Fatal(err)
	}
	next("layer", func(m layerMsg) bool { return m.Quality == "low" && m.Layer != nil && *m.Layer == "low" })
	if err := conn.WriteJSON(map[string]string{"type": "quality", "quality": "best"}); err != nil {
		t.Fatal(err)
	}
	if m := next("error", nil); m.Code != "bad_request" {
		t.Errorf("unknown quality: error code %q", m.Code)
	}

	// WHEP: ?quality= picks the layer, a bad value is a 400.
	for _, tc := range []struct {
		q    string
		want int
	}{{"bogus", http.StatusBadRequest}, {"low", http.StatusCreated}} {
		w, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}})
		if err != nil {
			t.Fatal(err)
		}
		err = w.Connect(ctx, client.WHIP(nil, base+"/whep/sc?quality="+tc.q, "", nil))
		var he *client.HTTPError
		switch {
		case tc.want == http.StatusCreated && err != nil:
			t.Errorf("WHEP ?quality=%s: %v", tc.q, err)
		case tc.want != http.StatusCreated && (!asHTTPError(err, &he) || he.Status != tc.want):
			t.Errorf("WHEP ?quality=%s: %v, want HTTP %d", tc.q, err, tc.want)
		}
		_ = w.Close()
	}
}

func asHTTPError(err error, he **client.HTTPError) bool { return errors.As(err, he) }
