package server_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/client"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testserver"
	"github.com/relaycast/relaycast/server"
)

type testServer struct {
	*server.Server
	url string
}

func start(t *testing.T, mutate func(*config.Config)) *testServer {
	t.Helper()
	srv := testserver.Start(t, mutate)
	return &testServer{Server: srv, url: srv.URL()}
}

func (s *testServer) token(t *testing.T, room string, g auth.Grant) string {
	t.Helper()
	return testserver.Token(t, s.Server, room, g)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// whipPublish publishes a synthetic stream to room over WHIP and returns it and its session URL.
func whipPublish(t *testing.T, s *testServer, room, token string) (*client.Publisher, string, error) {
	t.Helper()
	pub, err := client.NewPublisher(client.PublisherParams{Config: client.Config{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	var loc string
	err = pub.Connect(ctxT(t), client.WHIP(nil, s.url+"/whip/"+room, token, &loc))
	return pub, loc, err
}

func whepWatch(t *testing.T, s *testServer, room, token string) (*client.Viewer, string, error) {
	t.Helper()
	v, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	var loc string
	err = v.Connect(ctxT(t), client.WHIP(nil, s.url+"/whep/"+room, token, &loc))
	return v, loc, err
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func statusOf(err error) int {
	var he *client.HTTPError
	if errors.As(err, &he) {
		return he.Status
	}
	return 0
}

func TestWHIPToWHEP(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("flow", func(t *testing.T) {
		s := start(t, nil)
		_, loc, err := whipPublish(t, s, "shop1", s.token(t, "shop1", auth.GrantPublish))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(loc, "/whip/shop1/") {
			t.Errorf("Location = %q", loc)
		}
		waitFor(t, 5*time.Second, "room live", func() bool { _, ok := s.SFU().Room("shop1"); return ok })
		v, vloc, err := whepWatch(t, s, "shop1", "")
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "video and audio at the viewer", func() bool {
			st := v.Stats()
			return st.VideoPackets > 30 && st.AudioPackets > 10 && st.FirstKeyframe > 0
		})
		t.Logf("WHEP viewer: first keyframe %s after its offer", v.Stats().FirstKeyframe)

		// /api/rooms and /metrics see the room and the viewer.
		body := get(t, s.url+"/api/rooms", http.StatusOK)
		if !strings.Contains(body, `"room":"shop1"`) || !strings.Contains(body, `"viewers":1`) {
			t.Errorf("/api/rooms = %s", body)
		}
		m := get(t, s.url+"/metrics", http.StatusOK)
		for _, want := range []string{"relaycast_rooms 1", "relaycast_viewers 1", "relaycast_publishers 1"} {
			if !strings.Contains(m, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}

		// The viewer leaves with DELETE, then the publisher ends the broadcast with DELETE.
		if err := client.Delete(ctxT(t), nil, vloc, ""); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "viewer gone", func() bool { return s.SFU().Stats().Viewers == 0 })
		if err := client.Delete(ctxT(t), nil, loc, ""); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "room gone", func() bool { _, ok := s.SFU().Room("shop1"); return !ok })
		if err := client.Delete(ctxT(t), nil, loc, ""); statusOf(err) != http.StatusNotFound {
			t.Errorf("second DELETE: %v, want 404", err)
		}
		m = get(t, s.url+"/metrics", http.StatusOK)
		for _, want := range []string{"relaycast_rooms 0", "relaycast_viewers 0", "relaycast_publishers 0"} {
			if !strings.Contains(m, want) {
				t.Errorf("/metrics after the end lacks %q", want)
			}
		}
	})
	http.DefaultClient.CloseIdleConnections()
	checkGoroutines(t, before)
}

func get(t *testing.T, url string, want int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s = %d (%s), want %d", url, resp.StatusCode, b, want)
	}
	return string(b)
}

func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before+3 {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutine leak: %d before, %d after\n%s", before, n, buf)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestWHIPRefusals(t *testing.T) {
	s := start(t, nil)
	good := s.token(t, "r1", auth.GrantPublish)
	expired, _ := s.Signer().Issue("r1", []auth.Grant{auth.GrantPublish}, -time.Minute, "x")
	forged := good[:len(good)-4] + "AAAA"
	otherRoom := s.token(t, "r2", auth.GrantPublish)
	viewerOnly := s.token(t, "r1", auth.GrantSubscribe)
	for _, tc := range []struct {
		name, room, token string
		want              int
	}{
		{"no token", "r1", "", 401},
		{"expired", "r1", expired, 401},
		{"forged", "r1", forged, 401},
		{"other room", "r1", otherRoom, 401},
		{"subscribe grant", "r1", viewerOnly, 401},
		{"bad room name", "..%2Fetc", good, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := whipPublish(t, s, tc.room, tc.token)
			if got := statusOf(err); got != tc.want {
				t.Errorf("status = %d (%v), want %d", got, err, tc.want)
			}
		})
	}
	t.Run("conflict", func(t *testing.T) {
		if _, _, err := whipPublish(t, s, "r1", good); err != nil {
			t.Fatal(err)
		}
		other, _ := s.Signer().Issue("r1", []auth.Grant{auth.GrantPublish}, time.Hour, "another seller")
		if _, _, err := whipPublish(t, s, "r1", other); statusOf(err) != http.StatusConflict {
			t.Errorf("second publisher: %v, want 409", err)
		}
	})
	t.Run("whep not live", func(t *testing.T) {
		_, _, err := whepWatch(t, s, "nobody-here", "")
		if statusOf(err) != http.StatusNotFound || !strings.Contains(err.Error(), "not live") {
			t.Errorf("got %v, want 404 saying not live", err)
		}
	})
	for _, tc := range []struct {
		name, ctype, body string
		want              int
	}{
		{"garbage sdp", "application/sdp", "this is not sdp", 400},
		{"empty", "application/sdp", "", 400},
		{"wrong type", "text/plain", "v=0", 415},
		{"too big", "application/sdp", strings.Repeat("a", 70<<10), 413},
		{"no usable codec", "application/sdp", h265Offer, 406},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, s.url+"/whip/r9", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.ctype)
			req.Header.Set("Authorization", "Bearer "+s.token(t, "r9", auth.GrantPublish))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want || len(b) == 0 {
				t.Errorf("status = %d body %q, want %d with a reason", resp.StatusCode, b, tc.want)
			}
		})
	}
	t.Run("options", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodOptions, s.url+"/whip/r1", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Accept-Post") != "application/sdp" || resp.Header.Get("Access-Control-Allow-Origin") == "" {
			t.Errorf("OPTIONS = %d %v", resp.StatusCode, resp.Header)
		}
	})
}

