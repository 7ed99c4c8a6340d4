package server_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/relaycast/relaycast/auth"
	"github.com/relaycast/relaycast/config"
	"github.com/relaycast/relaycast/internal/testmedia"
)

// metricValue is the value of an unlabelled metric on the node's /metrics (-1 when absent).
func metricValue(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %q", name, line)
			}
			return f
		}
	}
	return -1
}

// TestLiveHLSOnDemand (--live-hls-start on-demand, the default; real ffmpeg, a VP8 publisher
// over WHIP, so the room's ffmpeg transcodes): a live room nobody asks for over HLS runs no
// ffmpeg; concurrent first requests start exactly one and get a valid LL-HLS playlist; the feed
// stops --live-hls-idle after the last request (ffmpeg gone, the stream removed); the next
// request starts a fresh stream: a new id, later media sequence numbers, no discontinuity.
func TestLiveHLSOnDemand(t *testing.T) {
	v, a := liveClip(t, testmedia.CodecVP8, "320x240", 4*time.Second)
	const idle = 3 * time.Second
	s := start(t, func(c *config.Config) {
		liveHLSConfig("none")(c)
		c.LiveHLSIdle = idle
		c.LiveHLSSegment = 2 * time.Second // the default: the cold start as it is (a 1 s first segment)
	})
	room := liveRoom("hls-demand")
	defer publishLoop(t, s, room, v, a)()
	waitFor(t, 10*time.Second, "the room live", func() bool { _, ok := s.SFU().Room(room); return ok })
	srv, _ := s.LiveHLS()
	time.Sleep(2 * time.Second) // media flows: on demand nothing is made of it
	if kids := ffmpegChildren(t); len(kids) != 0 {
		t.Fatalf("a room nobody watches over HLS runs ffmpeg: %v", kids)
	}
	if _, ok := srv.Stream(room); ok {
		t.Fatal("a room nobody watches over HLS has a live HLS stream")
	}
	if d := metricValue(t, s.url, "relaycast_live_hls_rooms_dormant"); d != 1 {
		t.Fatalf("relaycast_live_hls_rooms_dormant %v, want 1", d)
	}

	// Concurrent first requests of the cold room: each waits, one feed and one ffmpeg start.
	const n = 8
	var wg sync.WaitGroup
	codes := make([]int, n)
	bodies := make([][]byte, n)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], bodies[i], _ = fetch(t, s.url+"/live/"+room+"/index.m3u8", "")
		}()
	}
	wg.Wait()
	t.Logf("%d concurrent first requests of a cold room answered within %v", n, time.Since(t0).Round(time.Millisecond))
	for i := range codes {
		var mv playlist.Multivariant
		if codes[i] != http.StatusOK || mv.Unmarshal(bodies[i]) != nil || len(mv.Variants) == 0 {
			t.Fatalf("first request %d: %d %s", i, codes[i], bodies[i])
		}
	}
	if st := metricValue(t, s.url, "relaycast_live_hls_starts_total"); st != 1 {
		t.Fatalf("relaycast_live_hls_starts_total %v after %d concurrent first requests, want 1", st, n)
	}
	if kids := ffmpegChildren(t); len(kids) != 1 {
		t.Fatalf("%d ffmpeg processes after %d concurrent first requests, want 1: %v", len(kids), n, kids)
	}
	var mv playlist.Multivariant
	_ = mv.Unmarshal(bodies[0])
	m1, _, raw := mediaPlaylist(t, s.url, room, mv.Variants[0].URI)
	if m1.PartInf == nil || m1.ServerControl == nil || !m1.ServerControl.CanBlockReload || m1.Map == nil || m1.PreloadHint == nil || len(m1.Segments) == 0 {
		t.Fatalf("not an LL-HLS playlist:\n%s", raw)
	}
	if strings.Contains(raw, "#EXT-X-DISCONTINUITY\n") {
		t.Fatalf("a discontinuity in a fresh stream:\n%s", raw)
	}
	if m := metricValue(t, s.url, "relaycast_live_hls_rooms"); m != 1 {
		t.Fatalf("relaycast_live_hls_rooms %v, want 1", m)
	}
	m1, _, _ = waitSegments(t, s.url, room, mv.Variants[0].URI, 2, 15*time.Second)
	first1 := m1.Segments[0].URI

	// No request for the idle period: the feed stops.
	last := time.Now()
	waitFor(t, idle+10*time.Second, "the idle stop", func() bool {
		return metricValue(t, s.url, "relaycast_live_hls_idle_stops_total") == 1
	})
	if d := time.Since(last); d < idle-200*time.Millisecond {
		t.Fatalf("stopped %v after the last request, before --live-hls-idle %v", d, idle)
	}
	waitFor(t, 5*time.Second, "no ffmpeg", func() bool { return len(ffmpegChildren(t)) == 0 })
	if _, ok := srv.Stream(room); ok {
		t.Fatal("the stopped room's stream is still served")
	}

	// A request after the stop: a fresh stream (its own id, later MSNs, no discontinuity).
	code, b, _ := fetch(t, s.url+"/live/"+room+"/index.m3u8", "")
	mv = playlist.Multivariant{}
	if code != http.StatusOK || mv.Unmarshal(b) != nil || len(mv.Variants) == 0 {
		t.Fatalf("the request after the idle stop: %d %s", code, b)
	}
	m2, _, raw2 := mediaPlaylist(t, s.url, room, mv.Variants[0].URI)
	if m2.MediaSequence <= m1.MediaSequence+len(m1.Segments)-1 || strings.Contains(raw2, "#EXT-X-DISCONTINUITY\n") ||
		strings.Split(m2.Segments[0].URI, "-")[0] == strings.Split(first1, "-")[0] {
		t.Fatalf("after the restart: MSN %d (before %d+%d), want a fresh stream with later MSNs:\n%s", m2.MediaSequence, m1.MediaSequence, len(m1.Segments), raw2)
	}
	if st := metricValue(t, s.url, "relaycast_live_hls_starts_total"); st != 2 {
		t.Fatalf("relaycast_live_hls_starts_total %v, want 2", st)
	}
	if kids := ffmpegChildren(t); len(kids) != 1 {
		t.Fatalf("%d ffmpeg processes after the restart: %v", len(kids), kids)
	}
}

