package signaling_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/relaycast/relaycast/sfu"
	"github.com/relaycast/relaycast/signaling"
	"github.com/relaycast/relaycast/signaling/wire"
)

// redirectSFU sends every publish and watch to another node.
type redirectSFU struct{ *sfu.SFU }

func (redirectSFU) Publish(_ context.Context, p sfu.PublishParams) (*sfu.Publisher, string, error) {
	return nil, "", &signaling.Redirect{URL: "http://127.0.0.1:1/whip/" + p.Room}
}

func (redirectSFU) Subscribe(_ context.Context, p sfu.SubscribeParams) (*sfu.Subscriber, string, error) {
	return nil, "", &signaling.Redirect{URL: "http://127.0.0.1:1/whep/" + p.Room}
}

// A Redirect from the SFU is a 307 with Location on WHIP and WHEP (RFC 9725 §4.2), and an
// error {code: "redirect", url} on /ws, which stays open.
func TestRedirect(t *testing.T) {
	s, err := sfu.New(sfu.Config{Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	sig := signaling.New(signaling.Params{SFU: redirectSFU{s}, Auth: allowAll{}})
	mux := http.NewServeMux()
	sig.Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	t.Cleanup(func() { _ = sig.Close() })

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, kind := range []string{"whip", "whep"} {
		resp, err := noFollow.Post(hs.URL+"/"+kind+"/show", "application/sdp", strings.NewReader("v=0\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "http://127.0.0.1:1/"+kind+"/show" {
			t.Errorf("%s: %d Location %q", kind, resp.StatusCode, resp.Header.Get("Location"))
		}
	}

	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	read := func() wire.Error {
		t.Helper()
		for {
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, data, err := conn.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			var e wire.Error
			if env, err := wire.Open(data); err != nil {
				t.Fatal(err)
			} else if env.Type == wire.TypeError {
				if err := env.Decode(&e); err != nil {
					t.Fatal(err)
				}
				return e
			}
		}
	}
	for _, c := range []struct{ msg, url string }{
		{`{"type":"publish","room":"show","sdp":"v=0"}`, "http://127.0.0.1:1/whip/show"},
		{`{"type":"watch","room":"show","sdp":"v=0"}`, "http://127.0.0.1:1/whep/show"},
	} {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(c.msg)); err != nil {
			t.Fatal(err)
		}
		if e := read(); e.Code != "redirect" || e.URL != c.url || e.Message == "" {
			t.Errorf("%s: error = %+v", c.msg, e)
		}
	}
}