func TestConnectionCaps(t *testing.T) {
	s := start(t, func(c *config.Config) { c.MaxConns = 2 })
	if _, _, err := whipPublish(t, s, "cap", s.token(t, "cap", auth.GrantPublish)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "room live", func() bool { _, ok := s.SFU().Room("cap"); return ok })
	if _, _, err := whepWatch(t, s, "cap", ""); err != nil {
		t.Fatal(err)
	}
	_, _, err := whepWatch(t, s, "cap", "")
	var he *client.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable {
		t.Fatalf("third session: %v, want 503", err)
	}
}

func TestViewerAuth(t *testing.T) {
	s := start(t, func(c *config.Config) { c.ViewerAuth = true })
	if _, _, err := whipPublish(t, s, "priv", s.token(t, "priv", auth.GrantPublish)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "room live", func() bool { _, ok := s.SFU().Room("priv"); return ok })
	if _, _, err := whepWatch(t, s, "priv", ""); statusOf(err) != http.StatusUnauthorized {
		t.Errorf("watch without token: %v, want 401", err)
	}
	if _, _, err := whepWatch(t, s, "priv", s.token(t, "priv", auth.GrantSubscribe)); err != nil {
		t.Errorf("watch with subscribe token: %v", err)
	}
}

func TestHealth(t *testing.T) {
	s := start(t, nil)
	get(t, s.url+"/healthz", http.StatusOK)
	get(t, s.url+"/readyz", http.StatusOK)
}

// h265Offer offers only H.265 video, which relaycast does not take.
const h265Offer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 49\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=rtcp-mux\r\n" +
	"a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" +
	"a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n" +
	"a=setup:actpass\r\na=rtpmap:49 H265/90000\r\na=ssrc:1 cname:x\r\n"