// TestLiveHLSAlways: --live-hls-start always is the behaviour before on-demand: the room's
// ffmpeg runs from the start, without any request.
func TestLiveHLSAlways(t *testing.T) {
	v, a := liveClip(t, testmedia.CodecVP8, "320x240", 4*time.Second)
	s := start(t, func(c *config.Config) { liveHLSConfig("none")(c); c.LiveHLSStart = config.LiveHLSAlways })
	room := liveRoom("hls-always")
	defer publishLoop(t, s, room, v, a)()
	waitFor(t, 15*time.Second, "the room's ffmpeg without a request", func() bool { return len(ffmpegChildren(t)) == 1 })
	srv, _ := s.LiveHLS()
	if _, ok := srv.Stream(room); !ok {
		t.Fatal("no live HLS stream")
	}
	if d := metricValue(t, s.url, "relaycast_live_hls_rooms_dormant"); d != 0 {
		t.Fatalf("relaycast_live_hls_rooms_dormant %v", d)
	}
}

// TestLiveHLSOnDemandAuth: with --viewer-auth a request without a valid token is refused before
// it can start the room's live HLS; one with a token starts it.
func TestLiveHLSOnDemandAuth(t *testing.T) {
	v, a := liveClip(t, testmedia.CodecH264, "320x240", 4*time.Second)
	s := start(t, func(c *config.Config) { liveHLSConfig("none")(c); c.ViewerAuth = true })
	room := liveRoom("hls-demand-auth")
	defer publishLoop(t, s, room, v, a)()
	waitFor(t, 10*time.Second, "the room live", func() bool { _, ok := s.SFU().Room(room); return ok })
	_, feed := s.LiveHLS()
	for _, tok := range []string{"", s.token(t, "other", auth.GrantSubscribe)} {
		if code, b, _ := fetch(t, s.url+"/live/"+room+"/index.m3u8", tok); code != http.StatusUnauthorized && code != http.StatusForbidden {
			t.Fatalf("without a token of the room: %d %s", code, b)
		}
	}
	if st := feed.Stats(); st.Starts != 0 || len(ffmpegChildren(t)) != 0 {
		t.Fatalf("a refused request started the room's live HLS: %+v", st)
	}
	if code, b, _ := fetch(t, s.url+"/live/"+room+"/index.m3u8", s.token(t, room, auth.GrantSubscribe)); code != http.StatusOK {
		t.Fatalf("with the room's token: %d %s", code, b)
	}
	if st := feed.Stats(); st.Starts != 1 {
		t.Fatalf("after an authorized request: %+v", st)
	}
}
