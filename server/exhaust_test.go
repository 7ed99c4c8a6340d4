package server_test

import (
	"context"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/config"
)

// heapMiB is the live heap after a GC.
func heapMiB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// TestHalfOpenSessions: 1,000 WHEP offers that never do ICE (the client vanishes after the
// offer) each cost the server a session until its connect timeout, then nothing: every session
// is gone, and the goroutines are back, soon after the timeout. Memory per session is logged
// (docs/RELIABILITY.md, "Resource exhaustion").
func TestHalfOpenSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 sessions and a connect timeout")
	}
	s := start(t, func(c *config.Config) { c.Record = false })
	if _, _, err := whipPublish(t, s, "half", s.token(t, "half", auth.GrantPublish)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "room live", func() bool { _, ok := s.SFU().Room("half"); return ok })
	// One offer, sent 1,000 times: its peer connection is closed at once, so no ICE ever answers.
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = pc.SetLocalDescription(offer)
	<-webrtc.GatheringCompletePromise(pc)
	sdp := pc.LocalDescription().SDP
	_ = pc.Close()

	g0, h0 := runtime.NumGoroutine(), heapMiB()
	const n = 1000
	created := 0
	for range n {
		res, err := http.Post(s.url+"/whep/half", "application/sdp", strings.NewReader(sdp))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusCreated {
			created++
		}
	}
	sessions, _ := s.Server.Sessions()
	g1, h1 := runtime.NumGoroutine(), heapMiB()
	t.Logf("%d half-open sessions: %d held, +%d goroutines, +%.1f MiB heap (%.0f KiB each)",
		n, sessions, g1-g0, h1-h0, (h1-h0)*1024/float64(max(created, 1)))
	if created != n {
		t.Fatalf("%d of %d offers answered", created, n)
	}
	start := time.Now()
	waitFor(t, 40*time.Second, "every half-open session ended", func() bool { n, _ := s.Server.Sessions(); return n <= 1 })
	t.Logf("half-open sessions gone %v after the last offer (connect timeout 15 s)", time.Since(start).Round(100*time.Millisecond))
	waitFor(t, 10*time.Second, "goroutines back", func() bool { return runtime.NumGoroutine() < g0+50 })
}

// TestIdleSockets: WebSockets that connect and then say nothing count against --max-conns like
// sessions (default 2,000): the server holds that many (each costs what the log says) and
// refuses the rest at once with 503 — a flood of idle sockets cannot take more — then lets them
// all go when they close.
func TestIdleSockets(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 sockets")
	}
	// RELAYCAST_IDLE_SOCKETS=10000 (ulimit -n ≥ 25000: both ends are in this process) raises
	// --max-conns to that many, as an operator would, and holds that many (docs/RELIABILITY.md).
	limit := config.Default().MaxConns
	if n, err := strconv.Atoi(os.Getenv("RELAYCAST_IDLE_SOCKETS")); err == nil && n > 0 {
		limit = n
	}
	s := start(t, func(c *config.Config) { c.Record, c.MaxConns = false, limit })
	g0, h0 := runtime.NumGoroutine(), heapMiB()
	conns := make([]*websocket.Conn, 0, limit)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	refused := 0
	for range limit + 100 {
		c, res, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(s.url, "http")+"/ws", nil)
		if err != nil {
			if res == nil || res.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("socket %d: %v %v, want 503 past the cap", len(conns), err, res)
			}
			refused++
			continue
		}
		conns = append(conns, c)
	}
	if len(conns) != limit || refused != 100 {
		t.Fatalf("%d sockets held, %d refused; want %d and 100", len(conns), refused, limit)
	}
	waitFor(t, 10*time.Second, "every socket open on the server", func() bool { _, k := s.Server.Sessions(); return k == limit })
	g1, h1 := runtime.NumGoroutine(), heapMiB()
	t.Logf("%d idle sockets: +%d goroutines and +%.1f MiB heap for both ends in this process (%.1f KiB a socket pair); 100 more refused 503",
		limit, g1-g0, h1-h0, (h1-h0)*1024/float64(limit))
	for _, c := range conns {
		_ = c.Close()
	}
	conns = nil
	waitFor(t, 20*time.Second, "every socket gone", func() bool { _, k := s.Server.Sessions(); return k == 0 })
}
